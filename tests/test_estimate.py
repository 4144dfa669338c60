"""The estimate, ``POST /api/bulk-sms/estimate``, and the text facts a send shows.

What a send would do and cost is read where a user reads it: the answer of the
estimate, the answer of a send and ``GET /api/bulk-sms/<id>``, and what the sandbox
(standing in for Plivo) took in. Expected numbers are worked out here, from the
contact file with libphonenumber and from a rates file the test writes, never
copied from the service.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
import requests
from click.testing import CliRunner
from conftest import API_KEY, DATA, numbers
from flask import Flask
from flask.testing import FlaskClient
from phonenumbers import PhoneNumberType
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from bulksms.cli import main
from bulksms.models import Base, Suppression
from bulksms.sandbox import SandboxServer
from bulksms.settings import SettingsError
from bulksms.store import get_store
from bulksms.suppressions import suppress

AUTH = {"X-API-Key": API_KEY}
SEND = "/api/bulk-sms"
ESTIMATE = "/api/bulk-sms/estimate"
ROUTES = pytest.mark.parametrize("route", [SEND, ESTIMATE], ids=["send", "estimate"])

TEXT = "Your table is ready. Reply STOP to opt out."
# 200 GSM-7 characters: over the 160 of one SMS, so two parts of 153.
TWO_SEGMENT_TEXT = "Your table is ready. " * 9 + "Reply STOP."

# Per-segment prices unlike the shipped ones, so that a total priced from
# bulksms/data/rates.csv cannot match. France is listed but has no recipient.
RATES = {
    "1": Decimal("0.0071"),
    "44": Decimal("0.0423"),
    "61": Decimal("0.0517"),
    "33": Decimal("0.0900"),
}

# Two UK numbers in Ofcom's drama range, which libphonenumber types FIXED_LINE,
# and a UK mobile.
UK_LANDLINES = ["+44 20 7946 0123", "+44 20 7946 0456"]
UK_MOBILE = "+44 7400 123456"

# 143 UTF-16 units as written: UCS-2 in 3 parts of 67. With the look-alikes
# replaced it is 145 GSM-7 septets (the ellipsis becomes three dots): one SMS.
LOOK_ALIKE_TEXT = (
    "Doors open at 9 \u2013 we\u2019re saving you a \u201cfront row\u201d seat\u2026 "
    "Show this text at the box office before 8pm to pick up your tickets. "
    "See you there, Sam!"
)
LOOK_ALIKE_TEXT_AS_GSM = (
    'Doors open at 9 - we\'re saving you a "front row" seat... '
    "Show this text at the box office before 8pm to pick up your tickets. "
    "See you there, Sam!"
)


def post(client: FlaskClient, route: str, body: dict[str, Any]) -> TestResponse:
    return client.post(route, json=body, headers=AUTH)


def upload(
    client: FlaskClient, route: str, csv_bytes: bytes, **fields: str
) -> TestResponse:
    """Post a CSV file as ``multipart/form-data``: ``file`` and the other fields."""
    # Encoded here: the test client's own encoder spools a large file to a
    # temporary file that it never closes.
    boundary, body = encode_multipart(
        {
            **fields,
            "file": FileStorage(io.BytesIO(csv_bytes), "contacts.csv", "file"),
        }
    )
    return client.post(
        route,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=AUTH,
    )


def error_of(response: TestResponse) -> dict[str, Any]:
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    return error


def counts(recipients: dict[str, Any]) -> dict[str, int]:
    listed = ("rejected", "rejected_truncated", "landlines")
    return {k: v for k, v in recipients.items() if k not in listed}


def e164(number: str) -> str:
    return phonenumbers.format_number(
        phonenumbers.parse(number, None), phonenumbers.PhoneNumberFormat.E164
    )


def write_rates(path: Path) -> Path:
    lines = ["prefix,price", *(f"{p},{price}" for p, price in RATES.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def stored_rows(app: Flask) -> dict[str, int]:
    """Rows in every table of the service's store."""
    with app.app_context(), get_store().session() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def suppression_list(app: Flask) -> list[tuple[Any, ...]]:
    with app.app_context(), get_store().session() as session:
        rows = session.execute(
            select(
                Suppression.e164,
                Suppression.reason,
                Suppression.source,
                Suppression.since,
            ).order_by(Suppression.e164)
        )
        return [tuple(row) for row in rows]


