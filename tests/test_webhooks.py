"""Plivo's callbacks: signed delivery reports and inbound messages.

Every callback here is signed the way Plivo signs it, by the sandbox's own signer
(proven against the SDK's validators in tests/test_sandbox.py), and posted over
HTTP: through Flask's test client, or by the sandbox itself to the service on a
real port. Outcomes are read where a user reads them: the answer, the campaign
(``GET /api/bulk-sms/<id>``), its recipients, and what the sandbox was sent.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from conftest import API_KEY, DATA, OLD_API_KEY, SENDER, LiveService, numbers
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from bulksms.demo import run_demo
from bulksms.models import Campaign, DeliveryEvent, Recipient
from bulksms.rates import DEFAULT_RATES_FILE
from bulksms.sandbox import SandboxConfig, SandboxServer
from bulksms.sandbox.config import DEFAULT_AUTH_TOKEN
from bulksms.sandbox.signing import new_nonce, sign_v2, sign_v3, signature_headers
from bulksms.store import get_store

TEXT = "Your table is ready. Reply STOP to opt out."
AUTH = {"X-API-Key": API_KEY}
REPORT_PATH = "/api/webhooks/plivo/delivery-report"
INBOUND_PATH = "/api/webhooks/plivo/inbound"
PUBLIC_URL = "https://sms.example.com"
# Plivo's own deadline: a callback without a 2xx answer within it is retried.
PLIVO_CALLBACK_TIMEOUT = 8.0
# A report delay that keeps the sandbox's own reports back for the whole test;
# the sandbox fixture drops them when the test ends.
HELD_BACK = 600.0

V3 = ("X-Plivo-Signature-V3", "X-Plivo-Signature-V3-Nonce")
MA_V3 = ("X-Plivo-Signature-Ma-V3", "X-Plivo-Signature-V3-Nonce")
V2 = ("X-Plivo-Signature-V2", "X-Plivo-Signature-V2-Nonce")
MA_V2 = ("X-Plivo-Signature-Ma-V2", "X-Plivo-Signature-V2-Nonce")

# The fields of a status callback as Plivo posts them; each test fills in the
# message, the status and the sequence.
PLIVO_REPORT = {
    "From": SENDER.removeprefix("+"),
    "Units": "1",
    "TotalRate": "0.00650",
    "TotalAmount": "0.00650",
    "MCC": "310",
    "MNC": "260",
    "PartInfo": "1 of 1",
    "MessageTime": "2026-12-03 10:00:00+00:00",
    "QueuedTime": "2026-12-03 10:00:00+00:00",
    "SentTime": "2026-12-03 10:00:01+00:00",
    "DeliveryReportTime": "",
    "PowerpackUUID": "",
    "Type": "sms",
}


# --- helpers --------------------------------------------------------------------


@dataclass
class Plivo:
    """Posts callbacks through a test client, signed as Plivo signs them: for the
    public URL (``API_BASE_URL`` + path + query) with every signature header."""

    client: FlaskClient
    public_url: str
    token: str = DEFAULT_AUTH_TOKEN

    def post(
        self,
        path: str,
        fields: Mapping[str, str],
        *,
        signed_for: str | None = None,
        keep: tuple[str, ...] | None = None,
    ) -> TestResponse:
        url = self.public_url + path if signed_for is None else signed_for
        headers = signature_headers(url, "POST", fields, self.token, self.token)
        if keep is not None:
            headers = {name: headers[name] for name in keep}
        return self.client.post(path, data=dict(fields), headers=headers)

    def report(self, fields: Mapping[str, str], batch: int | None) -> TestResponse:
        return self.post(report_path(batch), fields)

    def inbound(self, number: str, text: str, intent: str = "") -> TestResponse:
        fields = {
            "From": number.removeprefix("+"),
            "To": SENDER.removeprefix("+"),
            "Text": text,
            "Type": "sms",
            "MessageUUID": str(uuid.uuid4()),
            "MessageIntent": intent,
        }
        return self.post(INBOUND_PATH, fields)


@dataclass(frozen=True)
class Sent:
    """A campaign the sandbox accepted in one batch, and what its reports name."""

    id: str
    batch: int
    uuids: dict[str, str]

    def report(
        self, number: str, status: str, sequence: int, **fields: str
    ) -> dict[str, str]:
        """A status callback for ``number`` as Plivo would post it."""
        return {
            **PLIVO_REPORT,
            "MessageUUID": self.uuids[number],
            "ParentMessageUUID": self.uuids[number],
            "To": number.removeprefix("+"),
            "Status": status,
            "Sequence": str(sequence),
            **fields,
        }


def report_path(batch: int | None) -> str:
    """The callback path as the service gives it to Plivo: with its batch."""
    return REPORT_PATH if batch is None else f"{REPORT_PATH}?batch={batch}"


def send_campaign(
    app: Flask, client: FlaskClient, sandbox: SandboxServer, recipients: list[str]
) -> Sent:
    response = client.post(
        "/api/bulk-sms", json={"recipients": recipients, "message": TEXT}, headers=AUTH
    )
    assert response.status_code == 202, response.get_json()
    campaign_id = response.get_json()["id"]
    outcomes = sandbox.outcomes()
    accepted = [n for n in recipients if n in outcomes]
    return Sent(
        campaign_id,
        batch_of(app, campaign_id),
        {n: outcomes[n]["message_uuid"] for n in accepted},
    )


def batch_of(app: Flask, campaign_id: str) -> int:
    """The id of a one-batch campaign's batch: it is in the callback URL."""
    with app.app_context(), get_store().session() as session:
        batches = set(
            session.scalars(
                select(Recipient.batch_id).where(
                    Recipient.campaign_id == campaign_id,
                    Recipient.batch_id.is_not(None),
                )
            )
        )
    (batch,) = batches
    assert batch is not None
    return batch


def stored_reports(app: Flask, message_uuid: str | None = None) -> int:
    """How many delivery reports the store kept, of one message or of all."""
    query = select(func.count()).select_from(DeliveryEvent)
    if message_uuid is not None:
        query = query.where(DeliveryEvent.message_uuid == message_uuid)
    with app.app_context(), get_store().session() as session:
        return session.scalar(query) or 0


