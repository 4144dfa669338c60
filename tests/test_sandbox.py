"""The Plivo sandbox, driven over real HTTP by the plivo SDK and by requests.

Delivery reports are received by a small werkzeug server in a thread, and their
signatures are checked with the SDK's own validators.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plivo
import plivo.rest.client
import pytest
import requests
from click.testing import CliRunner
from plivo import exceptions as plivo_errors
from plivo.utils import validate_signature, validate_v3_signature
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from bulksms.sandbox import SandboxConfig, SandboxConfigError, SandboxServer
from bulksms.sandbox.cli import sandbox_command
from bulksms.sandbox.signing import sign_v2, sign_v3

SENDER = "+14155550000"
MAIN_TOKEN = "main-account-token"
FAST_RETRIES = (0.05, 0.1, 0.2)


def numbers(count: int, start: int = 100) -> list[str]:
    return [f"+1415555{index:04d}" for index in range(start, start + count)]


# --- receiving delivery reports ---------------------------------------------


@dataclass
class Received:
    method: str
    url: str
    headers: dict[str, str]
    # The report fields, from the body (POST) or the query (GET).
    fields: dict[str, str]
    at: float


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class Receiver:
    """A callback endpoint that answers ``status`` and keeps what it received."""

    def __init__(self) -> None:
        self.status = 200
        self.calls: list[Received] = []
        self._arrived = threading.Condition()
        self._server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler
        )
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._thread.start()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        fields = request.form if request.method == "POST" else request.args
        call = Received(
            method=request.method,
            # The URL exactly as the sandbox called it, raw query included.
            url=self.base_url + environ["REQUEST_URI"],
            headers=dict(request.headers),
            fields=fields.to_dict(),
            at=time.monotonic(),
        )
        with self._arrived:
            self.calls.append(call)
            self._arrived.notify_all()

        return Response("", status=self.status)(environ, start_response)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.calls) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(self.calls)} of {count} reports")
                self._arrived.wait(remaining)

            return list(self.calls)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


# --- fixtures -----------------------------------------------------------------


@pytest.fixture
def start_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    servers: list[SandboxServer] = []

    def start(**overrides: Any) -> SandboxServer:
        settings: dict[str, Any] = {
            "seed": 7,
            "main_auth_token": MAIN_TOKEN,
            "report_retry_delays": FAST_RETRIES,
            "outcomes": {"delivered": 1.0},
        }
        settings.update(overrides)
        server = SandboxServer(SandboxConfig(**settings)).start()
        servers.append(server)
        return server

    yield start

    for server in servers:
        server.stop()


@pytest.fixture
def sandbox(start_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    return start_sandbox()


@pytest.fixture
def connect(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., plivo.RestClient]]:
    clients: list[plivo.RestClient] = []

    def connect(
        server: SandboxServer, auth_token: str | None = None, timeout: float = 5
    ) -> plivo.RestClient:
        monkeypatch.setattr(
            plivo.rest.client, "PLIVO_API_BASE_URI", server.api_base_uri
        )
        client = plivo.RestClient(
            server.config.auth_id,
            auth_token or server.config.auth_token,
            timeout=timeout,
        )
        clients.append(client)
        return client

    yield connect

    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(
    sandbox: SandboxServer, connect: Callable[..., plivo.RestClient]
) -> plivo.RestClient:
    return connect(sandbox)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()


def post_message(server: SandboxServer, body: dict[str, Any]) -> requests.Response:
    config = server.config
    return requests.post(
        f"{server.api_base_uri}/{config.auth_id}/Message/",
        json=body,
        auth=(config.auth_id, config.auth_token),
        timeout=5,
    )


# --- Message API --------------------------------------------------------------


def test_send_answers_202_in_plivo_shape(sandbox: SandboxServer) -> None:
    answer = post_message(
        sandbox, {"src": SENDER, "dst": "<".join(numbers(2)), "text": "hi"}
    )

    assert answer.status_code == 202
    body = answer.json()
    assert set(body) == {"api_id", "message", "message_uuid"}
    assert body["message"] == "message(s) queued"
    assert len(set(body["message_uuid"])) == 2


def test_sdk_send_returns_one_uuid_per_destination(
    client: plivo.RestClient,
) -> None:
    response = client.messages.create(
        src=SENDER, dst="<".join(numbers(3)), text="hello", url=None
    )

    assert response.message == "message(s) queued"
    assert len(response.message_uuid) == 3


def test_more_than_1000_destinations_is_refused(
    client: plivo.RestClient, sandbox: SandboxServer
) -> None:
    with pytest.raises(plivo_errors.ValidationError, match="too many"):
        client.messages.create(src=SENDER, dst="<".join(numbers(1001)), text="hi")

    assert sandbox.destinations() == {}

    accepted = client.messages.create(
        src=SENDER, dst="<".join(numbers(1000)), text="hi"
    )
    assert len(accepted.message_uuid) == 1000


def test_wrong_auth_token_raises_authentication_error(
    sandbox: SandboxServer, connect: Callable[..., plivo.RestClient]
) -> None:
    client = connect(sandbox, auth_token="not-the-token")

    with pytest.raises(plivo_errors.AuthenticationError):
        client.messages.create(src=SENDER, dst=numbers(1)[0], text="hi")

    assert sandbox.destinations() == {}


def test_account_in_path_must_match_credentials(sandbox: SandboxServer) -> None:
    config = sandbox.config
    answer = requests.post(
        f"{sandbox.api_base_uri}/MAOTHER0000000000000/Message/",
        json={"src": SENDER, "dst": numbers(1)[0], "text": "hi"},
        auth=(config.auth_id, config.auth_token),
        timeout=5,
    )

    assert answer.status_code == 401
    assert set(answer.json()) == {"api_id", "error"}


def test_path_without_trailing_slash_is_accepted(sandbox: SandboxServer) -> None:
    config = sandbox.config
    answer = requests.post(
        f"{sandbox.api_base_uri}/{config.auth_id}/Message",
        json={"src": SENDER, "dst": numbers(1)[0], "text": "hi"},
        auth=(config.auth_id, config.auth_token),
        timeout=5,
    )

    assert answer.status_code == 202


def test_duplicates_collapse_and_invalid_entries_are_listed(
    sandbox: SandboxServer,
) -> None:
    dst = "+14155550100<14155550100<12ab<+14155550101<123"
    answer = post_message(sandbox, {"src": SENDER, "dst": dst, "text": "hi"})

    assert answer.status_code == 202
    assert len(answer.json()["message_uuid"]) == 2
    assert answer.json()["invalid_number"] == ["12ab", "123"]
    assert sandbox.destinations() == {"+14155550100": 1, "+14155550101": 1}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"src": SENDER, "text": "hi"}, "dst"),
        ({"src": SENDER, "dst": "+14155550100"}, "text"),
        ({"dst": "+14155550100", "text": "hi"}, "src or powerpack_uuid"),
        (
            {"src": SENDER, "powerpack_uuid": "p", "dst": "14155550100", "text": "x"},
            "src or powerpack_uuid",
        ),
        ({"src": SENDER, "dst": "14155550100<<14155550101", "text": "hi"}, "empty"),
        ({"src": SENDER, "dst": "14155550100<", "text": "hi"}, "empty"),
        ({"src": SENDER, "dst": "14155550100<14155550000", "text": "hi"}, "same"),
        ({"src": SENDER, "dst": "abc<12", "text": "hi"}, "no valid destination"),
        ({"src": SENDER, "dst": "14155550100", "text": "a" * 1601}, "too long"),
        ({"src": SENDER, "dst": "14155550100", "text": "ç" * 738}, "too long"),
        ({"src": SENDER, "dst": "14155550100", "text": "😀" * 369}, "too long"),
        ({"src": "!!!", "dst": "14155550100", "text": "hi"}, "invalid src"),
        ({"src": "A" * 16, "dst": "14155550100", "text": "hi"}, "invalid src"),
        ({"src": "123456789", "dst": "14155550100", "text": "hi"}, "invalid src"),
    ],
    ids=[
        "no dst",
        "no text",
        "no sender",
        "src and powerpack",
        "empty entry",
        "trailing separator",
        "src among destinations",
        "all invalid",
        "gsm7 over 1600",
        "ucs2 over 737",
        "emoji over 737 units",
        "src symbols",
        "src over 11 characters",
        "src digits not a number",
    ],
)
def test_invalid_requests_are_refused_like_plivo(
    sandbox: SandboxServer, body: dict[str, Any], error: str
) -> None:
    answer = post_message(sandbox, body)

    assert answer.status_code == 400
    assert set(answer.json()) >= {"api_id", "error"}
    assert error in answer.json()["error"]
    assert sandbox.destinations() == {}


@pytest.mark.parametrize("text", ["a" * 1600, "ç" * 737], ids=["gsm7", "ucs2"])
def test_text_at_the_limit_is_accepted(sandbox: SandboxServer, text: str) -> None:
    answer = post_message(sandbox, {"src": SENDER, "dst": "14155550100", "text": text})

    assert answer.status_code == 202


def test_destinations_are_counted_across_requests(sandbox: SandboxServer) -> None:
    first, second = numbers(2)
    post_message(sandbox, {"src": SENDER, "dst": f"{first}<{second}", "text": "a"})
    post_message(sandbox, {"src": SENDER, "dst": first, "text": "b"})

    listed = requests.get(f"{sandbox.url}/sandbox/destinations", timeout=5).json()
    assert listed == {first: 2, second: 1}

    outcomes = requests.get(f"{sandbox.url}/sandbox/outcomes", timeout=5).json()
    assert outcomes[first]["status"] == "delivered"
    assert outcomes[first]["error_code"] is None


def test_uuid_order_does_not_follow_dst(client: plivo.RestClient) -> None:
    dst = numbers(30)
    response = client.messages.create(src=SENDER, dst="<".join(dst), text="hi")

    recipients = [
        "+" + client.messages.get(message_uuid).to_number
        for message_uuid in response.message_uuid
    ]
    assert sorted(recipients) == sorted(dst)
    assert recipients != dst


def test_get_message_shows_plivo_fields(client: plivo.RestClient) -> None:
    response = client.messages.create(src=SENDER, dst=numbers(1)[0], text="a" * 161)

    message = client.messages.get(response.message_uuid[0])

    assert message.message_direction == "outbound"
    assert message.to_number == "14155550100"
    assert message.from_number == "14155550000"
    assert message.units == 2
    assert message.total_amount == "0.01300"
    assert message.message_state in ("queued", "sent", "delivered")


def test_a_rates_file_prices_each_message_by_its_destination(
    start_sandbox: Callable[..., SandboxServer],
    connect: Callable[..., plivo.RestClient],
    tmp_path: Path,
) -> None:
    rates = tmp_path / "rates.csv"
    rates.write_text("prefix,price\n1,0.00650\n44,0.04000\n")
    client = connect(start_sandbox(rates_file=str(rates)))
    us, uk = "+14155550100", "+447700900123"

    response = client.messages.create(src=SENDER, dst=f"{us}<{uk}", text="a" * 161)

    messages = [client.messages.get(uuid) for uuid in response.message_uuid]
    charged = {m.to_number: (m.units, m.total_rate, m.total_amount) for m in messages}
    assert charged == {
        "14155550100": (2, "0.00650", "0.01300"),
        "447700900123": (2, "0.04000", "0.08000"),
    }


def test_a_rates_file_that_cannot_be_read_stops_the_sandbox_naming_it(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "rates.csv"
    broken.write_text("prefix,price\n44,free\n")

    result = CliRunner().invoke(sandbox_command, ["--rates", str(broken)])

    assert result.exit_code == 2
    assert "rates_file" in result.output
    assert "rates.csv" in result.output


def test_get_unknown_message_is_not_found(client: plivo.RestClient) -> None:
    with pytest.raises(plivo_errors.ResourceNotFoundError):
        client.messages.get("00000000-0000-0000-0000-000000000000")


# --- delivery reports ---------------------------------------------------------


def assert_signed(report: Received, auth_token: str, main_token: str) -> None:
    headers = report.headers
    # A GET report's fields are already in the query of the URL it called.
    params = dict(report.fields) if report.method == "POST" else {}
    url = report.url

    v3_nonce = headers["X-Plivo-Signature-V3-Nonce"]
    assert validate_v3_signature(
        report.method,
        url,
        v3_nonce,
        auth_token,
        headers["X-Plivo-Signature-V3"],
        dict(params),
    )
    assert validate_v3_signature(
        report.method,
        url,
        v3_nonce,
        main_token,
        headers["X-Plivo-Signature-Ma-V3"],
        dict(params),
    )

    v2_nonce = headers["X-Plivo-Signature-V2-Nonce"]
    assert validate_signature(
        url, v2_nonce, headers["X-Plivo-Signature-V2"], auth_token
    )
    assert validate_signature(
        url, v2_nonce, headers["X-Plivo-Signature-Ma-V2"], main_token
    )
    assert not validate_signature(
        url, v2_nonce, headers["X-Plivo-Signature-V2"], "other-token"
    )


def test_reports_carry_signatures_the_sdk_accepts(
    client: plivo.RestClient, sandbox: SandboxServer, receiver: Receiver
) -> None:
    callback = f"{receiver.base_url}/plivo/reports?campaign=c1&tag=a%20b"
    response = client.messages.create(
        src=SENDER, dst=numbers(1)[0], text="hello", url=callback
    )

    reports = receiver.wait_for(3)

    assert [r.method for r in reports] == ["POST"] * 3
    assert [r.url for r in reports] == [callback] * 3
    assert sorted((r.fields["Sequence"], r.fields["Status"]) for r in reports) == [
        ("1", "queued"),
        ("2", "sent"),
        ("3", "delivered"),
    ]
    for report in reports:
        assert_signed(report, sandbox.config.auth_token, MAIN_TOKEN)
        fields = report.fields
        assert fields["MessageUUID"] == response.message_uuid[0]
        assert fields["ParentMessageUUID"] == fields["MessageUUID"]
        assert fields["To"] == "14155550100"
        assert fields["From"] == "14155550000"
        assert fields["Units"] == "1"
        assert fields["TotalAmount"] == "0.00650"
        assert fields["PartInfo"] == "1 of 1"
        assert fields["Type"] == "sms"
        assert "ErrorCode" not in fields


def test_get_callbacks_are_signed_over_the_query(
    client: plivo.RestClient, sandbox: SandboxServer, receiver: Receiver
) -> None:
    callback = f"{receiver.base_url}/reports/?campaign=c2"
    client.messages.create(
        src=SENDER, dst=numbers(1)[0], text="hello", url=callback, method="GET"
    )

    reports = receiver.wait_for(3)

    for report in reports:
        assert report.method == "GET"
        assert report.fields["campaign"] == "c2"
        assert report.fields["MessageUUID"]
        assert_signed(report, sandbox.config.auth_token, MAIN_TOKEN)


def test_failed_outcome_skips_sent_and_carries_an_error_code(
    start_sandbox: Callable[..., SandboxServer],
    connect: Callable[..., plivo.RestClient],
    receiver: Receiver,
) -> None:
    sandbox = start_sandbox(outcomes={"failed": 1.0}, opt_out_share=0.0)
    client = connect(sandbox)
    client.messages.create(
        src=SENDER, dst=numbers(1)[0], text="hi", url=receiver.base_url
    )

    reports = sorted(receiver.wait_for(2), key=lambda r: r.fields["Sequence"])

    assert [r.fields["Status"] for r in reports] == ["queued", "failed"]
    assert "ErrorCode" not in reports[0].fields
    assert reports[1].fields["ErrorCode"] in {"50", "420", "900", "1000"}
    outcome = sandbox.outcomes()[numbers(1)[0]]
    assert outcome["status"] == "failed"
    assert str(outcome["error_code"]) == reports[1].fields["ErrorCode"]


def test_sent_outcome_ends_with_a_single_sent_report(
    start_sandbox: Callable[..., SandboxServer],
    connect: Callable[..., plivo.RestClient],
    receiver: Receiver,
) -> None:
    sandbox = start_sandbox(outcomes={"sent": 1.0})
    connect(sandbox).messages.create(
        src=SENDER, dst=numbers(1)[0], text="hi", url=receiver.base_url
    )

    reports = receiver.wait_for(2)
    time.sleep(0.1)

    assert len(receiver.calls) == 2
    statuses = sorted((r.fields["Sequence"], r.fields["Status"]) for r in reports)
    assert statuses == [("1", "queued"), ("2", "sent")]


def test_failing_receiver_gets_retries_on_the_schedule(
    start_sandbox: Callable[..., SandboxServer],
    connect: Callable[..., plivo.RestClient],
    receiver: Receiver,
) -> None:
    sandbox = start_sandbox(report_statuses=())
    receiver.status = 500
    connect(sandbox).messages.create(
        src=SENDER, dst=numbers(1)[0], text="hi", url=receiver.base_url
    )

    attempts = receiver.wait_for(4)
    time.sleep(0.3)

    assert len(receiver.calls) == 4
    assert {a.fields["Sequence"] for a in attempts} == {"1"}
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(attempts)]
    for gap, delay in zip(gaps, FAST_RETRIES, strict=True):
        assert delay - 0.01 <= gap < delay + 0.15
    assert sandbox.report_stats()["given_up"] == 1


def test_duplicated_reports_repeat_their_sequence(
    start_sandbox: Callable[..., SandboxServer],
    connect: Callable[..., plivo.RestClient],
    receiver: Receiver,
) -> None:
    sandbox = start_sandbox(report_duplicate_share=1.0)
    connect(sandbox).messages.create(
        src=SENDER, dst=numbers(1)[0], text="hi", url=receiver.base_url
    )

    reports = receiver.wait_for(6)

    sequences = sorted(r.fields["Sequence"] for r in reports)
    assert sequences == ["1", "1", "2", "2", "3", "3"]


def test_shuffled_reports_keep_the_sequence_they_were_generated_with(
    start_sandbox: Callable[..., SandboxServer],
    connect: Callable[..., plivo.RestClient],
    receiver: Receiver,
) -> None:
    sandbox = start_sandbox(report_shuffle=True, report_workers=1)
    connect(sandbox).messages.create(
        src=SENDER, dst="<".join(numbers(10)), text="hi", url=receiver.base_url
    )

    reports = receiver.wait_for(30)

    by_message: dict[str, list[tuple[str, str]]] = {}
    for report in reports:
        fields = report.fields
        by_message.setdefault(fields["MessageUUID"], []).append(
            (fields["Sequence"], fields["Status"])
        )
    expected = [("1", "queued"), ("2", "sent"), ("3", "delivered")]
    assert all(sorted(seen) == expected for seen in by_message.values())
    assert any(seen != expected for seen in by_message.values())


def test_report_delay_holds_reports_back(
    start_sandbox: Callable[..., SandboxServer],
    connect: Callable[..., plivo.RestClient],
    receiver: Receiver,
) -> None:
    sandbox = start_sandbox(report_delay=0.3, report_statuses=())
    client = connect(sandbox)
    sent_at = time.monotonic()
    response = client.messages.create(
        src=SENDER, dst=numbers(1)[0], text="hi", url=receiver.base_url
    )

    assert client.messages.get(response.message_uuid[0]).message_state == "queued"
    report = receiver.wait_for(1)[0]
    assert report.at - sent_at >= 0.3
    assert client.messages.get(response.message_uuid[0]).message_state == "delivered"


# --- faults -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "text"),
    [
        ("fault_429", plivo_errors.PlivoRestError, "Received status code 429"),
        ("fault_503", plivo_errors.PlivoRestError, "Received status code 503"),
        ("fault_500", plivo_errors.PlivoServerError, "internal server error"),
    ],
)
def test_refusal_faults_record_nothing_and_send_no_reports(
    client: plivo.RestClient,
    sandbox: SandboxServer,
    receiver: Receiver,
    fault: str,
    error: type[Exception],
    text: str,
) -> None:
    sandbox.set_faults(**{fault: 1.0})

    with pytest.raises(error, match=text):
        client.messages.create(
            src=SENDER, dst=numbers(1)[0], text="hi", url=receiver.base_url
        )

    time.sleep(0.1)
    assert sandbox.destinations() == {}
    assert receiver.calls == []


def test_429_says_when_to_retry_unless_told_not_to(sandbox: SandboxServer) -> None:
    body = {"src": SENDER, "dst": numbers(1)[0], "text": "hi"}

    sandbox.set_faults(fault_429=1.0, retry_after=2.0)
    assert post_message(sandbox, body).headers["Retry-After"] == "2"

    sandbox.set_faults(fault_429=0.0, fault_429_no_retry_after=1.0)
    answer = post_message(sandbox, body)
    assert answer.status_code == 429
    assert "Retry-After" not in answer.headers


def test_fault_first_limits_faults_to_the_first_requests_and_the_log_shows_each(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    sandbox.set_faults(fault_500=1.0, fault_first=2)
    body = {
        "src": SENDER,
        "dst": "<".join(numbers(3)),
        "text": "hi",
        "url": receiver.base_url,
    }

    statuses = [post_message(sandbox, body).status_code for _ in range(3)]

    assert statuses == [500, 500, 202]
    log = requests.get(f"{sandbox.url}/sandbox/requests", timeout=5).json()
    assert [(e["status"], e["fault"], e["destinations"]) for e in log] == [
        (500, "500", 3),
        (500, "500", 3),
        (202, None, 3),
    ]
    assert {e["callback_url"] for e in log} == {receiver.base_url}
    assert [e["received_at"] for e in log] == sorted(e["received_at"] for e in log)


def test_a_lost_answer_is_logged_without_a_status(
    client: plivo.RestClient, sandbox: SandboxServer
) -> None:
    sandbox.set_faults(fault_answer_lost=1.0)

    with pytest.raises(requests.exceptions.ConnectionError):
        client.messages.create(src=SENDER, dst=numbers(1)[0], text="hi")

    [entry] = sandbox.requests()
    assert (entry["status"], entry["fault"]) == (None, "answer_lost")


def test_report_share_leaves_the_other_messages_without_reports(
    start_sandbox: Callable[..., SandboxServer],
    connect: Callable[..., plivo.RestClient],
    receiver: Receiver,
) -> None:
    # Held back, no report has left yet when the pending ones are counted.
    sandbox = start_sandbox(report_share=0.5, report_statuses=(), report_delay=0.5)

    connect(sandbox).messages.create(
        src=SENDER, dst="<".join(numbers(50)), text="hi", url=receiver.base_url
    )

    assert len(sandbox.destinations()) == 50
    planned = sandbox.report_stats()["pending"]
    assert 0 < planned < 50
    assert len(receiver.wait_for(planned)) == planned


def test_lost_answer_raises_connection_error_after_recording(
    client: plivo.RestClient, sandbox: SandboxServer, receiver: Receiver
) -> None:
    sandbox.set_faults(fault_answer_lost=1.0)

    with pytest.raises(requests.exceptions.ConnectionError):
        client.messages.create(
            src=SENDER, dst=numbers(1)[0], text="hi", url=receiver.base_url
        )

    assert sandbox.destinations() == {numbers(1)[0]: 1}
    assert len(receiver.wait_for(3)) == 3


def test_slow_answer_times_out_after_recording(
    start_sandbox: Callable[..., SandboxServer],
    connect: Callable[..., plivo.RestClient],
) -> None:
    sandbox = start_sandbox(fault_slow=1.0, slow_seconds=3.0)
    client = connect(sandbox, timeout=0.5)

    with pytest.raises(requests.exceptions.ReadTimeout):
        client.messages.create(src=SENDER, dst=numbers(1)[0], text="hi")

    assert sandbox.destinations() == {numbers(1)[0]: 1}


def test_latency_delays_every_answer(
    start_sandbox: Callable[..., SandboxServer],
) -> None:
    sandbox = start_sandbox(latency=0.2)
    started = time.monotonic()

    post_message(sandbox, {"dst": numbers(1)[0], "text": "no sender"})

    assert time.monotonic() - started >= 0.2


# --- control API --------------------------------------------------------------


def test_faults_endpoint_changes_settings_while_running(
    sandbox: SandboxServer,
) -> None:
    answer = requests.post(
        f"{sandbox.url}/sandbox/faults",
        json={"fault_503": 0.5, "report_retry_delays": [1, 2]},
        timeout=5,
    )

    assert answer.status_code == 200
    assert answer.json()["fault_503"] == 0.5
    assert answer.json()["report_retry_delays"] == [1.0, 2.0]
    assert "auth_token" not in answer.json()
    assert sandbox.config.fault_503 == 0.5


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"fault_42": 1.0, "latency": 0.1}, "fault_42"),
        ({"auth_token": "x"}, "auth_token"),
        ({"fault_500": 2.0}, "fault_500"),
        ({"outcomes": {"lost": 1.0}}, "lost"),
    ],
    ids=["unknown", "fixed", "out of range", "unknown status"],
)
def test_faults_endpoint_refuses_bad_settings(
    sandbox: SandboxServer, changes: dict[str, Any], named: str
) -> None:
    answer = requests.post(f"{sandbox.url}/sandbox/faults", json=changes, timeout=5)

    assert answer.status_code == 400
    assert named in answer.json()["error"]
    assert sandbox.config.latency == 0.0


def test_reset_clears_records(sandbox: SandboxServer) -> None:
    post_message(sandbox, {"src": SENDER, "dst": numbers(1)[0], "text": "hi"})

    answer = requests.post(f"{sandbox.url}/sandbox/reset", timeout=5)

    assert answer.status_code == 200
    assert sandbox.destinations() == {}
    assert sandbox.outcomes() == {}


def test_stop_is_prompt_with_reports_waiting(
    start_sandbox: Callable[..., SandboxServer],
    connect: Callable[..., plivo.RestClient],
    receiver: Receiver,
) -> None:
    sandbox = start_sandbox(report_delay=30.0)
    connect(sandbox).messages.create(
        src=SENDER, dst="<".join(numbers(50)), text="hi", url=receiver.base_url
    )
    assert sandbox.report_stats()["pending"] == 150

    started = time.monotonic()
    sandbox.stop()

    assert time.monotonic() - started < 1.0
    assert receiver.calls == []


# --- signing, segments, settings, CLI ------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765/reports",
        "https://example.com/reports/",
        "https://example.com:8443/reports?b=2&a=1&a=0",
        "https://example.com/reports?empty=&tag=a%20b+c",
        "http://example.com/p;v=1/reports?q=1",
    ],
)
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_signatures_match_the_sdk_validators(url: str, method: str) -> None:
    params = {"To": "14155550100", "Status": "delivered", "Text": "héllo wörld"}
    nonce = "12345678901234567890"

    v3 = sign_v3(method, url, params, nonce, "token")

    assert validate_v3_signature(method, url, nonce, "token", v3, dict(params))
    assert not validate_v3_signature(method, url, nonce, "other", v3, dict(params))
    assert validate_signature(url, nonce, sign_v2(url, nonce, "token"), "token")


@pytest.mark.parametrize(
    "settings",
    [
        {"auth_id": "XX"},
        {"fault_429": 0.6, "fault_500": 0.6},
        {"outcomes": {"delivered": 0.0}},
        {"report_statuses": ("delivered",)},
        {"latency": -1.0},
        {"report_shuffle": "yes"},
        {"rate_per_unit": "cheap"},
        {"report_share": 1.5},
        {"fault_first": -1},
        {"fault_first": 2.5},
        {"fault_first": True},
    ],
)
def test_config_refuses_bad_values(settings: dict[str, Any]) -> None:
    with pytest.raises(SandboxConfigError):
        SandboxConfig(**settings)


def test_cli_refuses_a_malformed_outcome_mix() -> None:
    runner = CliRunner()

    malformed = runner.invoke(sandbox_command, ["--outcomes", "delivered"])
    unknown = runner.invoke(sandbox_command, ["--outcomes", "lost=1"])

    assert malformed.exit_code == 2
    assert "STATUS=SHARE" in malformed.output
    assert unknown.exit_code == 2
    assert "lost" in unknown.output