def segments_sandbox_billed(sandbox: SandboxServer, number: str) -> int:
    """The ``units`` Plivo's Get Message shows for the message sent to ``number``:
    the sandbox counts them from the text it received."""
    uuid = sandbox.outcomes()[number]["message_uuid"]
    auth_id = sandbox.config.auth_id
    response = requests.get(
        f"{sandbox.url}/v1/Account/{auth_id}/Message/{uuid}/",
        auth=(auth_id, sandbox.config.auth_token),
        timeout=10,
    )
    response.raise_for_status()
    return int(response.json()["units"])


# --- the 20k contact export -------------------------------------------------------


@dataclass(frozen=True)
class ContactList:
    """What libphonenumber makes of the export's phone column, read in US."""

    accepted: list[str]
    duplicates: int
    invalid: int
    by_country_code: Counter[int | None]
    fixed_lines: set[str]


@pytest.fixture(scope="module")
def contacts() -> ContactList:
    with (DATA / "contacts-20k.csv").open(encoding="utf-8", newline="") as file:
        inputs = [row["phone"] for row in csv.DictReader(file)]

    accepted: dict[str, phonenumbers.PhoneNumber] = {}
    duplicates = invalid = 0
    for raw in inputs:
        try:
            number = phonenumbers.parse(raw.strip(), "US")
        except phonenumbers.NumberParseException:
            invalid += 1
            continue
        if not phonenumbers.is_valid_number(number):
            invalid += 1
            continue
        formatted = phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.E164
        )
        if formatted in accepted:
            duplicates += 1
        else:
            accepted[formatted] = number

    return ContactList(
        accepted=list(accepted),
        duplicates=duplicates,
        invalid=invalid,
        by_country_code=Counter(n.country_code for n in accepted.values()),
        fixed_lines={
            formatted
            for formatted, number in accepted.items()
            if phonenumbers.number_type(number) == PhoneNumberType.FIXED_LINE
        },
    )


def test_the_contact_export_holds_us_ca_gb_and_au_numbers_by_libphonenumber(
    contacts: ContactList,
) -> None:
    # The premise of the cost tests below, checked without the service.
    assert len(contacts.accepted) == 13_219
    assert contacts.duplicates == 3_061
    assert contacts.invalid == 3_720
    assert contacts.by_country_code == {1: 12_081, 44: 659, 61: 479}


@pytest.mark.parametrize(
    ("message", "segments"), [(TEXT, 1), (TWO_SEGMENT_TEXT, 2)], ids=["1", "2"]
)
def test_estimating_the_20k_export_prices_each_country_from_rates_file(
    make_app: Callable[..., Flask],
    sandbox: SandboxServer,
    contacts: ContactList,
    tmp_path: Path,
    message: str,
    segments: int,
) -> None:
    client = make_app(RATES_FILE=str(write_rates(tmp_path / "rates.csv"))).test_client()
    per_country = contacts.by_country_code
    expected = {
        prefix: RATES[prefix] * per_country[int(prefix)] * segments
        for prefix in ("1", "44", "61")
    }

    response = upload(
        client, ESTIMATE, (DATA / "contacts-20k.csv").read_bytes(), message=message
    )

    assert response.status_code == 200, response.get_json()
    estimate = response.get_json()
    assert counts(estimate["recipients"]) == {
        "received": 20_000,
        "accepted": 13_219,
        "duplicates": 3_061,
        "suppressed": 0,
        "invalid": 3_720,
    }
    assert estimate["message"]["segments"] == segments
    assert estimate["segments"] == {
        "per_recipient": segments,
        "total": 13_219 * segments,
    }
    cost = estimate["cost"]
    assert cost["total"] == str(sum(expected.values()))
    assert cost["total"] == {1: "138.4151", 2: "276.8302"}[segments]
    assert cost["recipients"] == 13_219
    assert cost["segments"] == 13_219 * segments
    assert cost["at_default_rate"] == 0
    assert cost["by_prefix"] == [
        {
            "prefix": prefix,
            "rate": str(RATES[prefix]),
            "recipients": per_country[int(prefix)],
            "segments": per_country[int(prefix)] * segments,
            "amount": str(expected[prefix]),
        }
        for prefix in ("1", "44", "61")
    ]