def campaign_of(
    client: FlaskClient, campaign_id: str, key: str = API_KEY
) -> dict[str, Any]:
    response = client.get(f"/api/bulk-sms/{campaign_id}", headers={"X-API-Key": key})
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def recipients_of(client: FlaskClient, campaign_id: str) -> dict[str, dict[str, Any]]:
    """Every recipient of a small campaign by its number, as the API lists them."""
    response = client.get(
        f"/api/bulk-sms/{campaign_id}/recipients?per_page=1000", headers=AUTH
    )
    assert response.status_code == 200, response.get_json()
    return {r["input"]: r for r in response.get_json()["recipients"]}


def statuses(campaign: dict[str, Any]) -> dict[str, int]:
    """The campaign's delivery statuses that have any recipient."""
    return {status: n for status, n in campaign["statuses"].items() if n}


def account_problems(campaign: dict[str, Any]) -> list[str]:
    """The sums of a campaign's account that do not hold."""
    counts = campaign["recipients"]
    problems = []
    intake = sum(counts[k] for k in ("invalid", "duplicates", "suppressed"))
    if counts["received"] != intake + counts["accepted"]:
        problems.append("received != invalid + duplicates + suppressed + accepted")
    if counts["accepted"] != sum(campaign["submission"].values()):
        problems.append("accepted != sum(submission)")
    if campaign["submission"]["submitted"] != sum(campaign["statuses"].values()):
        problems.append("submitted != sum(statuses)")
    return problems


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting after {timeout:.0f} s until {what}")
        time.sleep(0.05)


def reports_settled(sandbox: SandboxServer) -> Callable[[], bool]:
    """True once the sandbox has posted every report and none was refused."""
    return lambda: sandbox.report_stats()["pending"] == 0


def live_recipients(service: LiveService, campaign_id: str) -> list[dict[str, Any]]:
    """Every recipient of a campaign, page by page, as a user would fetch them."""
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        response = requests.get(
            f"{service.url}/api/bulk-sms/{campaign_id}/recipients",
            params={"page": page, "per_page": 1000},
            headers=AUTH,
            timeout=30,
        )
        response.raise_for_status()
        body = response.json()
        found += body["recipients"]
        if page >= body["pages"]:
            return found
        page += 1


def expected_outcomes(sandbox: SandboxServer) -> dict[str, tuple[str, str | None]]:
    """The final status and error code the sandbox decided for each number."""
    return {
        number: (
            outcome["status"],
            None if outcome["error_code"] is None else str(outcome["error_code"]),
        )
        for number, outcome in sandbox.outcomes().items()
    }


@pytest.fixture
def sandbox(sandbox: SandboxServer) -> Iterator[SandboxServer]:
    """The shared sandbox; settings that its own reset leaves as they were, and
    that tests here change, are put back too."""
    changed_here = ("outcomes", "slow_seconds")
    before = {name: getattr(sandbox.config, name) for name in changed_here}
    yield sandbox
    sandbox.set_faults(**before)


def plivo_for(app: Flask, client: FlaskClient | None = None) -> Plivo:
    """Plivo calling ``app`` at the public URL it was configured with."""
    public_url = app.config["BULKSMS_SETTINGS"].api_base_url
    return Plivo(client or app.test_client(), public_url)


@pytest.fixture
def plivo(app: Flask, client: FlaskClient) -> Plivo:
    return plivo_for(app, client)


# --- signatures -----------------------------------------------------------------


