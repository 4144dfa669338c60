"""The send API, ``POST /api/bulk-sms``, sending over real HTTP to the sandbox.

Every outcome is read where a user would see it: the answer's status and body,
``GET /api/bulk-sms/<id>``, and what the sandbox (standing in for Plivo) took in.
"""

from __future__ import annotations

import codecs
import io
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from conftest import API_KEY, DATA, OLD_API_KEY, SENDER, numbers
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from bulksms.models import Batch, Campaign, Recipient
from bulksms.sandbox import SandboxServer
from bulksms.store import get_store
from bulksms.suppressions import suppress

# CI runs this whole file again on PostgreSQL and Redis.
pytestmark = pytest.mark.scaled

TEXT = "Your table is ready. Reply STOP to opt out."
AUTH = {"X-API-Key": API_KEY}


def send(client: FlaskClient, body: Any, **headers: str) -> TestResponse:
    return client.post("/api/bulk-sms", json=body, headers={**AUTH, **headers})


def send_raw(client: FlaskClient, data: bytes | str, content_type: str) -> TestResponse:
    return client.post(
        "/api/bulk-sms", data=data, content_type=content_type, headers=AUTH
    )


def upload(
    client: FlaskClient,
    csv_text: bytes | str | list[str],
    message: str | list[str] = TEXT,
    **fields: str | list[str],
) -> TestResponse:
    """Post a CSV file as ``multipart/form-data``, fields ``file``, ``message``
    and any others given; a list sends one part of that name per item."""
    contents = csv_text if isinstance(csv_text, list) else [csv_text]
    files = [
        FileStorage(
            io.BytesIO(content.encode() if isinstance(content, str) else content),
            "contacts.csv",
            "file",
        )
        for content in contents
    ]
    # Encoded here: the test client's own encoder spools a large file to a
    # temporary file that it never closes.
    boundary, body = encode_multipart({"message": message, **fields, "file": files})
    return send_raw(client, body, f"multipart/form-data; boundary={boundary}")


def error_of(response: TestResponse) -> dict[str, Any]:
    """The error of an answer, after checking it has the one error shape."""
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] and body["error"]["message"], body
    error: dict[str, Any] = body["error"]
    return error


def counts(campaign: dict[str, Any]) -> dict[str, int]:
    """The recipient counts of a campaign, without the list of rejected inputs."""
    return {
        k: v
        for k, v in campaign["recipients"].items()
        if k not in ("rejected", "rejected_truncated")
    }


def stored_rows(app: Flask) -> dict[str, int]:
    with app.app_context(), get_store().session() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            or 0
            for model in (Campaign, Batch, Recipient)
        }


# --- batching -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "sizes"),
    [
        (999, [999]),
        (1000, [1000]),
        (1001, [1000, 1]),
        (2500, [1000, 1000, 500]),
    ],
    ids=["999", "1000", "1001", "2500"],
)
def test_recipients_go_in_batches_of_at_most_1000_and_each_number_once(
    client: FlaskClient, sandbox: SandboxServer, count: int, sizes: list[int]
) -> None:
    recipients = numbers(count)

    response = send(client, {"recipients": recipients, "message": TEXT})

    assert response.status_code == 202
    campaign = response.get_json()
    batches = campaign["batches"]
    assert [b["index"] for b in batches] == list(range(len(sizes)))
    assert [b["size"] for b in batches] == sizes
    # The sandbox answers 400 to a dst with an empty entry ("<<") or more than
    # 1,000 entries (tests/test_sandbox.py), and records no request sizes; every
    # batch queued whole, one message per recipient, is the proof none was sent.
    for batch in batches:
        assert batch["state"] == "submitted", batch
        assert batch["message_uuids"] == batch["size"]
        assert batch["error"] is None
    destinations = sandbox.destinations()
    assert destinations == dict.fromkeys(recipients, 1)
    assert campaign["recipients"]["accepted"] == count == len(destinations)