def test_estimating_the_20k_export_flags_the_fixed_line_numbers_libphonenumber_knows(
    client: FlaskClient, sandbox: SandboxServer, contacts: ContactList
) -> None:
    response = upload(
        client, ESTIMATE, (DATA / "contacts-20k.csv").read_bytes(), message=TEXT
    )

    assert response.status_code == 200
    landlines = response.get_json()["recipients"]["landlines"]
    # The UK numbers, and the Jamaican and St Vincent 555 numbers in +1.
    assert landlines["count"] == len(contacts.fixed_lines) == 716
    assert set(landlines["numbers"]) == contacts.fixed_lines


def test_estimating_the_20k_export_sends_nothing_and_stores_nothing(
    app: Flask, client: FlaskClient, sandbox: SandboxServer
) -> None:
    response = upload(
        client, ESTIMATE, (DATA / "contacts-20k.csv").read_bytes(), message=TEXT
    )

    assert response.status_code == 200
    assert "id" not in response.get_json()
    assert sandbox.destinations() == {}
    assert sandbox.requests() == []
    assert set(stored_rows(app).values()) == {0}
    unknown = client.get(f"{SEND}/cmp_01JF0000000000000000000000", headers=AUTH)
    assert unknown.status_code == 404


def test_an_estimate_counts_a_suppressed_number_and_leaves_the_list_as_it_was(
    app: Flask, client: FlaskClient, sandbox: SandboxServer
) -> None:
    recipients = numbers(3)
    with app.app_context(), get_store().session() as session:
        suppress(session, recipients[1], reason="opted out", source="inbound")
    before = suppression_list(app)

    response = post(client, ESTIMATE, {"recipients": recipients, "message": TEXT})

    assert response.status_code == 200
    estimate = response.get_json()["recipients"]
    assert counts(estimate)["suppressed"] == 1
    assert estimate["rejected"] == [{"input": recipients[1], "reason": "opted out"}]
    assert suppression_list(app) == before
    assert stored_rows(app)["campaigns"] == 0
    assert sandbox.destinations() == {}


@pytest.mark.parametrize("invalid", [1000, 1001])
def test_the_estimate_says_when_its_list_of_rejected_inputs_is_cut_at_1000(
    client: FlaskClient, sandbox: SandboxServer, invalid: int
) -> None:
    entries = [*numbers(1), *(f"nope {n}" for n in range(invalid))]

    response = post(client, ESTIMATE, {"recipients": entries, "message": TEXT})

    recipients = response.get_json()["recipients"]
    assert recipients["invalid"] == invalid
    assert len(recipients["rejected"]) == 1000
    assert recipients["rejected_truncated"] is (invalid > 1000)