@pytest.mark.parametrize(
    "forged",
    [
        {"Status": "delivered"},
        {"To": "14155550199"},
        {"ErrorCode": "200"},
        {"Units": "0", "TotalAmount": "0.00000"},
    ],
    ids=["status", "to", "added-error-code", "cost"],
)
def test_report_with_a_field_changed_after_signing_is_refused_and_stores_nothing(
    app: Flask,
    client: FlaskClient,
    plivo: Plivo,
    sandbox: SandboxServer,
    forged: dict[str, str],
) -> None:
    number = numbers(1)[0]
    sent = send_campaign(app, client, sandbox, [number])
    fields = sent.report(number, "sent", 2)
    url = plivo.public_url + report_path(sent.batch)
    headers = signature_headers(url, "POST", fields, plivo.token, plivo.token)

    response = client.post(
        report_path(sent.batch), data={**fields, **forged}, headers=headers
    )

    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "invalid_signature"
    recipient = recipients_of(client, sent.id)[number]
    assert (recipient["status"], recipient["message_uuid"]) == ("awaiting_report", None)
    assert statuses(campaign_of(client, sent.id)) == {"awaiting_report": 1}
    assert stored_reports(app) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Plivo-Signature-V3": "c2lnbmF0dXJl"},
        {"X-Plivo-Signature-V3-Nonce": "12345678901234567890"},
        {"X-Plivo-Signature-V2": "c2lnbmF0dXJl"},
        {"X-Plivo-Signature-V3": "", "X-Plivo-Signature-V3-Nonce": ""},
    ],
    ids=["none", "signature-only", "nonce-only", "v2-signature-only", "empty"],
)
def test_report_without_a_complete_signature_is_a_bad_request(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    fields = {**PLIVO_REPORT, "MessageUUID": str(uuid.uuid4()), "Status": "sent"}

    response = client.post(REPORT_PATH, data=fields, headers=headers)

    assert response.status_code == 400
    assert "signature" in response.get_json()["error"]["message"]
    assert stored_reports(app) == 0


def test_validator_that_raises_on_a_non_ascii_query_means_refused_not_a_crash(
    app: Flask,
    client: FlaskClient,
    plivo: Plivo,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = f"{REPORT_PATH}?batch=1&note=été"
    fields = {**PLIVO_REPORT, "MessageUUID": str(uuid.uuid4()), "Status": "sent"}
    nonce = new_nonce()
    headers = {
        "X-Plivo-Signature-V3": sign_v3(
            "POST", plivo.public_url + path, fields, nonce, plivo.token
        ),
        "X-Plivo-Signature-V3-Nonce": nonce,
    }

    with caplog.at_level(logging.WARNING, logger="bulksms.gateway"):
        response = client.post(path, data=fields, headers=headers)

    assert response.status_code == 403
    # The SDK's validator raised, and that was taken as a mismatch.
    assert "validator raised" in caplog.text
    assert stored_reports(app) == 0


@pytest.mark.parametrize(
    ("api_base_url", "posted_to", "signed_for", "status"),
    [
        (PUBLIC_URL, "{path}?batch={batch}", "{base}{path}?batch={batch}", 200),
        (
            PUBLIC_URL,
            "{path}?batch={batch}",
            "http://localhost{path}?batch={batch}",
            403,
        ),
        (
            f"{PUBLIC_URL}:8443",
            "{path}?batch={batch}",
            "{base}{path}?batch={batch}",
            200,
        ),
        (
            f"{PUBLIC_URL}:8443",
            "{path}?batch={batch}",
            f"{PUBLIC_URL}{{path}}?batch={{batch}}",
            403,
        ),
        (PUBLIC_URL, "{path}/?batch={batch}", "{base}{path}/?batch={batch}", 200),
        (PUBLIC_URL, "{path}/?batch={batch}", "{base}{path}?batch={batch}", 403),
        (PUBLIC_URL, "{path}?batch={batch}", "{base}{path}", 403),
        (PUBLIC_URL, "{path}?batch={batch}", "{base}{path}?batch=999", 403),
    ],
    ids=[
        "public-https-behind-proxy",
        "internal-http-url",
        "port-kept",
        "port-dropped",
        "trailing-slash",
        "slash-not-signed",
        "query-not-signed",
        "other-batch-signed",
    ],
)
def test_signature_must_cover_the_exact_public_url_plivo_called(
    make_app: Callable[..., Flask],
    sandbox: SandboxServer,
    api_base_url: str,
    posted_to: str,
    signed_for: str,
    status: int,
) -> None:
    sandbox.set_faults(report_delay=HELD_BACK)
    app = make_app(API_BASE_URL=api_base_url)
    client = app.test_client()
    number = numbers(1)[0]
    sent = send_campaign(app, client, sandbox, [number])
    names = {"base": api_base_url, "path": REPORT_PATH, "batch": sent.batch}
    plivo = Plivo(client, api_base_url)

    # The test client calls http://localhost, as a TLS-terminating proxy would.
    response = plivo.post(
        posted_to.format(**names),
        sent.report(number, "delivered", 3),
        signed_for=signed_for.format(**names),
    )

    assert response.status_code == status, response.get_json()
    expected = "delivered" if status == 200 else "awaiting_report"
    assert recipients_of(client, sent.id)[number]["status"] == expected


@pytest.mark.parametrize(
    "family",
    [V3, MA_V3, V2, MA_V2, (*V3, *V2)],
    ids=["v3", "ma-v3", "v2", "ma-v2", "both"],
)
def test_either_signature_family_and_the_main_account_variants_are_accepted(
    app: Flask,
    client: FlaskClient,
    plivo: Plivo,
    sandbox: SandboxServer,
    family: tuple[str, ...],
) -> None:
    number = numbers(1)[0]
    sent = send_campaign(app, client, sandbox, [number])

    response = plivo.post(
        report_path(sent.batch), sent.report(number, "delivered", 3), keep=family
    )

    assert response.status_code == 200
    assert recipients_of(client, sent.id)[number]["status"] == "delivered"


def test_v2_signature_headers_reused_with_another_body_are_refused(
    app: Flask, client: FlaskClient, plivo: Plivo, sandbox: SandboxServer
) -> None:
    # A V2 signature covers the URL and nonce only: without binding the nonce to
    # its first request, one captured callback would vouch for any other body.
    number = numbers(1)[0]
    sent = send_campaign(app, client, sandbox, [number])
    path = report_path(sent.batch)
    nonce = new_nonce()
    headers = {
        "X-Plivo-Signature-V2": sign_v2(
            plivo.public_url + path, nonce, DEFAULT_AUTH_TOKEN
        ),
        "X-Plivo-Signature-V2-Nonce": nonce,
    }
    sent_report = sent.report(number, "sent", 2)

    first = client.post(path, data=sent_report, headers=headers)
    retried = client.post(path, data=sent_report, headers=headers)
    forged = client.post(
        path, data=sent.report(number, "failed", 3, ErrorCode="30"), headers=headers
    )

    assert (first.status_code, retried.status_code) == (200, 200)
    assert forged.status_code == 403
    assert "already used" in forged.get_json()["error"]["message"]
    assert recipients_of(client, sent.id)[number]["status"] == "sent"
    assert stored_reports(app) == 1


@pytest.mark.parametrize(
    ("header", "nonce_header", "sign"),
    [
        (
            "X-Plivo-Signature-V3",
            "X-Plivo-Signature-V3-Nonce",
            lambda url, fields, nonce: sign_v3(
                "POST", url, fields, nonce, DEFAULT_AUTH_TOKEN
            ),
        ),
        (
            "X-Plivo-Signature-V2",
            "X-Plivo-Signature-V2-Nonce",
            lambda url, fields, nonce: sign_v2(url, nonce, DEFAULT_AUTH_TOKEN),
        ),
    ],
    ids=["v3", "v2"],
)
@pytest.mark.parametrize(
    ("arrangement", "status"),
    [("{bad},{good}", 200), ("{good}, {bad}", 200), ("{bad},{bad}", 403)],
    ids=["match-last", "match-first-with-space", "no-match"],
)
def test_a_header_with_several_signatures_is_accepted_when_one_matches(
    app: Flask,
    client: FlaskClient,
    plivo: Plivo,
    sandbox: SandboxServer,
    header: str,
    nonce_header: str,
    sign: Callable[[str, Mapping[str, str], str], str],
    arrangement: str,
    status: int,
) -> None:
    number = numbers(1)[0]
    sent = send_campaign(app, client, sandbox, [number])
    fields = sent.report(number, "delivered", 3)
    path = report_path(sent.batch)
    nonce = new_nonce()
    good = sign(plivo.public_url + path, fields, nonce)
    bad = sign(plivo.public_url + path, fields, new_nonce())

    response = client.post(
        path,
        data=fields,
        headers={header: arrangement.format(good=good, bad=bad), nonce_header: nonce},
    )

    assert response.status_code == status
    expected = "delivered" if status == 200 else "awaiting_report"
    assert recipients_of(client, sent.id)[number]["status"] == expected


def test_report_sent_as_get_is_accepted_when_signed_over_its_query(
    app: Flask, client: FlaskClient, plivo: Plivo, sandbox: SandboxServer
) -> None:
    number = numbers(1)[0]
    sent = send_campaign(app, client, sandbox, [number])
    fields = sent.report(number, "delivered", 3)
    url = plivo.public_url + report_path(sent.batch)
    headers = signature_headers(url, "GET", fields, plivo.token, plivo.token)

    response = client.get(
        REPORT_PATH,
        query_string={"batch": str(sent.batch), **fields},
        headers=headers,
    )

    assert response.status_code == 200
    assert recipients_of(client, sent.id)[number]["status"] == "delivered"


# --- delivery statuses ----------------------------------------------------------


@pytest.mark.parametrize(
    ("arrivals", "status", "error_code"),
    [
        ([("sent", 2), ("delivered", 3), ("sent", 2)], "delivered", None),
        ([("delivered", 3), ("queued", 1), ("sent", 2)], "delivered", None),
        ([("sent", 2), ("queued", 1)], "sent", None),
        ([("queued", 1), ("sent", 2)], "sent", None),
        ([("undelivered", 3, "30"), ("sent", 2), ("queued", 1)], "undelivered", "30"),
        ([("failed", 2, "420"), ("queued", 1)], "failed", "420"),
        ([("rejected", 2, "450")], "rejected", "450"),
    ],
    ids=[
        "late-sent-after-delivered",
        "delivered-first-then-the-rest",
        "queued-after-sent-ignored",
        "in-order",
        "undelivered-keeps-its-error-code",
        "failed-keeps-its-error-code",
        "rejected",
    ],
)
def test_a_status_only_moves_forward_whatever_order_reports_arrive_in(
    app: Flask,
    client: FlaskClient,
    plivo: Plivo,
    sandbox: SandboxServer,
    arrivals: list[tuple[str, ...]],
    status: str,
    error_code: str | None,
) -> None:
    number = numbers(1)[0]
    sent = send_campaign(app, client, sandbox, [number])

    for plivo_status, sequence, *error in arrivals:
        extra = {"ErrorCode": error[0]} if error else {}
        fields = sent.report(number, plivo_status, int(sequence), **extra)
        assert plivo.report(fields, sent.batch).status_code == 200

    recipient = recipients_of(client, sent.id)[number]
    assert (recipient["status"], recipient["error_code"]) == (status, error_code)
    assert recipient["message_uuid"] == sent.uuids[number]
    assert statuses(campaign_of(client, sent.id)) == {status: 1}


@pytest.mark.parametrize(
    "arrival_order", [(3, 4), (4, 3)], ids=["in-order", "reversed"]
)
def test_reports_of_equal_rank_are_ordered_by_plivo_s_sequence_not_by_arrival(
    app: Flask,
    client: FlaskClient,
    plivo: Plivo,
    sandbox: SandboxServer,
    arrival_order: tuple[int, int],
) -> None:
    # Plivo generated "undelivered" (3) and then, on a late receipt from the
    # carrier, "delivered" (4): the later one is the message's status.
    number = numbers(1)[0]
    sent = send_campaign(app, client, sandbox, [number])
    generated = {
        3: sent.report(number, "undelivered", 3, ErrorCode="20"),
        4: sent.report(number, "delivered", 4),
    }

    for sequence in arrival_order:
        assert plivo.report(generated[sequence], sent.batch).status_code == 200

    recipient = recipients_of(client, sent.id)[number]
    assert (recipient["status"], recipient["error_code"]) == ("delivered", None)


def test_a_sent_report_of_a_lower_sequence_than_the_one_applied_is_stale(
    app: Flask, client: FlaskClient, plivo: Plivo, sandbox: SandboxServer
) -> None:
    number = numbers(1)[0]
    sent = send_campaign(app, client, sandbox, [number])

    first = plivo.report(sent.report(number, "sent", 3), sent.batch)
    earlier = plivo.report(sent.report(number, "sent", 2), sent.batch)

    assert first.get_json() == {"status": "applied"}
    assert earlier.get_json() == {"status": "stale"}
    assert recipients_of(client, sent.id)[number]["status"] == "sent"


def test_units_and_amounts_of_reports_add_up_to_the_campaign_cost_once_each(
    app: Flask, client: FlaskClient, plivo: Plivo, sandbox: SandboxServer
) -> None:
    recipients = numbers(3)
    sent = send_campaign(app, client, sandbox, recipients)
    cost = {"Units": "2", "TotalRate": "0.00650", "TotalAmount": "0.01300"}
    assert campaign_of(client, sent.id)["cost"] == {"amount": "0.0000", "units": 0}

    for number in recipients:
        # Plivo repeats the cost on every report of a message; it counts once.
        for status, sequence in (("queued", 1), ("sent", 2), ("delivered", 3)):
            fields = sent.report(number, status, sequence, **cost)
            assert plivo.report(fields, sent.batch).status_code == 200
        plivo.report(sent.report(number, "delivered", 3, **cost), sent.batch)

    campaign = campaign_of(client, sent.id)
    assert campaign["cost"] == {"amount": "0.0390", "units": 6}
    listed = recipients_of(client, sent.id)
    assert {(r["units"], r["amount"]) for r in listed.values()} == {(2, "0.01300")}


@pytest.mark.scaled
def test_the_same_report_five_times_is_stored_once_and_each_answered_200(
    app: Flask, client: FlaskClient, plivo: Plivo, sandbox: SandboxServer
) -> None:
    recipients = numbers(2)
    sent = send_campaign(app, client, sandbox, recipients)
    fields = sent.report(recipients[0], "delivered", 3)

    answers = [plivo.report(fields, sent.batch) for _ in range(5)]

    assert [a.status_code for a in answers] == [200] * 5
    assert [a.get_json()["status"] for a in answers] == ["applied"] + ["duplicate"] * 4
    campaign = campaign_of(client, sent.id)
    assert statuses(campaign) == {"delivered": 1, "awaiting_report": 1}
    assert stored_reports(app, sent.uuids[recipients[0]]) == 1
    assert stored_reports(app) == 1


@pytest.mark.scaled
@pytest.mark.parametrize("wrong_to", ["14155559999", ""], ids=["other-to", "no-to"])
def test_a_report_that_matched_no_recipient_does_not_swallow_the_one_that_does(
    app: Flask, client: FlaskClient, plivo: Plivo, sandbox: SandboxServer, wrong_to: str
) -> None:
    number = numbers(1)[0]
    sent = send_campaign(app, client, sandbox, [number])
    right = sent.report(number, "delivered", 3)

    first = plivo.report({**right, "To": wrong_to}, sent.batch)
    second = plivo.report(right, sent.batch)
    again = plivo.report({**right, "To": wrong_to}, sent.batch)

    assert first.get_json() == {"status": "unmatched"}
    assert second.get_json() == {"status": "applied"}
    assert again.get_json() == {"status": "duplicate"}
    assert recipients_of(client, sent.id)[number]["status"] == "delivered"
    assert stored_reports(app, sent.uuids[number]) == 2


@pytest.mark.scaled
def test_a_report_whose_uuid_belongs_to_another_recipient_matches_no_one(
    app: Flask, client: FlaskClient, plivo: Plivo, sandbox: SandboxServer
) -> None:
    first, second = numbers(2)
    sent = send_campaign(app, client, sandbox, [first, second])
    crossed = {**sent.report(first, "delivered", 3), "To": second.removeprefix("+")}

    answers = [
        plivo.report(sent.report(first, "sent", 2), sent.batch),
        plivo.report(crossed, sent.batch),
        plivo.report(sent.report(second, "failed", 3), sent.batch),
    ]

    assert [a.get_json()["status"] for a in answers] == [
        "applied",
        "unmatched",
        "applied",
    ]
    rows = recipients_of(client, sent.id)
    assert (rows[first]["status"], rows[first]["message_uuid"]) == (
        "sent",
        sent.uuids[first],
    )
    assert (rows[second]["status"], rows[second]["message_uuid"]) == (
        "failed",
        sent.uuids[second],
    )


@pytest.mark.parametrize(
    "batch",
    [None, 1, 2**70],
    ids=["no-batch", "batch-in-url", "batch-beyond-any-id"],
)
def test_report_for_an_unknown_message_is_answered_200_and_kept(
    app: Flask, plivo: Plivo, batch: int | None
) -> None:
    message_uuid = str(uuid.uuid4())
    fields = {
        **PLIVO_REPORT,
        "MessageUUID": message_uuid,
        "To": "14155550123",
        "Status": "delivered",
        "Sequence": "3",
    }

    response = plivo.report(fields, batch)

    assert response.status_code == 200
    assert response.get_json() == {"status": "unmatched"}
    assert stored_reports(app, message_uuid) == 1


def test_report_with_a_status_word_we_do_not_know_is_kept_and_changes_nothing(
    app: Flask, client: FlaskClient, plivo: Plivo, sandbox: SandboxServer
) -> None:
    number = numbers(1)[0]
    sent = send_campaign(app, client, sandbox, [number])

    response = plivo.report(sent.report(number, "read", 4), sent.batch)

    assert response.status_code == 200
    assert response.get_json() == {"status": "unknown_status"}
    assert recipients_of(client, sent.id)[number]["status"] == "awaiting_report"
    assert stored_reports(app, sent.uuids[number]) == 1


# Each field at the most its column holds, and one past it. The limits are
# PostgreSQL's; SQLite would store anything.
AT_COLUMN_LIMITS = {
    "MessageUUID": "u" * 64,
    "Status": "s" * 20,
    "To": "1" * 20,
    "ErrorCode": "9" * 16,
    "Sequence": str(2**31 - 1),
}


@pytest.mark.scaled
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("MessageUUID", "u" * 65),
        ("Status", "s" * 21),
        ("To", "1" * 21),
        ("ErrorCode", "9" * 17),
        ("MessageUUID", str(uuid.uuid4()) + "\x00"),
        ("Status", "deliv\x00ered"),
        ("To", "1415555\x000123"),
        ("ErrorCode", "30\x00"),
    ],
    ids=[
        "uuid-65",
        "status-21",
        "to-21",
        "error-code-17",
        "uuid-nul",
        "status-nul",
        "to-nul",
        "error-code-nul",
    ],
)
def test_report_with_a_field_its_column_cannot_hold_is_400_naming_it_stores_nothing(
    app: Flask, plivo: Plivo, field: str, value: str
) -> None:
    fields = {**PLIVO_REPORT, **AT_COLUMN_LIMITS, field: value}

    response = plivo.report(fields, None)

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request"
    assert field in error["message"]
    assert stored_reports(app) == 0