def test_one_refused_batch_gives_207_naming_it_while_the_others_are_sent(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    recipients = numbers(2500)
    sandbox.set_faults(fault_destinations=[recipients[1500]])

    response = send(client, {"recipients": recipients, "message": TEXT})

    assert response.status_code == 207
    batches = response.get_json()["batches"]
    refused = [b for b in batches if b["state"] != "submitted"]
    assert [b["index"] for b in refused] == [1]
    # A 400 is a definite refusal: "failed", never "unknown".
    assert refused[0]["state"] == "failed"
    assert refused[0]["error"]["code"] and refused[0]["error"]["message"]
    assert [b["message_uuids"] for b in batches] == [1000, 0, 500]
    sent = recipients[:1000] + recipients[2000:]
    assert sandbox.destinations() == dict.fromkeys(sent, 1)


def test_every_batch_answered_500_gives_502_and_names_each_batch(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    sandbox.set_faults(fault_500=1.0)

    response = send(client, {"recipients": numbers(1500), "message": TEXT})

    assert response.status_code == 502
    batches = response.get_json()["batches"]
    assert [b["state"] for b in batches] == ["unknown", "unknown"]
    for batch in batches:
        assert batch["error"]["code"] and batch["error"]["message"]
    assert sandbox.destinations() == {}


def test_a_campaign_with_nothing_confirmed_sent_is_not_complete(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    sandbox.set_faults(fault_500=1.0)

    campaign = send(client, {"recipients": numbers(10), "message": TEXT}).get_json()

    shown = client.get(campaign["links"]["self"], headers=AUTH).get_json()
    assert campaign["state"] != "complete"
    assert shown["state"] != "complete"


def test_a_batch_throttled_on_every_attempt_ends_failed_and_the_send_502(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    # Five attempts with backoff (8 to 12 s in all) before the batch is given up.
    sandbox.set_faults(fault_429=1.0, retry_after=0.0)

    response = send(client, {"recipients": numbers(5), "message": TEXT})

    assert response.status_code == 502
    [batch] = response.get_json()["batches"]
    assert batch["state"] == "failed"
    assert batch["error"]["code"] == "submission_throttled"
    assert sandbox.destinations() == {}


def test_a_wrong_plivo_auth_token_gives_502_with_every_batch_failed_on_auth(
    make_app: Callable[..., Flask], sandbox: SandboxServer
) -> None:
    client = make_app(PLIVO_AUTH_TOKEN="not-the-sandbox-token").test_client()

    response = send(client, {"recipients": numbers(1500), "message": TEXT})

    assert response.status_code == 502
    campaign = response.get_json()
    assert campaign["state"] == "failed"
    assert [b["state"] for b in campaign["batches"]] == ["failed", "failed"]
    for batch in campaign["batches"]:
        assert "authentication" in batch["error"]["message"].lower()
    assert sandbox.destinations() == {}


# --- the API key and the request id ---------------------------------------------


def test_a_send_without_an_api_key_is_refused_401_and_sends_nothing(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    response = client.post(
        "/api/bulk-sms", json={"recipients": numbers(1), "message": TEXT}
    )

    assert response.status_code == 401
    assert "X-API-Key" in error_of(response)["message"]
    assert sandbox.destinations() == {}


@pytest.mark.parametrize("key", ["wrong-key", API_KEY + "x", API_KEY[:-1], " "])
def test_a_send_with_a_wrong_api_key_is_refused_401_and_sends_nothing(
    client: FlaskClient, sandbox: SandboxServer, key: str
) -> None:
    response = client.post(
        "/api/bulk-sms",
        json={"recipients": numbers(1), "message": TEXT},
        headers={"X-API-Key": key},
    )

    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert sandbox.destinations() == {}


def test_reading_a_campaign_needs_an_api_key_too(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    campaign = send(client, {"recipients": numbers(1), "message": TEXT}).get_json()

    response = client.get(campaign["links"]["self"])

    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


@pytest.mark.parametrize("key", [API_KEY, OLD_API_KEY], ids=["current", "previous"])
def test_each_configured_api_key_is_accepted_during_a_rotation(
    client: FlaskClient, sandbox: SandboxServer, key: str
) -> None:
    response = client.post(
        "/api/bulk-sms",
        json={"recipients": numbers(1), "message": TEXT},
        headers={"X-API-Key": key},
    )

    assert response.status_code == 202
    assert sandbox.destinations() == dict.fromkeys(numbers(1), 1)


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        (
            "POST",
            "/api/bulk-sms",
            AUTH,
            {"recipients": numbers(1), "message": "hi"},
            202,
        ),
        ("POST", "/api/bulk-sms", AUTH, {"recipients": []}, 400),
        ("POST", "/api/bulk-sms", {}, {}, 401),
        ("GET", "/api/bulk-sms/cmp_NOPE", AUTH, None, 404),
        ("POST", "/api/bulk-sms", AUTH, {"recipients": ["x"], "message": "hi"}, 422),
        ("PUT", "/api/bulk-sms", AUTH, None, 405),
    ],
    ids=["202", "400", "401", "404", "422", "405"],
)
def test_every_answer_carries_a_request_id(
    client: FlaskClient,
    sandbox: SandboxServer,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any,
    status: int,
) -> None:
    response = client.open(path, method=method, json=body, headers=headers)

    assert response.status_code == status
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_a_plain_request_id_from_the_caller_is_echoed_and_an_unsafe_one_replaced(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    plain = client.get("/api/bulk-sms/x", headers={**AUTH, "X-Request-ID": "abc-123"})
    unsafe = client.get(
        "/api/bulk-sms/x", headers={**AUTH, "X-Request-ID": "a b\u00e9<script>"}
    )

    assert plain.headers["X-Request-ID"] == "abc-123"
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["X-Request-ID"])


# --- bad input --------------------------------------------------------------------


def valid_body(**changes: Any) -> dict[str, Any]:
    return {"recipients": numbers(3), "message": TEXT, **changes}


def without(name: str) -> dict[str, Any]:
    body = valid_body()
    del body[name]
    return body


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ('{"recipients": ["+12012000000"], "message": ', "body"),
        ("[]", "object"),
        ('"+12012000000"', "object"),
        (without("recipients"), "'recipients'"),
        (valid_body(recipients="+12012000000"), "'recipients'"),
        (valid_body(recipients={"to": "+12012000000"}), "'recipients'"),
        (valid_body(recipients=[]), "'recipients'"),
        (valid_body(recipients=["+12012000000", 12012000001]), "'recipients[1]'"),
        (valid_body(recipients=[None]), "'recipients[0]'"),
        (valid_body(recipients=[["+12012000000"]]), "'recipients[0]'"),
        (without("message"), "'message'"),
        (valid_body(message=""), "'message'"),
        (valid_body(message=" \t\n "), "'message'"),
        (valid_body(message=42), "'message'"),
        (valid_body(default_region="XX"), "'default_region'"),
        (valid_body(default_region="USA"), "'default_region'"),
        (valid_body(default_region=1), "'default_region'"),
        (valid_body(recipent=["+12012000000"]), "recipent"),
        (valid_body(sender=""), "'sender'"),
        (valid_body(gsm_safe="yes"), "'gsm_safe'"),
        ("[" * 50_000 + "]" * 50_000, "body"),
        (valid_body(message="hi \ud83d"), "'message'"),
        (valid_body(recipients=["+12012000000", "\udc00"]), "'recipients[1]'"),
        (valid_body(message="hi\x00there"), "'message'"),
        (valid_body(sender="Acme\x00"), "'sender'"),
        (valid_body(sender="A" * 21), "'sender'"),
        (valid_body(sender="+1 415 555 0100 ext. 12"), "'sender'"),
    ],
    ids=[
        "malformed-json",
        "array",
        "string",
        "recipients-missing",
        "recipients-string",
        "recipients-object",
        "recipients-empty",
        "recipient-number",
        "recipient-null",
        "recipient-list",
        "message-missing",
        "message-empty",
        "message-whitespace",
        "message-number",
        "region-unknown",
        "region-alpha3",
        "region-number",
        "unknown-field",
        "sender-empty",
        "flag-not-bool",
        "deeply-nested-json",
        "message-lone-surrogate",
        "recipient-lone-surrogate",
        "message-nul",
        "sender-nul",
        "sender-too-long",
        "sender-number-too-long",
    ],
)
def test_each_bad_input_is_answered_400_naming_what_is_wrong(
    client: FlaskClient, sandbox: SandboxServer, body: Any, names: str
) -> None:
    raw = body if isinstance(body, str) else json.dumps(body)

    response = send_raw(client, raw, "application/json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert names in error["message"]
    assert sandbox.destinations() == {}


def test_an_unknown_field_is_listed_in_the_details(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    response = send(client, valid_body(recipent=[], schedule="now"))

    assert response.status_code == 400
    assert error_of(response)["details"] == {"fields": ["recipent", "schedule"]}


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (
            '{"recipients": ["+12012000000"], "message": "hi", "message": "bye"}',
            "message",
        ),
        (
            '{"recipients": ["+12012000000"], "message": "hi", '
            '"sender": "Acme", "sender": "Other"}',
            "sender",
        ),
    ],
    ids=["message", "sender"],
)
def test_a_key_repeated_in_the_json_body_is_400_naming_it(
    client: FlaskClient, sandbox: SandboxServer, body: str, key: str
) -> None:
    response = send_raw(client, body, "application/json")

    assert response.status_code == 400
    error = error_of(response)
    assert key in error["message"]
    assert error["details"] == {"fields": [key]}
    assert sandbox.destinations() == {}


@pytest.mark.parametrize("form", ["json", "csv"])
def test_a_body_over_max_request_bytes_is_refused_413_and_sends_nothing(
    make_app: Callable[..., Flask], sandbox: SandboxServer, form: str
) -> None:
    client = make_app(MAX_REQUEST_BYTES="2048").test_client()
    recipients = numbers(200)

    if form == "json":
        response = send(client, {"recipients": recipients, "message": TEXT})
    else:
        response = upload(client, "\n".join(recipients))

    assert response.status_code == 413
    error_of(response)
    assert sandbox.destinations() == {}


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", ""])
def test_a_body_that_is_neither_json_nor_a_form_is_refused_415(
    client: FlaskClient, sandbox: SandboxServer, content_type: str
) -> None:
    response = send_raw(client, "+12012000000\n+12012000001", content_type)

    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"
    assert sandbox.destinations() == {}


def test_a_list_with_nothing_sendable_is_422_listing_each_input_and_stores_nothing(
    app: Flask, client: FlaskClient, sandbox: SandboxServer
) -> None:
    inputs = ["555-1234", "hello", "", "+999 1234", "(415) 555-0100", "415-555-0100"]

    response = send(client, {"recipients": inputs, "message": TEXT})

    assert response.status_code == 422
    details = error_of(response)["details"]
    assert details["received"] == 6
    # The last two are both the sender's own number.
    assert details["invalid"] == 6
    assert details["duplicates"] == 0
    rejected = details["rejected"]
    assert [r["input"] for r in rejected] == inputs
    assert all(r["reason"] for r in rejected)
    assert sandbox.destinations() == {}
    assert stored_rows(app) == {"campaigns": 0, "batches": 0, "recipients": 0}


def test_a_refused_list_leaves_its_idempotency_key_free(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    key = {"Idempotency-Key": "order-42"}

    refused = send(client, {"recipients": ["hello"], "message": TEXT}, **key)
    accepted = send(client, {"recipients": numbers(2), "message": TEXT}, **key)

    assert refused.status_code == 422
    assert accepted.status_code == 202


# Raw JSON bodies, so that escapes JSON allows but Python strings cannot encode
# (a lone surrogate) reach the service as a client would send them.
ODD_BODIES = {
    "huge-recipient": json.dumps(valid_body(recipients=["9" * 1_000_000])),
    "huge-message": json.dumps(valid_body(message="x" * 200_000)),
    "unicode-junk": json.dumps(
        valid_body(
            recipients=["\u202e+1 415 555 0123", "\ufeff", "\u2603", "\U0001f4de"]
        )
    ),
    "control-characters": json.dumps(
        valid_body(recipients=["\x00", "+1415\x00555\x1b0123"])
    ),
    "null-byte-message": json.dumps(valid_body(message="hi\x00there")),
    "nested-lists": json.dumps(valid_body(recipients=[[[["+12012000000"]]]])),
    "recipients-is-a-string": json.dumps(valid_body(recipients="+14155550123")),
    "recipient-objects": json.dumps(valid_body(recipients=[{}, True, 1.5])),
    "message-object": json.dumps(valid_body(message={"text": "hi"})),
    "lone-surrogate-message": '{"recipients": ["+12012000000"], "message": "\\ud83d"}',
    "lone-surrogate-recipient": '{"recipients": ["\\udc00"], "message": "hi"}',
    "lone-surrogate-sender": (
        '{"recipients": ["+12012000000"], "message": "hi", "sender": "\\ud800"}'
    ),
    "lone-surrogate-field": (
        '{"recipients": ["+12012000000"], "message": "hi", "\\ud800": 1}'
    ),
    "deeply-nested": "[" * 50_000 + "]" * 50_000,
    "json-null": "null",
    "json-number": "1e999",
    "region-with-null-byte": json.dumps(valid_body(default_region="U\x00")),
    "not-utf8": b'{"recipients": ["\xff\xfe"], "message": "\xc3"}',
}


@pytest.mark.parametrize("body", ODD_BODIES.values(), ids=ODD_BODIES.keys())
def test_no_input_makes_the_service_fail_with_500(
    client: FlaskClient, sandbox: SandboxServer, body: str | bytes
) -> None:
    response = send_raw(client, body, "application/json")

    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if response.status_code >= 400:
        error_of(response)


@pytest.mark.parametrize("page", ["\u00b2", "9" * 5000, "0", "-1", "1.5", "\u0661", ""])
def test_a_page_that_is_not_a_plain_positive_number_is_400_not_500(
    client: FlaskClient, sandbox: SandboxServer, page: str
) -> None:
    campaign = send(client, {"recipients": numbers(2), "message": TEXT}).get_json()

    response = client.get(
        campaign["links"]["recipients"], query_string={"page": page}, headers=AUTH
    )

    assert response.status_code == 400
    assert "'page'" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("status", "last_page"), [(None, 2), ("suppressed", None)], ids=["rows", "no-rows"]
)
def test_a_page_past_the_last_links_back_to_the_last_page_or_to_none(
    client: FlaskClient,
    sandbox: SandboxServer,
    status: str | None,
    last_page: int | None,
) -> None:
    campaign = send(client, {"recipients": numbers(3), "message": TEXT}).get_json()
    listing = campaign["links"]["recipients"]
    query = {"page": 10**9, "per_page": 2, **({"status": status} if status else {})}

    response = client.get(listing, query_string=query, headers=AUTH)

    assert response.status_code == 200
    page = response.get_json()
    assert page["recipients"] == []
    assert page["links"] == {
        "next": None,
        "prev": f"{listing}?per_page=2&page={last_page}" if last_page else None,
    }


# --- normalisation through the API ----------------------------------------------


def test_the_senders_own_number_in_other_spellings_is_dropped_and_the_rest_sent(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    assert SENDER == "+14155550100"
    others = numbers(3)

    own = ["(415) 555-0100", "+1 415-555-0100"]

    response = send(client, {"recipients": [*others, *own], "message": TEXT})

    assert response.status_code == 202
    recipients = response.get_json()["recipients"]
    assert (recipients["accepted"], recipients["invalid"]) == (3, 2)
    assert recipients["duplicates"] == 0
    assert recipients["rejected"] == [
        {"input": given, "reason": "the sender's own number"} for given in own
    ]
    assert sandbox.destinations() == dict.fromkeys(others, 1)


def test_a_sender_set_in_plivos_digits_only_form_is_still_dropped_from_the_list(
    make_app: Callable[..., Flask], sandbox: SandboxServer
) -> None:
    # Plivo reads "442079460018" as +44 20 7946 0018 whatever DEFAULT_REGION is.
    client = make_app(PLIVO_SENDER_ID="442079460018").test_client()
    others = numbers(2)

    response = send(
        client, {"recipients": [*others, "+44 20 7946 0018"], "message": TEXT}
    )

    assert response.status_code == 202
    assert response.get_json()["recipients"]["rejected"] == [
        {"input": "+44 20 7946 0018", "reason": "the sender's own number"}
    ]
    assert sandbox.destinations() == dict.fromkeys(others, 1)


@pytest.mark.parametrize(
    "sender",
    ["+14155550199", "14155550199", "Acme Shop 1", "A", "12345", "24681357"],
    ids=[
        "e164",
        "digits-only",
        "11-characters",
        "one-letter",
        "short-code",
        "8-digits",
    ],
)
def test_a_number_or_a_sender_id_plivo_takes_is_sent_from(
    client: FlaskClient, sandbox: SandboxServer, sender: str
) -> None:
    response = send(client, valid_body(sender=sender))

    # The sandbox refuses a src Plivo would refuse, so a sent batch proves it.
    assert response.status_code == 202
    assert response.get_json()["sender"] == sender
    assert sandbox.destinations() == dict.fromkeys(numbers(3), 1)


@pytest.mark.parametrize(
    "sender",
    [
        "!!!",
        "Acme Shop 12",
        "A" * 16,
        "Caf\u00e9",
        "123456789",
        "+1 (415) 555-0199",
        "4155550199",
        "+1 (415) 555-0199 00",
    ],
    ids=[
        "symbols",
        "12-characters",
        "16-letters",
        "non-ascii-letter",
        "digits-not-a-number",
        "number-with-spaces",
        "national-number",
        "20-characters",
    ],
)
def test_a_sender_plivo_cannot_send_from_is_400_naming_sender_and_the_rule(
    app: Flask, client: FlaskClient, sandbox: SandboxServer, sender: str
) -> None:
    response = send(client, valid_body(sender=sender))

    assert response.status_code == 400
    error = error_of(response)
    assert "'sender'" in error["message"]
    assert "1 to 11 letters, digits and spaces" in error["message"]
    assert sandbox.destinations() == {}
    assert stored_rows(app) == {"campaigns": 0, "batches": 0, "recipients": 0}


def test_five_spellings_of_one_number_are_one_recipient_and_four_duplicates(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    spellings = [
        "+1 415 555 0123",
        "(415) 555-0123",
        "415.555.0123",
        "tel:+1-415-555-0123",
        "1-415-555-0123",
    ]

    response = send(client, {"recipients": spellings, "message": TEXT})

    assert response.status_code == 202
    assert counts(response.get_json()) == {
        "received": 5,
        "accepted": 1,
        "duplicates": 4,
        "suppressed": 0,
        "invalid": 0,
    }
    assert sandbox.destinations() == {"+14155550123": 1}


def test_numbers_are_normalised_from_every_spelling_libphonenumber_reads(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    spellings = {
        "+1 415 555 0124 ext. 12": "+14155550124",
        "tel:+1-415-555-0125;ext=5": "+14155550125",
        "+44 (0)20 7946 0018": "+442079460018",
        "\uff0b\uff11 \uff14\uff11\uff15 \uff15\uff15\uff15 \uff10\uff11\uff12\uff16": (
            "+14155550126"
        ),
        "+\u0661 \u0664\u0661\u0665 \u0665\u0665\u0665 \u0660\u0661\u0662\u0667": (
            "+14155550127"
        ),
    }

    response = send(client, {"recipients": list(spellings), "message": TEXT})

    assert response.status_code == 202
    assert response.get_json()["recipients"]["accepted"] == 5
    assert sandbox.destinations() == dict.fromkeys(spellings.values(), 1)


def test_each_invalid_input_is_reported_as_given_with_a_reason(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    invalid = {
        "555-1234": "not a valid number for region US",
        "hello": "not a phone number",
        "  ": "empty",
        "+999 1234": "unknown country calling code",
        "+1 415 555 01234567": "too long for region US",
        "12": "too short for region US",
    }

    response = send(client, {"recipients": [*numbers(1), *invalid], "message": TEXT})

    assert response.status_code == 202
    recipients = response.get_json()["recipients"]
    assert recipients["invalid"] == len(invalid)
    assert {r["input"]: r["reason"] for r in recipients["rejected"]} == invalid


def test_default_region_gb_reads_a_national_uk_number(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    body = {"recipients": ["020 7946 0018"], "message": TEXT, "default_region": "GB"}

    response = send(client, body)

    assert response.status_code == 202
    assert sandbox.destinations() == {"+442079460018": 1}


# --- CSV upload -------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_a_csv_exported_as_unicode_text_is_read_whatever_its_encoding_mark(
    client: FlaskClient, sandbox: SandboxServer, encoding: str
) -> None:
    # Spreadsheets export "Unicode text" as UTF-16 with a byte order mark.
    recipients = numbers(2)
    text = "name\tphone\r\n" + "".join(f"Zo\u00eb\t{n}\r\n" for n in recipients)
    content = text.encode(encoding)
    if encoding == "utf-16-be":
        content = codecs.BOM_UTF16_BE + content

    response = upload(client, content)

    assert response.status_code == 202
    assert response.get_json()["recipients"]["accepted"] == 2
    assert sandbox.destinations() == dict.fromkeys(recipients, 1)


def test_a_csv_upload_reads_the_phone_column_among_others(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    rows = [
        "name,Phone,tags",
        "Ada,+1 201 200 0000,vip",
        'Bob,"(201) 200-0001","a,b"',
        "Cy,not a number,",
        "Di,201.200.0000,",
    ]

    response = upload(client, "\n".join(rows))

    assert response.status_code == 202
    assert counts(response.get_json()) == {
        "received": 4,
        "accepted": 2,
        "duplicates": 1,
        "suppressed": 0,
        "invalid": 1,
    }
    assert sandbox.destinations() == dict.fromkeys(numbers(2), 1)


def test_a_csv_header_spelled_phone_number_with_a_space_is_found(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    rows = ["Name,Phone Number", "Ada,+1 201 200 0000", "Bob,+1 201 200 0001"]

    response = upload(client, "\n".join(rows))

    assert response.status_code == 202
    assert counts(response.get_json())["accepted"] == 2
    assert sandbox.destinations() == dict.fromkeys(numbers(2), 1)


@pytest.mark.parametrize(
    "delimiter", [";", "\t", "|"], ids=["semicolon", "tab", "vertical-bar"]
)
@pytest.mark.parametrize(
    "rows",
    [
        # European spreadsheets export with semicolons: a comma is the decimal mark.
        ["name{d}phone{d}score", "Ada{d}+1 201 200 0000{d}1,5", "Bob{d}2012000001{d}2"],
        ["+1 201 200 0000{d}Ada", "(201) 200-0001{d}Bob"],
    ],
    ids=["header", "no-header"],
)
def test_a_csv_separated_by_semicolons_tabs_or_bars_is_read_by_its_columns(
    client: FlaskClient, sandbox: SandboxServer, delimiter: str, rows: list[str]
) -> None:
    csv_text = "\n".join(row.format(d=delimiter) for row in rows)

    response = upload(client, csv_text)

    assert response.status_code == 202
    assert counts(response.get_json())["received"] == 2
    assert sandbox.destinations() == dict.fromkeys(numbers(2), 1)


@pytest.mark.parametrize(
    "rows",
    [
        ["id,cell", "1,+1 201 200 0000", "2,(201) 200-0001"],
        ["Name,TELEPHONE", "Ada,+1 201 200 0000", "Bob,(201) 200-0001"],
        ["name,contact-number", "Ada,+1 201 200 0000", "Bob,(201) 200-0001"],
        ["Tel", "+1 201 200 0000", "(201) 200-0001"],
        [
            "name,home phone,Mobile_Phone",
            "Ada,+1 415 555 0150,+1 201 200 0000",
            "Bob,+1 415 555 0151,(201) 200-0001",
        ],
        [
            "name,phone,cell phone",
            "Ada,+1 415 555 0150,+1 201 200 0000",
            "Bob,+1 415 555 0151,(201) 200-0001",
        ],
        ["name,mobile2", "Ada,+1 201 200 0000", "Bob,(201) 200-0001"],
        [
            "Name,Phone 1 - Type,Phone 1 - Value",
            "Ada,Mobile,+1 201 200 0000",
            "Bob,Mobile,(201) 200-0001",
        ],
    ],
    ids=[
        "cell",
        "telephone",
        "contact-number",
        "tel",
        "mobile-beside-home-phone",
        "cell-beside-phone",
        "numbered-column",
        "google-contacts",
    ],
)
def test_a_csv_phone_column_is_found_by_its_common_names_and_a_mobile_preferred(
    client: FlaskClient, sandbox: SandboxServer, rows: list[str]
) -> None:
    response = upload(client, "\n".join(rows))

    assert response.status_code == 202
    assert counts(response.get_json())["received"] == 2
    assert sandbox.destinations() == dict.fromkeys(numbers(2), 1)


def test_a_csv_header_naming_no_phone_column_is_400_listing_columns_and_names(
    app: Flask, client: FlaskClient, sandbox: SandboxServer
) -> None:
    # A digit or two in a column name does not make the header a row of data.
    rows = [
        "id,name,E-mail 1 - Value",
        "1,Ada,ada@example.com",
        "2,Bob,bob@example.com",
    ]

    response = upload(client, "\n".join(rows))

    assert response.status_code == 400
    error = error_of(response)
    assert "'file'" in error["message"]
    assert "id, name, E-mail 1 - Value" in error["message"]
    assert error["details"]["columns"] == ["id", "name", "E-mail 1 - Value"]
    assert {"phone", "mobile", "cell"} <= set(error["details"]["recognised"])
    assert sandbox.destinations() == {}
    assert stored_rows(app) == {"campaigns": 0, "batches": 0, "recipients": 0}


def test_a_csv_without_a_header_is_read_from_its_first_column(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    rows = ["+1 201 200 0000,Ada", "(201) 200-0001,Bob", "", "+1 201 200 0002"]

    response = upload(client, "\r\n".join(rows))

    assert response.status_code == 202
    assert counts(response.get_json())["received"] == 3
    assert sandbox.destinations() == dict.fromkeys(numbers(3), 1)


def test_a_csv_upload_without_a_file_or_a_message_is_400_naming_it(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    boundary, body = encode_multipart({"message": TEXT})
    no_file = send_raw(client, body, f"multipart/form-data; boundary={boundary}")
    no_message = upload(client, "+1 201 200 0000", message="")

    assert no_file.status_code == 400
    assert "file" in error_of(no_file)["message"]
    assert no_message.status_code == 400
    assert "'message'" in error_of(no_message)["message"]
    assert sandbox.destinations() == {}


@pytest.mark.parametrize(
    ("rows", "line"),
    [
        (["phone", "+1 201 200 0000", '"+1 201 200 0001', "+1 201 200 0002"], 3),
        (["name,phone", 'Ada,"+1 201 200 0000"x', "Bob,+1 201 200 0001"], 2),
        (['"phone', "+1 201 200 0000"], 1),
        (["name;phone", 'Ada;"+1 201 200 0000"x', "Bob;+1 201 200 0001"], 2),
        (["name\tphone", "Ada\t+1 201 200 0000", 'Bob\t"+1 201 200 0001'], 3),
    ],
    ids=[
        "quote-never-closed",
        "text-after-closing-quote",
        "header-quote-never-closed",
        "text-after-closing-quote-semicolons",
        "quote-never-closed-tabs",
    ],
)
def test_a_csv_with_a_stray_quote_is_400_naming_its_line_and_stores_nothing(
    app: Flask, client: FlaskClient, sandbox: SandboxServer, rows: list[str], line: int
) -> None:
    response = upload(client, "\n".join(rows))

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert f"line {line}" in error["message"]
    assert "quote" in error["message"]
    assert error["details"] == {"line": line}
    assert sandbox.destinations() == {}
    assert stored_rows(app) == {"campaigns": 0, "batches": 0, "recipients": 0}


def test_a_form_feed_or_line_separator_inside_a_csv_row_does_not_split_it(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    # Contact exports carry such characters in names; only CR and LF end a row.
    rows = ["name,phone", "Ada\x0c,+1 201 200 0000", "Bob\u2028Smith,+1 201 200 0001"]

    response = upload(client, "\r\n".join(rows))

    assert response.status_code == 202
    assert counts(response.get_json()) == {
        "received": 2,
        "accepted": 2,
        "duplicates": 0,
        "suppressed": 0,
        "invalid": 0,
    }
    assert sandbox.destinations() == dict.fromkeys(numbers(2), 1)


@pytest.mark.parametrize(
    ("csv_text", "fields", "name"),
    [
        ("+1 201 200 0000", {"message": "hi\x00there"}, "'message'"),
        ("+1 201 200 0000", {"sender": "Acme\x00"}, "'sender'"),
        ("+1 201 200 0000", {"sender": "A" * 21}, "'sender'"),
        ("+1 201 200 0000", {"sender": "!!!"}, "'sender'"),
        ("+1 201 200 0000", {"schedule": "now"}, "schedule"),
        ("+1 201 200 0000", {"message": [TEXT, "Second text"]}, "message"),
        ("+1 201 200 0000", {"recipients": "+1 201 200 0001"}, "recipients"),
        (["+1 201 200 0000", "+1 201 200 0001"], {}, "file"),
    ],
    ids=[
        "message-nul",
        "sender-nul",
        "sender-too-long",
        "sender-symbols",
        "unknown-field",
        "message-twice",
        "recipients-beside-file",
        "file-twice",
    ],
)
def test_a_bad_unknown_or_repeated_field_in_a_csv_upload_is_400_naming_it(
    app: Flask,
    client: FlaskClient,
    sandbox: SandboxServer,
    csv_text: str | list[str],
    fields: dict[str, str | list[str]],
    name: str,
) -> None:
    response = upload(client, csv_text, **fields)

    assert response.status_code == 400
    assert name in error_of(response)["message"]
    assert sandbox.destinations() == {}
    assert stored_rows(app) == {"campaigns": 0, "batches": 0, "recipients": 0}


@pytest.mark.parametrize("form", ["json", "csv"])
def test_a_nul_in_a_recipient_makes_that_entry_invalid_and_the_rest_are_sent(
    client: FlaskClient, sandbox: SandboxServer, form: str
) -> None:
    # PostgreSQL cannot store a NUL in text: the entry is kept as given with
    # U+FFFD in its place, which the PostgreSQL pass of this test proves.
    others = numbers(2)
    entries = [*others, "+1 201 200 0002\x00", "\x00"]
    shown = ["+1 201 200 0002\ufffd", "\ufffd"]

    if form == "json":
        response = send(client, {"recipients": entries, "message": TEXT})
    else:
        response = upload(client, "\n".join(["phone", *entries]))

    assert response.status_code == 202
    sent = response.get_json()
    assert sent["recipients"]["rejected"] == [
        {"input": given, "reason": "holds a NUL character"} for given in shown
    ]
    listed = client.get(
        f"/api/bulk-sms/{sent['id']}/recipients?status=invalid", headers=AUTH
    ).get_json()
    assert [r["input"] for r in listed["recipients"]] == shown
    assert sandbox.destinations() == dict.fromkeys(others, 1)


def test_a_list_of_nothing_but_nul_entries_is_422_listing_each_not_500(
    app: Flask, client: FlaskClient, sandbox: SandboxServer
) -> None:
    response = send(
        client, {"recipients": ["\x00", "+1415\x00555\x1b0123"], "message": TEXT}
    )

    assert response.status_code == 422
    assert error_of(response)["details"]["rejected"] == [
        {"input": "\ufffd", "reason": "holds a NUL character"},
        {"input": "+1415\ufffd555\x1b0123", "reason": "holds a NUL character"},
    ]
    assert stored_rows(app) == {"campaigns": 0, "batches": 0, "recipients": 0}


def test_reading_a_campaign_back_shows_the_counts_of_the_send(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    csv_text = "\n".join(["phone", *numbers(1200), "nope", numbers(1)[0]])
    sent = upload(client, csv_text).get_json()

    response = client.get(f"/api/bulk-sms/{sent['id']}", headers=AUTH)

    assert response.status_code == 200
    shown = response.get_json()
    assert shown["id"] == sent["id"]
    assert shown["recipients"] == sent["recipients"]
    assert counts(shown) == {
        "received": 1202,
        "accepted": 1200,
        "duplicates": 1,
        "suppressed": 0,
        "invalid": 1,
    }
    assert [(b["size"], b["state"]) for b in shown["batches"]] == [
        (1000, "submitted"),
        (200, "submitted"),
    ]


@pytest.mark.parametrize("invalid", [999, 1000], ids=["1000-rejected", "1001-rejected"])
def test_a_campaign_says_when_its_rejected_list_is_cut_and_links_to_all_of_it(
    app: Flask, client: FlaskClient, sandbox: SandboxServer, invalid: int
) -> None:
    opted_out = numbers(2)[1]
    with app.app_context(), get_store().session() as session:
        suppress(session, opted_out, reason="opted out", source="inbound")
    entries = [*numbers(2), *(f"nope {n}" for n in range(invalid))]

    sent = send(client, {"recipients": entries, "message": TEXT}).get_json()

    recipients = sent["recipients"]
    assert len(recipients["rejected"]) == 1000
    assert recipients["rejected_truncated"] is (invalid + 1 > 1000)
    listed = client.get(sent["links"]["rejected"], headers=AUTH).get_json()
    assert listed["total"] == invalid + 1
    assert {r["bucket"] for r in listed["recipients"]} == {"invalid", "suppressed"}


def test_an_unknown_campaign_id_is_404_json(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    response = client.get("/api/bulk-sms/cmp_01JF000000000000000000000", headers=AUTH)

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


# --- idempotency --------------------------------------------------------------------


def test_the_same_idempotency_key_and_body_return_one_campaign_sent_once(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    body = {"recipients": numbers(1500), "message": TEXT}

    first = send(client, body, **{"Idempotency-Key": "launch-1"})
    again = send(client, body, **{"Idempotency-Key": "launch-1"})

    assert first.status_code == again.status_code == 202
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert sandbox.destinations() == dict.fromkeys(body["recipients"], 1)


@pytest.mark.parametrize(
    ("states", "status"),
    [
        (("sending", "pending"), 202),
        (("submitted", "sending"), 202),
        (("failed", "pending"), 207),
        (("unknown", "failed"), 502),
    ],
)
def test_a_replayed_request_for_a_queued_campaign_answers_by_its_batches_so_far(
    make_app: Callable[..., Flask],
    sandbox: SandboxServer,
    states: tuple[str, str],
    status: int,
) -> None:
    app = make_app(BULK_SYNC_LIMIT="1000")
    client = app.test_client()
    body = {"recipients": numbers(1500), "message": TEXT}
    key = {"Idempotency-Key": "launch-3"}
    campaign_id = send(client, body, **key).get_json()["id"]
    with app.app_context(), get_store().session() as session:
        batches = session.scalars(
            select(Batch).where(Batch.campaign_id == campaign_id).order_by(Batch.id)
        ).all()
        for batch, state in zip(batches, states, strict=True):
            batch.state = state

    again = send(client, body, **key)

    assert again.status_code == status
    assert again.get_json()["id"] == campaign_id
    assert sandbox.destinations() == {}


def test_the_same_idempotency_key_with_another_body_is_409_and_sends_nothing_more(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    key = {"Idempotency-Key": "launch-2"}
    send(client, {"recipients": numbers(2), "message": TEXT}, **key)

    response = send(client, {"recipients": numbers(2, start=2), "message": TEXT}, **key)

    assert response.status_code == 409
    assert error_of(response)["code"] == "conflict"
    assert sandbox.destinations() == dict.fromkeys(numbers(2), 1)


# --- the 20k contact export -------------------------------------------------------


def test_a_list_over_bulk_sync_limit_is_queued_and_nothing_sent_in_the_request(
    make_app: Callable[..., Flask], sandbox: SandboxServer
) -> None:
    client = make_app(BULK_SYNC_LIMIT="1000").test_client()

    response = send(client, {"recipients": numbers(1500), "message": TEXT})

    assert response.status_code == 202
    campaign = response.get_json()
    assert campaign["state"] == "queued"
    assert [(b["size"], b["state"]) for b in campaign["batches"]] == [
        (1000, "pending"),
        (500, "pending"),
    ]
    assert sandbox.destinations() == {}


@pytest.mark.slow
def test_the_20k_contact_export_is_sent_once_to_each_valid_distinct_number(
    make_app: Callable[..., Flask], sandbox: SandboxServer
) -> None:
    # Sent inside the request, so the answer shows every batch's outcome; the
    # queued path is the same dispatch code, run by the worker.
    client = make_app(BULK_SYNC_LIMIT="20000").test_client()

    response = upload(client, (DATA / "contacts-20k.csv").read_bytes())

    assert response.status_code == 202
    campaign = response.get_json()
    assert counts(campaign) == {
        "received": 20_000,
        "accepted": 13_219,
        "duplicates": 3_061,
        "suppressed": 0,
        "invalid": 3_720,
    }
    batches = campaign["batches"]
    assert len(batches) == 14
    assert {b["state"] for b in batches} == {"submitted"}
    assert sum(b["message_uuids"] for b in batches) == 13_219
    destinations = sandbox.destinations()
    assert len(destinations) == 13_219
    assert set(destinations.values()) == {1}


# --- gsm_safe -----------------------------------------------------------------------


def test_gsm_safe_sends_a_text_with_curly_quotes_as_gsm_7(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    body = {"recipients": numbers(1), "message": "Don\u2019t miss it", "gsm_safe": True}

    response = send(client, body)

    assert response.status_code == 202
    assert response.get_json()["message"]["encoding"] == "GSM-7"


# --- logs ---------------------------------------------------------------------------


def test_logs_never_hold_a_full_phone_number(
    client: FlaskClient, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    recipients = numbers(1500)
    sandbox.set_faults(fault_destinations=[recipients[1200]])
    caplog.set_level(logging.INFO)

    campaign = send(
        client,
        {"recipients": [*recipients, "555-1234", "(415) 555-0100"], "message": TEXT},
    ).get_json()
    client.get(campaign["links"]["self"], headers=AUTH)
    send(client, {"recipients": ["+1 201 200 0000 x"], "message": TEXT})

    # The sandbox stands in for Plivo; its logs are not the service's.
    logged = "\n".join(
        caplog.handler.format(record)
        for record in caplog.records
        if not record.name.startswith("bulksms.sandbox")
    )
    assert "campaign" in logged
    for number in [*recipients, SENDER]:
        # E.164, as Plivo writes it (no "+") and the national number.
        for spelling in (number, number[1:], number[2:]):
            assert spelling not in logged