def test_the_estimate_uses_the_shipped_rates_without_rates_file(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    body = {"recipients": [*numbers(2), UK_MOBILE], "message": TWO_SEGMENT_TEXT}

    cost = post(client, ESTIMATE, body).get_json()["cost"]

    # bulksms/data/rates.csv: 1 at 0.00650, 44 at 0.04000; two segments each.
    assert cost["total"] == "0.1060"
    assert [(line["prefix"], line["rate"]) for line in cost["by_prefix"]] == [
        ("1", "0.00650"),
        ("44", "0.04000"),
    ]


# --- RATES_FILE at start-up ------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("country,price\n1,0.0065\n", "header must be 'prefix,price'"),
        ("prefix,price\n1,cheap\n", "line 2: price 'cheap'"),
        ("prefix,price\n+44,0.04\n", "line 2: prefix '+44'"),
        ("prefix,price\n1,0.0065\n1,0.0070\n", "line 3: prefix '1' is already"),
        ("prefix,price\n", "no rates"),
    ],
    ids=["header", "price", "prefix", "duplicate", "empty"],
)
def test_a_malformed_rates_file_stops_the_app_at_start_up_naming_rates_file(
    make_app: Callable[..., Flask], tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(SettingsError) as raised:
        make_app(RATES_FILE=str(path))

    assert str(raised.value).startswith("RATES_FILE: ")
    assert problem in str(raised.value)


def test_a_missing_rates_file_stops_the_app_at_start_up_naming_rates_file(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match=r"^RATES_FILE: .*cannot read"):
        make_app(RATES_FILE=str(tmp_path / "missing.csv"))


# --- encoding facts ----------------------------------------------------------------


ENCODING_FACTS = pytest.mark.parametrize(
    ("text", "facts"),
    [
        (
            TEXT,
            {
                "encoding": "GSM-7",
                "characters": 43,
                "units": 43,
                "segments": 1,
                "non_gsm_characters": [],
            },
        ),
        (
            # €, [ and ] are GSM-7 extension characters: two septets each.
            "Total: 5\u20ac [incl. VAT]",
            {
                "encoding": "GSM-7",
                "characters": 21,
                "units": 24,
                "segments": 1,
                "non_gsm_characters": [],
            },
        ),
        (
            # The emoji is outside the BMP: one character, two UTF-16 units.
            "Hi Zo\u00eb \U0001f44b it\u2019s ready",
            {
                "encoding": "UCS-2",
                "characters": 19,
                "units": 20,
                "segments": 1,
                "non_gsm_characters": [
                    {
                        "character": "\u00eb",
                        "name": "LATIN SMALL LETTER E WITH DIAERESIS",
                        "positions": [5],
                    },
                    {
                        "character": "\U0001f44b",
                        "name": "WAVING HAND SIGN",
                        "positions": [7],
                    },
                    {
                        "character": "\u2019",
                        "name": "RIGHT SINGLE QUOTATION MARK",
                        "positions": [11],
                    },
                ],
            },
        ),
        (
            "\u2019" + "a" * 70 + "\u2019",
            {
                "encoding": "UCS-2",
                "characters": 72,
                "units": 72,
                "segments": 2,
                "non_gsm_characters": [
                    {
                        "character": "\u2019",
                        "name": "RIGHT SINGLE QUOTATION MARK",
                        "positions": [0, 71],
                    }
                ],
            },
        ),
    ],
    ids=["gsm7", "gsm7-extension", "ucs2", "ucs2-two-parts"],
)


@ENCODING_FACTS
def test_the_estimate_shows_encoding_units_segments_and_what_forced_ucs2(
    client: FlaskClient, sandbox: SandboxServer, text: str, facts: dict[str, Any]
) -> None:
    response = post(client, ESTIMATE, {"recipients": numbers(2), "message": text})

    assert response.status_code == 200
    estimate = response.get_json()
    assert estimate["message"] == facts
    assert estimate["segments"] == {
        "per_recipient": facts["segments"],
        "total": 2 * facts["segments"],
    }


@ENCODING_FACTS
def test_a_send_and_the_campaign_read_back_show_the_same_encoding_facts(
    client: FlaskClient, sandbox: SandboxServer, text: str, facts: dict[str, Any]
) -> None:
    recipient = numbers(1)[0]

    response = post(client, SEND, {"recipients": [recipient], "message": text})

    assert response.status_code == 202
    campaign = response.get_json()
    assert campaign["message"] == facts
    read_back = client.get(campaign["links"]["self"], headers=AUTH).get_json()
    assert read_back["message"] == facts
    assert segments_sandbox_billed(sandbox, recipient) == facts["segments"]


# --- Plivo's text limits -------------------------------------------------------------


@ROUTES
@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a" * 1600, 11),
        ("\u0436" * 737, 11),
        # 368 emoji are 736 units; a pair never splits, so 33 fit in a part.
        ("\U0001f600" * 368, 12),
    ],
    ids=["1600-gsm7-characters", "737-ucs2-units", "368-emoji"],
)
def test_a_text_at_plivos_limit_is_accepted(
    client: FlaskClient,
    sandbox: SandboxServer,
    route: str,
    text: str,
    segments: int,
) -> None:
    recipient = numbers(1)[0]

    response = post(client, route, {"recipients": [recipient], "message": text})

    assert response.status_code == (202 if route == SEND else 200)
    assert response.get_json()["message"]["segments"] == segments
    if route == SEND:
        assert segments_sandbox_billed(sandbox, recipient) == segments