@pytest.mark.scaled
def test_report_with_every_field_at_its_column_limit_is_kept(
    app: Flask, plivo: Plivo
) -> None:
    fields = {**PLIVO_REPORT, **AT_COLUMN_LIMITS}

    response = plivo.report(fields, None)

    assert response.status_code == 200
    assert response.get_json() == {"status": "unmatched"}
    assert stored_reports(app, AT_COLUMN_LIMITS["MessageUUID"]) == 1


@pytest.mark.scaled
@pytest.mark.parametrize(
    "absurd",
    [
        {"Units": str(2**31), "TotalAmount": "1E+7"},
        {"Units": str(2**31 - 1), "TotalAmount": "-0.0065"},
        {"Units": "-5", "TotalAmount": "NaN"},
        {"Units": "1e400", "TotalAmount": "-Infinity", "Sequence": "nan"},
        {"Sequence": "-5", "Units": "", "TotalAmount": ""},
        {"Units": "", "TotalAmount": "1e30"},
    ],
    ids=[
        "too-large",
        "int32-max-negative",
        "negative-nan",
        "exponents",
        "sequence",
        "huge-amount",
    ],
)
def test_a_report_s_absurd_numbers_are_dropped_and_its_status_still_applied(
    app: Flask,
    client: FlaskClient,
    plivo: Plivo,
    sandbox: SandboxServer,
    absurd: dict[str, str],
) -> None:
    number = numbers(1)[0]
    sent = send_campaign(app, client, sandbox, [number])
    report = {**sent.report(number, "delivered", 3), **absurd}

    response = plivo.report(report, sent.batch)

    assert response.status_code == 200
    assert response.get_json() == {"status": "applied"}
    campaign = campaign_of(client, sent.id)
    assert statuses(campaign) == {"delivered": 1}
    assert campaign["cost"] == {"amount": "0.0000", "units": 0}


@pytest.mark.parametrize(
    ("batch_in_url", "plivo_timeout"),
    [(False, "10"), (True, "10"), (True, "1")],
    ids=["uuid-only", "batch", "batch-then-read-timeout"],
)
@pytest.mark.scaled
def test_report_that_arrives_before_its_batch_is_answered_is_applied(
    make_app: Callable[..., Flask],
    sandbox: SandboxServer,
    batch_in_url: bool,
    plivo_timeout: str,
) -> None:
    # The sandbox queues the message, then holds its answer back: the report
    # arrives while the batch is still sending and its UUIDs are not recorded.
    # Waiting 1 s, the service gives up on the answer, and a read timeout is
    # ambiguous; the report has already shown that Plivo took the batch.
    sandbox.set_faults(fault_slow=1.0, slow_seconds=2.0)
    app = make_app(PLIVO_TIMEOUT=plivo_timeout)
    number = numbers(1)[0]
    answers: list[TestResponse] = []
    sending = threading.Thread(
        target=lambda: answers.append(
            app.test_client().post(
                "/api/bulk-sms",
                json={"recipients": [number], "message": TEXT},
                headers=AUTH,
            )
        )
    )
    sending.start()
    try:
        wait_until(lambda: number in sandbox.outcomes(), 10, "the sandbox queues it")
        with app.app_context(), get_store().session() as session:
            campaign_id, batch = session.execute(
                select(Recipient.campaign_id, Recipient.batch_id)
            ).one()
        fields = {
            **PLIVO_REPORT,
            "MessageUUID": sandbox.outcomes()[number]["message_uuid"],
            "To": number.removeprefix("+"),
            "Status": "delivered",
            "Sequence": "3",
        }
        plivo = plivo_for(app)

        early = plivo.report(fields, batch if batch_in_url else None)

        assert sending.is_alive(), "the batch was answered before the report came"
    finally:
        sending.join()

    assert early.status_code == 200
    # With its batch in the URL a report is tied to its recipient at once;
    # without, it waits for the batch's UUIDs.
    assert early.get_json() == {"status": "applied" if batch_in_url else "unmatched"}
    assert answers[0].status_code == 202
    campaign = campaign_of(app.test_client(), campaign_id)
    assert campaign["state"] == "complete"
    assert statuses(campaign) == {"delivered": 1}
    assert campaign["submission"]["submitted"] == 1
    recipient = recipients_of(app.test_client(), campaign_id)[number]
    assert recipient["message_uuid"] == fields["MessageUUID"]