@ROUTES
@pytest.mark.parametrize(
    ("text", "limit", "count", "words"),
    [
        ("a" * 1601, 1600, 1601, "1,601 GSM-7 characters"),
        ("\u0436" * 738, 737, 738, "738 UCS-2 characters"),
        ("\U0001f600" * 369, 737, 738, "738 UCS-2 characters, counting emoji as two"),
    ],
    ids=["1601-gsm7-characters", "738-ucs2-units", "369-emoji"],
)
def test_a_text_over_plivos_limit_is_422_naming_limit_and_count_and_sends_nothing(
    app: Flask,
    client: FlaskClient,
    sandbox: SandboxServer,
    route: str,
    text: str,
    limit: int,
    count: int,
    words: str,
) -> None:
    response = post(client, route, {"recipients": numbers(3), "message": text})

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "text_too_long"
    assert error["details"] == {"limit": limit, "count": count}
    assert words in error["message"]
    assert f"limit is {limit:,}" in error["message"]
    assert sandbox.requests() == []
    assert stored_rows(app)["campaigns"] == 0


@ROUTES
@pytest.mark.parametrize(
    ("message", "gsm_safe"),
    [
        ("", False),
        (" ", False),
        ("\n\t \u00a0", False),
        # Nothing to read: each is an invisible character that gsm_safe deletes.
        ("\u200b", True),
        ("\ufeff", True),
        (" \u00ad ", True),
    ],
    ids=["empty", "space", "whitespace", "zero-width", "bom", "soft-hyphen"],
)
def test_a_text_with_nothing_to_read_is_400_naming_message_and_sends_nothing(
    app: Flask,
    client: FlaskClient,
    sandbox: SandboxServer,
    route: str,
    message: str,
    gsm_safe: bool,
) -> None:
    body = {"recipients": numbers(1), "message": message, "gsm_safe": gsm_safe}

    response = post(client, route, body)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert "'message'" in error["message"]
    assert sandbox.requests() == []
    assert stored_rows(app)["campaigns"] == 0


# --- gsm_safe ----------------------------------------------------------------------


GSM_SAFE_REPORT = {
    "text": LOOK_ALIKE_TEXT_AS_GSM,
    "replacements": [
        {"original": "\u2013", "name": "EN DASH", "replacement": "-", "count": 1},
        {
            "original": "\u2019",
            "name": "RIGHT SINGLE QUOTATION MARK",
            "replacement": "'",
            "count": 1,
        },
        {
            "original": "\u201c",
            "name": "LEFT DOUBLE QUOTATION MARK",
            "replacement": '"',
            "count": 1,
        },
        {
            "original": "\u201d",
            "name": "RIGHT DOUBLE QUOTATION MARK",
            "replacement": '"',
            "count": 1,
        },
        {
            "original": "\u2026",
            "name": "HORIZONTAL ELLIPSIS",
            "replacement": "...",
            "count": 1,
        },
    ],
    "segments_before": 3,
    "segments_after": 1,
    "segments_saved": 2,
}
GSM_SAFE_FACTS = {
    "encoding": "GSM-7",
    "characters": 145,
    "units": 145,
    "segments": 1,
    "non_gsm_characters": [],
}