def test_recipients_that_never_get_a_report_end_as_no_report_and_yield_to_a_final(
    make_app: Callable[..., Flask], sandbox: SandboxServer
) -> None:
    app = make_app(REPORT_TIMEOUT="0.3")
    client = app.test_client()
    plivo = plivo_for(app, client)
    first, second, third = recipients = numbers(3)
    sent = send_campaign(app, client, sandbox, recipients)
    plivo.report(sent.report(third, "sent", 2), sent.batch)
    assert campaign_of(client, sent.id)["state"] == "submitted"

    time.sleep(0.5)
    expired = campaign_of(client, sent.id)
    plivo.report(sent.report(first, "delivered", 3), sent.batch)
    plivo.report(sent.report(second, "sent", 2), sent.batch)

    assert expired["state"] == "complete"
    assert statuses(expired) == {"no_report": 3}
    # A late final report is better news; a late "sent" is not.
    listed = recipients_of(client, sent.id)
    assert [listed[n]["status"] for n in recipients] == [
        "delivered",
        "no_report",
        "no_report",
    ]


# --- the sandbox posting reports over real HTTP ---------------------------------


@pytest.mark.scaled
def test_shuffled_and_repeated_reports_end_each_recipient_where_plivo_decided(
    live_service: LiveService, sandbox: SandboxServer
) -> None:
    sandbox.set_faults(
        report_shuffle=True,
        report_duplicate_share=0.3,
        outcomes={
            "delivered": 0.6,
            "undelivered": 0.15,
            "failed": 0.1,
            "rejected": 0.05,
            "sent": 0.1,
        },
    )
    recipients = numbers(1000)

    response = live_service.send({"recipients": recipients, "message": TEXT})

    assert response.status_code == 202, response.json()
    wait_until(reports_settled(sandbox), 180, "the sandbox has posted every report")
    listed = live_recipients(live_service, response.json()["id"])
    final = {r["e164"]: (r["status"], r["error_code"]) for r in listed}
    assert final == expected_outcomes(sandbox)
    assert len(final) == 1000
    # The sandbox repeated reports; each distinct one was stored once.
    distinct = sum(
        2 if outcome["status"] in ("failed", "rejected", "sent") else 3
        for outcome in sandbox.outcomes().values()
    )
    assert sandbox.report_stats()["posted"] > distinct
    assert stored_reports(live_service.app) == distinct


@pytest.mark.scaled
def test_campaign_account_adds_up_on_every_poll_while_reports_stream_in(
    make_live_service: Callable[..., LiveService], sandbox: SandboxServer
) -> None:
    sandbox.set_faults(
        outcomes={"delivered": 0.8, "undelivered": 0.1, "failed": 0.1},
        report_statuses=("sent",),
        report_delay=0.5,
        latency=0.3,
    )
    recipients = [*numbers(1100), "not a number", numbers(1)[0], "+1 415 555"]

    # Polled far faster than a person would: the send API's limit is lifted.
    service = make_live_service(SEND_CONCURRENCY="1", SEND_RATE_LIMIT="1000/second")
    with ThreadPoolExecutor(max_workers=1) as sending:
        answer = sending.submit(
            service.send, {"recipients": recipients, "message": TEXT}
        )
        wait_until(lambda: campaign_ids(service.app) != [], 30, "intake is stored")
        (campaign_id,) = campaign_ids(service.app)
        polls = polls_until_complete(service, campaign_id, timeout=120)
    assert answer.result().status_code == 202

    for poll in polls:
        assert account_problems(poll) == [], poll
    counts = polls[-1]["recipients"]
    assert (counts["received"], counts["accepted"]) == (1103, 1100)
    assert (counts["invalid"], counts["duplicates"]) == (2, 1)
    assert sum(polls[-1]["statuses"].values()) == 1100
    # The polls saw the campaign part-way: sending, and part-reported.
    seen = {poll["state"] for poll in polls}
    assert {"sending", "submitted", "complete"} <= seen
    assert any(
        0 < poll["statuses"]["delivered"] < polls[-1]["statuses"]["delivered"]
        for poll in polls
    )


def polls_until_complete(
    service: LiveService, campaign_id: str, *, timeout: float
) -> list[dict[str, Any]]:
    """Every answer of ``GET /api/bulk-sms/<id>``, polled until it is complete."""
    polls: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not polls or polls[-1]["state"] != "complete":
        if time.monotonic() > deadline:
            pytest.fail(f"not complete after {timeout:.0f} s: {polls[-1]}")
        polls.append(service.campaign(campaign_id))
        time.sleep(0.05)
    return polls


def campaign_ids(app: Flask) -> list[str]:
    with app.app_context(), get_store().session() as session:
        return list(session.scalars(select(Campaign.id)))


def test_with_a_short_report_timeout_recipients_left_at_sent_end_as_no_report(
    make_live_service: Callable[..., LiveService], sandbox: SandboxServer
) -> None:
    sandbox.set_faults(outcomes={"sent": 1.0})
    recipients = numbers(50)
    service = make_live_service(REPORT_TIMEOUT="3", SEND_RATE_LIMIT="1000/second")

    response = service.send({"recipients": recipients, "message": TEXT})

    assert response.status_code == 202
    campaign_id = response.json()["id"]
    wait_until(reports_settled(sandbox), 30, "the sandbox has posted every report")
    polls = polls_until_complete(service, campaign_id, timeout=30)

    assert statuses(polls[0]) == {"sent": 50}
    assert polls[0]["state"] == "submitted"
    assert statuses(polls[-1]) == {"no_report": 50}
    assert all(account_problems(poll) == [] for poll in polls)


# --- inbound messages and the suppression list ---------------------------------


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("STOP", ""),
        ("stop", ""),
        ("  Stop \n", ""),
        ("please take me off your list", "optout"),
        ("ARRÊT", "optout"),
    ],
    ids=["upper", "lower", "padded", "plivo-intent", "plivo-intent-non-ascii"],
)
def test_an_opt_out_suppresses_the_number_in_the_next_campaign(
    app: Flask,
    client: FlaskClient,
    plivo: Plivo,
    sandbox: SandboxServer,
    text: str,
    intent: str,
) -> None:
    opted_out, other = numbers(2)

    answer = plivo.inbound(opted_out, text, intent)
    response = client.post(
        "/api/bulk-sms",
        json={"recipients": [opted_out, other], "message": TEXT},
        headers=AUTH,
    )

    assert answer.status_code == 200
    assert answer.get_json() == {"intent": "optout"}
    assert response.status_code == 202
    counts = response.get_json()["recipients"]
    assert (counts["suppressed"], counts["accepted"]) == (1, 1)
    listed = recipients_of(client, response.get_json()["id"])
    assert listed[opted_out]["bucket"] == "suppressed"
    assert sandbox.destinations() == {other: 1}


@pytest.mark.parametrize("text", ["stop by later", "Stop it, that is hilarious"])
def test_a_message_that_only_contains_stop_is_not_an_opt_out(
    client: FlaskClient, plivo: Plivo, sandbox: SandboxServer, text: str
) -> None:
    number = numbers(1)[0]

    answer = plivo.inbound(number, text)
    response = client.post(
        "/api/bulk-sms", json={"recipients": [number], "message": TEXT}, headers=AUTH
    )

    assert answer.get_json() == {"intent": None}
    assert response.status_code == 202
    assert sandbox.destinations() == {number: 1}


@pytest.mark.scaled
def test_start_after_stop_lets_the_number_be_sent_to_again(
    client: FlaskClient, plivo: Plivo, sandbox: SandboxServer
) -> None:
    number, other = numbers(2)
    body = {"recipients": [number, other], "message": TEXT}

    plivo.inbound(number, "STOP")
    suppressed = client.post("/api/bulk-sms", json=body, headers=AUTH)
    answer = plivo.inbound(number, "Start")
    sent_again = client.post("/api/bulk-sms", json=body, headers=AUTH)

    assert answer.get_json() == {"intent": "optin"}
    assert suppressed.get_json()["recipients"]["suppressed"] == 1
    assert sent_again.get_json()["recipients"]["suppressed"] == 0
    assert sandbox.destinations() == {number: 1, other: 2}


def test_inbound_message_with_a_forged_text_is_refused_and_suppresses_nothing(
    client: FlaskClient, plivo: Plivo, sandbox: SandboxServer
) -> None:
    number = numbers(1)[0]
    fields = {
        "From": number.removeprefix("+"),
        "To": SENDER.removeprefix("+"),
        "Text": "hello",
        "Type": "sms",
        "MessageUUID": str(uuid.uuid4()),
        "MessageIntent": "",
    }
    headers = signature_headers(
        plivo.public_url + INBOUND_PATH, "POST", fields, plivo.token, plivo.token
    )

    answer = client.post(INBOUND_PATH, data={**fields, "Text": "STOP"}, headers=headers)
    response = client.post(
        "/api/bulk-sms", json={"recipients": [number], "message": TEXT}, headers=AUTH
    )

    assert answer.status_code == 403
    assert response.get_json()["recipients"]["suppressed"] == 0
    assert sandbox.destinations() == {number: 1}


def test_delivery_report_with_error_200_suppresses_the_recipient(
    app: Flask, client: FlaskClient, plivo: Plivo, sandbox: SandboxServer
) -> None:
    number, other = numbers(2)
    sent = send_campaign(app, client, sandbox, [number, other])

    plivo.report(sent.report(number, "undelivered", 3, ErrorCode="200"), sent.batch)
    again = client.post(
        "/api/bulk-sms",
        json={"recipients": [number, other], "message": TEXT},
        headers=AUTH,
    )

    recipient = recipients_of(client, sent.id)[number]
    assert (recipient["status"], recipient["error_code"]) == ("undelivered", "200")
    assert again.get_json()["recipients"]["suppressed"] == 1
    assert sandbox.destinations() == {number: 1, other: 2}


# --- the recipients listing -----------------------------------------------------


def test_recipients_listing_filters_by_status_and_pages_in_input_order(
    app: Flask, client: FlaskClient, plivo: Plivo, sandbox: SandboxServer
) -> None:
    recipients = numbers(30)
    sent = send_campaign(app, client, sandbox, recipients)
    undelivered = set(recipients[::6])
    for number in recipients:
        status = "undelivered" if number in undelivered else "delivered"
        plivo.report(sent.report(number, status, 3, ErrorCode="30"), sent.batch)
    delivered = [n for n in recipients if n not in undelivered]

    response = client.get(
        f"/api/bulk-sms/{sent.id}/recipients?status=delivered&page=2&per_page=10",
        headers=AUTH,
    )

    assert response.status_code == 200
    page = response.get_json()
    assert [r["e164"] for r in page["recipients"]] == delivered[10:20]
    assert {r["status"] for r in page["recipients"]} == {"delivered"}
    assert (page["page"], page["per_page"], page["total"], page["pages"]) == (
        2,
        10,
        25,
        3,
    )
    assert page["links"]["next"].endswith("status=delivered&page=3")
    assert page["links"]["prev"].endswith("status=delivered&page=1")
    last = client.get(page["links"]["next"], headers=AUTH).get_json()
    assert [r["e164"] for r in last["recipients"]] == delivered[20:]
    assert last["links"]["next"] is None


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("?status=lost", 400),
        ("?status=delivered&page=0", 400),
        ("?per_page=1001", 400),
        ("?page=two", 400),
        ("?status=invalid&status=duplicate", 400),
        ("?page=1&page=2", 400),
    ],
)
def test_recipients_listing_refuses_bad_filters_and_pages(
    app: Flask,
    client: FlaskClient,
    sandbox: SandboxServer,
    query: str,
    status: int,
) -> None:
    sent = send_campaign(app, client, sandbox, numbers(1))

    response = client.get(f"/api/bulk-sms/{sent.id}/recipients{query}", headers=AUTH)

    assert response.status_code == status
    assert response.get_json()["error"]["code"] == "invalid_request"