def test_gsm_safe_on_the_estimate_reports_the_replacements_and_a_segment_saved(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    body = {"recipients": numbers(4), "message": LOOK_ALIKE_TEXT, "gsm_safe": True}

    estimate = post(client, ESTIMATE, body).get_json()

    assert estimate["gsm_safe"] == GSM_SAFE_REPORT
    assert estimate["message"] == GSM_SAFE_FACTS
    assert estimate["segments"] == {"per_recipient": 1, "total": 4}
    assert estimate["cost"]["segments"] == 4
    assert sandbox.requests() == []


def test_gsm_safe_as_a_form_field_converts_an_uploaded_campaigns_text(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    csv_bytes = ("phone\n" + "\n".join(numbers(2)) + "\n").encode()

    response = upload(
        client, ESTIMATE, csv_bytes, message=LOOK_ALIKE_TEXT, gsm_safe="true"
    )

    assert response.status_code == 200
    assert response.get_json()["gsm_safe"] == GSM_SAFE_REPORT


def test_gsm_safe_on_a_send_sends_the_gsm_7_text_in_fewer_segments(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    recipient = numbers(1)[0]
    body = {"recipients": [recipient], "message": LOOK_ALIKE_TEXT, "gsm_safe": True}

    response = post(client, SEND, body)

    assert response.status_code == 202
    campaign = response.get_json()
    assert campaign["gsm_safe"] == GSM_SAFE_REPORT
    assert campaign["message"] == GSM_SAFE_FACTS
    read_back = client.get(campaign["links"]["self"], headers=AUTH).get_json()
    assert read_back["message"] == GSM_SAFE_FACTS
    # Three segments had the sandbox received the text as written.
    assert segments_sandbox_billed(sandbox, recipient) == 1


def test_without_gsm_safe_the_text_goes_out_as_written_in_ucs2(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    recipient = numbers(1)[0]
    body = {"recipients": [recipient], "message": LOOK_ALIKE_TEXT}

    estimate = post(client, ESTIMATE, body).get_json()
    campaign = post(client, SEND, body).get_json()

    assert estimate["gsm_safe"] is None
    assert campaign.get("gsm_safe") is None
    for facts in (estimate["message"], campaign["message"]):
        assert (facts["encoding"], facts["units"], facts["segments"]) == (
            "UCS-2",
            143,
            3,
        )
        assert [c["character"] for c in facts["non_gsm_characters"]] == [
            "\u2013",
            "\u2019",
            "\u201c",
            "\u201d",
            "\u2026",
        ]
    assert segments_sandbox_billed(sandbox, recipient) == 3


@ROUTES
def test_gsm_safe_never_turns_a_text_plivo_accepts_into_one_over_its_limit(
    client: FlaskClient, sandbox: SandboxServer, route: str
) -> None:
    # 720 UCS-2 units, 11 parts. As GSM-7 the ellipses become 1,620 characters,
    # also 11 parts but over Plivo's 1,600: the text must stay as written.
    text = "\u2026" * 450 + "a" * 270
    recipient = numbers(1)[0]
    body = {"recipients": [recipient], "message": text, "gsm_safe": True}

    response = post(client, route, body)

    assert response.status_code == (202 if route == SEND else 200), response.json
    answer = response.get_json()
    assert answer["gsm_safe"]["replacements"] == []
    assert answer["gsm_safe"]["segments_saved"] == 0
    assert (answer["message"]["encoding"], answer["message"]["segments"]) == (
        "UCS-2",
        11,
    )


# --- landlines -----------------------------------------------------------------------


def test_the_estimate_flags_uk_fixed_lines_but_not_us_numbers(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    us = numbers(3)
    # The premise, from libphonenumber itself: US numbers may be either.
    assert {_type(n) for n in us} == {PhoneNumberType.FIXED_LINE_OR_MOBILE}
    assert {_type(n) for n in UK_LANDLINES} == {PhoneNumberType.FIXED_LINE}
    assert _type(UK_MOBILE) == PhoneNumberType.MOBILE
    body = {"recipients": [*us, *UK_LANDLINES, UK_MOBILE], "message": TEXT}

    recipients = post(client, ESTIMATE, body).get_json()["recipients"]

    # Flagged, still counted as accepted: only exclude_landlines drops them.
    assert recipients["accepted"] == 6
    assert recipients["landlines"] == {
        "count": 2,
        "numbers": ["+442079460123", "+442079460456"],
    }


def test_exclude_landlines_on_the_estimate_prices_only_the_rest(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    body = {
        "recipients": [*numbers(3), *UK_LANDLINES, UK_MOBILE],
        "message": TEXT,
        "exclude_landlines": True,
    }

    estimate = post(client, ESTIMATE, body).get_json()

    recipients = estimate["recipients"]
    assert (recipients["accepted"], recipients["invalid"]) == (4, 2)
    assert recipients["rejected"] == [
        {"input": number, "reason": "a landline number"} for number in UK_LANDLINES
    ]
    assert recipients["landlines"]["count"] == 0
    assert estimate["cost"]["recipients"] == 4


def test_exclude_landlines_on_a_send_drops_them_and_the_sandbox_never_sees_them(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    us = numbers(3)
    body = {
        "recipients": [*us, *UK_LANDLINES, UK_MOBILE],
        "message": TEXT,
        "exclude_landlines": True,
    }

    response = post(client, SEND, body)

    assert response.status_code == 202
    recipients = response.get_json()["recipients"]
    assert (recipients["accepted"], recipients["invalid"]) == (4, 2)
    assert recipients["rejected"] == [
        {"input": number, "reason": "a landline number"} for number in UK_LANDLINES
    ]
    assert set(sandbox.destinations()) == {*us, e164(UK_MOBILE)}


def test_without_exclude_landlines_a_send_goes_to_landlines_too(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    body = {"recipients": [*numbers(1), *UK_LANDLINES], "message": TEXT}

    response = post(client, SEND, body)

    assert response.status_code == 202
    assert {e164(n) for n in UK_LANDLINES} <= set(sandbox.destinations())


def test_exclude_landlines_as_a_form_field_drops_them_from_an_upload(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    csv_bytes = ("phone\n" + "\n".join([*numbers(2), *UK_LANDLINES])).encode()

    response = upload(client, SEND, csv_bytes, message=TEXT, exclude_landlines="true")

    assert response.status_code == 202
    assert set(sandbox.destinations()) == set(numbers(2))


@ROUTES
@pytest.mark.parametrize("field", ["gsm_safe", "exclude_landlines"])
def test_a_form_flag_that_is_neither_true_nor_false_is_400_naming_it(
    client: FlaskClient, sandbox: SandboxServer, route: str, field: str
) -> None:
    csv_bytes = ("phone\n" + "\n".join([*numbers(1), *UK_LANDLINES])).encode()

    # A typo must not quietly send to the landlines the caller meant to drop.
    response = upload(client, route, csv_bytes, message=TEXT, **{field: "ture"})

    assert response.status_code == 400
    assert f"'{field}'" in error_of(response)["message"]
    assert sandbox.requests() == []


def _type(number: str) -> int:
    return phonenumbers.number_type(phonenumbers.parse(number, None))


# --- bulksms segments ----------------------------------------------------------------


def test_the_segments_command_prints_the_facts_and_what_forced_ucs2() -> None:
    result = CliRunner().invoke(
        main, ["segments", "Hi Zo\u00eb \U0001f44b it\u2019s ready"]
    )

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "encoding: UCS-2",
        "characters: 19",
        "units: 20",
        "segments: 1",
        "forces UCS-2: '\u00eb' (LATIN SMALL LETTER E WITH DIAERESIS) at 5",
        "forces UCS-2: '\U0001f44b' (WAVING HAND SIGN) at 7",
        "forces UCS-2: '\u2019' (RIGHT SINGLE QUOTATION MARK) at 11",
    ]


def test_the_segments_command_refuses_an_empty_text_and_flags_one_over_the_limit() -> (
    None
):
    empty = CliRunner().invoke(main, ["segments", "  "])
    too_long = CliRunner().invoke(main, ["segments", "a" * 1601])
    at_limit = CliRunner().invoke(main, ["segments", "a" * 1600])

    assert empty.exit_code == 2
    assert "the text is empty" in empty.output
    assert too_long.exit_code == 1
    assert too_long.output.splitlines()[-1] == (
        "too long: message is 1,601 GSM-7 characters; Plivo's limit is 1,600"
    )
    assert at_limit.exit_code == 0
    assert "segments: 11" in at_limit.output


def test_the_segments_command_counts_a_gsm7_extension_character_as_two_units() -> None:
    result = CliRunner().invoke(main, ["segments", TWO_SEGMENT_TEXT + "\u20ac"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "encoding: GSM-7",
        "characters: 201",
        "units: 202",
        "segments: 2",
    ]