def test_recipients_of_an_unknown_campaign_are_not_found(client: FlaskClient) -> None:
    response = client.get("/api/bulk-sms/cmp_NOSUCHCAMPAIGN/recipients", headers=AUTH)

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


# --- never turned away, always fast ---------------------------------------------


def test_webhooks_are_never_rate_limited_while_the_send_api_is(
    make_app: Callable[..., Flask], sandbox: SandboxServer
) -> None:
    app = make_app(SEND_RATE_LIMIT="2 per minute")
    client = app.test_client()
    plivo = plivo_for(app, client)
    recipients = numbers(50)
    sent = send_campaign(app, client, sandbox, recipients)
    # The send was the first POST of two allowed; estimates are POSTs too.
    body = {"recipients": recipients, "message": TEXT}
    writes = [client.post("/api/bulk-sms/estimate", json=body, headers=AUTH)]
    writes.append(client.post("/api/bulk-sms/estimate", json=body, headers=AUTH))

    answers = [
        plivo.report(sent.report(number, "delivered", 3), sent.batch)
        for number in recipients
    ]

    assert [w.status_code for w in writes] == [200, 429]
    # Reads never draw on the budget: following a campaign must stay possible.
    assert client.get(f"/api/bulk-sms/{sent.id}", headers=AUTH).status_code == 200
    assert [a.status_code for a in answers] == [200] * 50
    # Rate limits count per API key: the other key still reads the campaign.
    assert statuses(campaign_of(client, sent.id, key=OLD_API_KEY)) == {"delivered": 50}


@pytest.mark.scaled
@pytest.mark.parametrize(
    ("answer_lost", "status"), [(False, 202), (True, 502)], ids=["answered", "lost"]
)
def test_a_burst_of_1000_reports_from_8_threads_is_answered_within_plivo_s_window(
    live_service: LiveService, sandbox: SandboxServer, answer_lost: bool, status: int
) -> None:
    # With its answer lost, the batch is unknown until the burst confirms it:
    # every report of the burst then races to confirm the same batch.
    sandbox.set_faults(
        report_delay=HELD_BACK, fault_answer_lost=float(answer_lost), fault_first=1
    )
    recipients = numbers(1000)
    response = live_service.send({"recipients": recipients, "message": TEXT})
    assert response.status_code == status
    campaign_id = response.json()["id"]
    batch = batch_of(live_service.app, campaign_id)
    outcomes = sandbox.outcomes()
    url = f"{live_service.url}{report_path(batch)}"
    token = sandbox.config.auth_token

    def deliver(number: str, session: requests.Session) -> tuple[int, float]:
        fields = {
            **PLIVO_REPORT,
            "MessageUUID": outcomes[number]["message_uuid"],
            "To": number.removeprefix("+"),
            "Status": "delivered",
            "Sequence": "3",
        }
        headers = signature_headers(url, "POST", fields, token, token)
        started = time.monotonic()
        answer = session.post(url, data=fields, headers=headers, timeout=30)
        return answer.status_code, time.monotonic() - started

    def deliver_all(share: list[str]) -> list[tuple[int, float]]:
        with requests.Session() as session:
            return [deliver(number, session) for number in share]

    with ThreadPoolExecutor(max_workers=8) as threads:
        results = [
            result
            for share in threads.map(deliver_all, [recipients[i::8] for i in range(8)])
            for result in share
        ]

    assert [code for code, _ in results] == [200] * 1000
    slowest = max(seconds for _, seconds in results)
    assert slowest < PLIVO_CALLBACK_TIMEOUT, f"slowest answer took {slowest:.1f} s"
    campaign = live_service.campaign(campaign_id)
    assert (campaign["state"], statuses(campaign)) == ("complete", {"delivered": 1000})
    assert campaign["batches"][0]["state"] == "submitted"


# --- the whole loop -------------------------------------------------------------


@pytest.mark.slow
def test_demo_ends_every_accepted_recipient_in_the_status_the_sandbox_decided(
    make_app: Callable[..., Flask], tmp_path: Any
) -> None:
    database = f"sqlite:///{tmp_path}/demo.sqlite3"

    result = run_demo(
        DATA / "contacts-20k.csv",
        sandbox_config=SandboxConfig(
            report_statuses=(), seed=3, rates_file=str(DEFAULT_RATES_FILE)
        ),
        overrides={"DATABASE_URL": database},
        settle_timeout=150,
        echo=lambda _: None,
    )

    campaign = result.campaign
    assert campaign["state"] == "complete"
    counts = campaign["recipients"]
    assert (counts["received"], counts["accepted"]) == (20_000, 13_219)
    assert account_problems(campaign) == []
    assert campaign["submission"]["submitted"] == 13_219
    assert sum(campaign["statuses"].values()) == 13_219
    assert result.destinations == dict.fromkeys(result.outcomes, 1)
    assert len(result.deliveries) == 13_219
    assert result.outcome_mismatches() == []
    assert result.adds_up
    # Charged by the service's own rates, the campaign costs what was estimated.
    assert campaign["cost"]["amount"] == result.estimated_cost == "129.7945"
    # Read every recipient back through the API of a service on the same store.
    client = make_app(DATABASE_URL=database).test_client()
    final: dict[str, tuple[str, str | None]] = {}
    for page in range(1, 15):
        response = client.get(
            f"/api/bulk-sms/{campaign['id']}/recipients",
            query_string={"status": "accepted", "page": page, "per_page": 1000},
            headers=AUTH,
        )
        final |= {
            r["e164"]: (r["status"], r["error_code"])
            for r in response.get_json()["recipients"]
        }
    assert len(final) == 13_219
    assert final == {
        number: (
            outcome["status"],
            None if outcome["error_code"] is None else str(outcome["error_code"]),
        )
        for number, outcome in result.outcomes.items()
    }
