"""Queued campaigns and the worker: ``bulksms worker`` as a real process, the
sandbox over real HTTP, and the store read back through the API.

A list above ``BULK_SYNC_LIMIT`` is only stored and queued by the request; the
worker sends it. These tests kill and stop workers, run two at once, and make the
sandbox misbehave, then check the guarantees: every accepted recipient ends in
exactly one bucket, no destination reaches Plivo twice, an ambiguous batch is
never resent on its own, and requests to Plivo are paced.

The sandbox's request log (``GET /sandbox/requests``) shows what the SDK hides
from the service: which request was answered 429 or 500, and when it arrived.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from conftest import API_KEY, LiveService, Worker, numbers
from sqlalchemy import select

from bulksms import ledger
from bulksms.demo import account_errors
from bulksms.models import Recipient
from bulksms.queue import EXTENSION as QUEUE_EXTENSION
from bulksms.queue import CampaignQueue
from bulksms.sandbox import SandboxServer
from bulksms.store import get_store

TEXT = "Your table is ready. Reply STOP to opt out."
AUTH = {"X-API-Key": API_KEY}

# How far a request's arrival at the sandbox may trail its turn from the pacer:
# threads of a busy worker and of the test process (sandbox, service, reports)
# wait for the interpreter lock. Measured: usually 0 to 15 ms, rarely 80 ms. A
# burst is far more: turns granted during a database stall, sent together
# when it ends, arrive 0.1 to 0.5 s apart.
PACING_SLACK = 0.1

# Polling a campaign counts against the send API's rate limit (120 a minute by
# default); tests that poll raise it.
POLLING_RATE_LIMIT = "100000 per minute"

# States in which a batch still has work ahead of it.
UNSETTLED = ("pending", "sending")

MakeService = Callable[..., LiveService]
MakeWorker = Callable[[LiveService], Worker]


# --- helpers ---------------------------------------------------------------------


def post(service: LiveService, path: str, **body: Any) -> requests.Response:
    return requests.post(
        f"{service.url}/api/bulk-sms{path}", json=body, headers=AUTH, timeout=120
    )


def batch_states(campaign: dict[str, Any]) -> Counter[str]:
    return Counter(batch["state"] for batch in campaign["batches"])


def wait_for(
    service: LiveService,
    campaign_id: str,
    done: Callable[[dict[str, Any]], bool],
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Poll ``GET /api/bulk-sms/<id>`` until ``done`` holds; the last answer."""
    deadline = time.monotonic() + timeout
    campaign = service.campaign(campaign_id)
    while not done(campaign):
        if time.monotonic() > deadline:
            states = dict(batch_states(campaign))
            raise AssertionError(f"gave up after {timeout:.0f} s: batches {states}")
        time.sleep(0.2)
        campaign = service.campaign(campaign_id)
    return campaign


def settled(campaign: dict[str, Any]) -> bool:
    """No batch is pending or sending."""
    return not any(batch_states(campaign)[state] for state in UNSETTLED)


def eventually(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def stall_database(service: LiveService, seconds: float) -> None:
    """Hold, for ``seconds``, the lock that every write to a batch needs, as a
    busy or slow database would: SQLite's write lock, or on PostgreSQL a lock
    on the batches table that lets reads through."""
    with service.app.app_context():
        store = get_store()
    # On SQLite the store begins every transaction with BEGIN IMMEDIATE.
    with store.engine.begin() as connection:
        if not store.is_sqlite:
            connection.exec_driver_sql("LOCK TABLE batches IN EXCLUSIVE MODE")
        time.sleep(seconds)


def under_way(states: Counter[str]) -> bool:
    """Some batches are submitted and some still wait."""
    return states["submitted"] >= 5 and states["pending"] > 0


def wait_for_reports(sandbox: SandboxServer, timeout: float = 60.0) -> None:
    """Wait until the sandbox has posted every delivery report it planned; each
    post is answered only once the service has stored it."""
    deadline = time.monotonic() + timeout
    while sandbox.report_stats()["pending"]:
        if time.monotonic() > deadline:
            raise AssertionError(f"reports still waiting: {sandbox.report_stats()}")
        time.sleep(0.1)


def batch_index_by_id(service: LiveService, campaign_id: str) -> dict[int, int]:
    """The store's batch ids, which the callback URLs carry, and their indexes."""
    with service.app.app_context(), get_store().session() as session:
        return {batch.id: batch.index for batch in ledger.batches(session, campaign_id)}


def requests_by_batch(
    sandbox: SandboxServer, service: LiveService, campaign_id: str
) -> dict[int, list[dict[str, Any]]]:
    """The sandbox's log of Message API requests, by batch index, oldest first.

    Each request names its batch in its callback URL (``?batch=<id>``)."""
    index_of = batch_index_by_id(service, campaign_id)
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for entry in sandbox.requests():
        query = parse_qs(urlsplit(entry["callback_url"]).query)
        grouped[index_of[int(query["batch"][0])]].append(entry)
    return dict(grouped)


def recipients_of_batches(
    service: LiveService, campaign_id: str, indexes: set[int]
) -> list[tuple[str, str | None, str | None]]:
    """``(e164, submission, status)`` of every recipient of the given batches."""
    ids = [
        i
        for i, index in batch_index_by_id(service, campaign_id).items()
        if index in indexes
    ]
    with service.app.app_context(), get_store().session() as session:
        rows = session.execute(
            select(Recipient.e164, Recipient.submission, Recipient.status).where(
                Recipient.batch_id.in_(ids)
            )
        )
        return [(e164 or "", submission, status) for e164, submission, status in rows]


def queue_of(service: LiveService) -> CampaignQueue:
    queue: CampaignQueue = service.app.extensions[QUEUE_EXTENSION]
    return queue


@pytest.fixture
def start_service(
    make_live_service: MakeService, sandbox: SandboxServer
) -> Iterator[MakeService]:
    """A live service that a test may poll as often as it likes.

    At the end, the sandbox's delivery reports drain before the service stops:
    a report still being stored then would use a database connection after
    its pool was closed, and fail a later test with a ResourceWarning.
    """

    def start(**overrides: Any) -> LiveService:
        return make_live_service(SEND_RATE_LIMIT=POLLING_RATE_LIMIT, **overrides)

    yield start
    wait_for_reports(sandbox)


@pytest.fixture(autouse=True)
def _few_reports(sandbox: SandboxServer) -> None:
    """Each report costs a database write in the test process, and most tests
    here are not about reports: 2% of messages get one, with the final status.
    Tests about reports set their own share."""
    sandbox.set_faults(report_share=0.02, report_statuses=())


class LoggedWorker(Worker):
    """A worker whose log goes to a file, to tell which batches it sent."""

    def __init__(self, config: dict[str, Any], log: Path) -> None:
        super().__init__(config)
        self.log = log

    def start(self) -> LoggedWorker:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bulksms", "worker"],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        # As WorkerProcess.start: ready once it says so, not while importing.
        self.wait_for_line(r"worker: sending queued campaigns")
        return self

    def wait_for_line(self, pattern: str, timeout: float = 30.0) -> None:
        """Wait until a line of the log matches ``pattern``."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.log.read_text()):
            if time.monotonic() > deadline:
                raise AssertionError(f"the worker never logged {pattern!r}")
            time.sleep(0.1)

    def submitted_batches(self) -> set[int]:
        """Indexes of the batches this worker logged as submitted."""
        found = re.findall(r"batch (\d+) submitted", self.log.read_text())
        return {int(index) for index in found}


@pytest.fixture
def make_logged_worker(
    tmp_path: Path,
) -> Iterator[Callable[[LiveService, str], LoggedWorker]]:
    workers: list[LoggedWorker] = []

    def make(service: LiveService, name: str) -> LoggedWorker:
        worker = LoggedWorker(service.config, tmp_path / f"worker-{name}.log")
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.stop()


# --- queued above the limit ------------------------------------------------------


@pytest.mark.scaled
def test_a_list_above_the_limit_is_answered_at_once_and_sent_by_a_worker_later(
    start_service: MakeService, make_worker: MakeWorker, sandbox: SandboxServer
) -> None:
    service = start_service(BULK_SYNC_LIMIT="1500")
    recipients = numbers(3500)

    response = service.send({"recipients": recipients, "message": TEXT})

    assert response.status_code == 202
    campaign = response.json()
    assert response.headers["Location"].endswith(f"/api/bulk-sms/{campaign['id']}")
    assert campaign["state"] == "queued"
    assert [(b["size"], b["state"]) for b in campaign["batches"]] == [
        (1000, "pending"),
        (1000, "pending"),
        (1000, "pending"),
        (500, "pending"),
    ]
    assert campaign["submission"]["pending"] == 3500
    assert sandbox.requests() == []

    make_worker(service).start()
    campaign = wait_for(service, campaign["id"], settled)

    assert batch_states(campaign) == {"submitted": 4}
    assert campaign["submission"]["submitted"] == 3500
    assert sandbox.destinations() == dict.fromkeys(recipients, 1)
    assert account_errors(campaign) == []


# --- a worker killed mid-campaign -------------------------------------------------


@pytest.mark.scaled
@pytest.mark.slow
def test_a_worker_killed_mid_campaign_loses_no_recipient_and_sends_none_twice(
    start_service: MakeService, make_worker: MakeWorker, sandbox: SandboxServer
) -> None:
    # 50 requests of 0.3 s, two at a time: the campaign takes several seconds.
    # Reports for 2% of messages (about 20 a batch) are enough to confirm part
    # of every batch the kill leaves in flight.
    sandbox.set_faults(latency=0.3, report_share=0.02, report_statuses=())
    service = start_service(SEND_CONCURRENCY="2")
    response = service.send({"recipients": numbers(50_000), "message": TEXT})
    assert response.status_code == 202
    campaign_id = response.json()["id"]

    first = make_worker(service).start()
    wait_for(service, campaign_id, lambda c: under_way(batch_states(c)))
    first.kill()

    # The killed process can change nothing any more: what it left in
    # "sending" is exactly what was in flight.
    at_kill = service.campaign(campaign_id)
    in_flight = {b["index"] for b in at_kill["batches"] if b["state"] == "sending"}
    assert in_flight
    assert batch_states(at_kill)["pending"] > 0

    # Started, the new worker takes the dead one's batches for lost and goes on
    # with the campaign at once: about 8 s of requests are left.
    make_worker(service).start()
    wait_for(service, campaign_id, settled, timeout=60)
    wait_for_reports(sandbox)
    campaign = service.campaign(campaign_id)

    assert account_errors(campaign) == []
    assert campaign["recipients"]["accepted"] == 50_000
    destinations = sandbox.destinations()
    assert max(destinations.values()) == 1

    # A batch in flight reached the sandbox whole or not at all. If it did, its
    # delivery reports confirm it, and all its recipients count as submitted,
    # those still waiting for their own report too; if not, it stays unknown
    # and is not resent.
    unconfirmed = 0
    for batch in campaign["batches"]:
        rows = recipients_of_batches(service, campaign_id, {batch["index"]})
        reached = sum(e164 in destinations for e164, _, _ in rows)
        assert reached in (0, len(rows))
        if batch["index"] not in in_flight or reached:
            assert batch["state"] == "submitted", batch
            assert {submission for _, submission, _ in rows} == {"submitted"}
        else:
            assert batch["state"] == "unknown", batch
            assert {(s, status) for _, s, status in rows} == {("unknown", None)}
            unconfirmed += len(rows)
    assert campaign["submission"]["unknown"] == unconfirmed
    assert campaign["submission"]["submitted"] == 50_000 - unconfirmed


# --- faults ----------------------------------------------------------------------


@pytest.mark.scaled
@pytest.mark.slow
def test_under_429s_500s_and_lost_answers_only_throttled_batches_are_resent(
    start_service: MakeService, make_worker: MakeWorker, sandbox: SandboxServer
) -> None:
    sandbox.set_faults(
        fault_429=0.2,
        fault_500=0.05,
        fault_answer_lost=0.05,
        report_share=0.02,
        report_statuses=(),
    )
    service = start_service()
    response = service.send({"recipients": numbers(20_000), "message": TEXT})
    assert response.status_code == 202
    campaign_id = response.json()["id"]

    make_worker(service).start()
    wait_for(service, campaign_id, settled)
    wait_for_reports(sandbox)
    campaign = service.campaign(campaign_id)

    assert account_errors(campaign) == []
    destinations = sandbox.destinations()
    assert max(destinations.values()) == 1

    sent = requests_by_batch(sandbox, service, campaign_id)
    ambiguous: dict[int, int | None] = {}
    throttled_then_accepted: set[int] = set()
    for batch in campaign["batches"]:
        answers = [entry["status"] for entry in sent[batch["index"]]]
        # Only a 429 is followed by another request for the same batch, and
        # retries outlast the throttling: a 429 is never a batch's last answer.
        assert set(answers[:-1]) <= {429}, (batch["index"], answers)
        last = answers[-1]
        assert last in (202, 500, None), (batch, answers)
        if last == 202:
            assert batch["state"] == "submitted", (batch, answers)
            if len(answers) > 1:
                throttled_then_accepted.add(batch["index"])
        else:
            ambiguous[batch["index"]] = last
    assert throttled_then_accepted
    assert set(ambiguous.values()) == {500, None}
    assert campaign["submission"]["failed_submission"] == 0

    # Refused with 500, an ambiguous batch never reached the sandbox and stays
    # unknown. With its answer lost, it did, and its delivery reports confirm
    # it whole: every recipient submitted, nothing left to resend.
    by_index = {batch["index"]: batch for batch in campaign["batches"]}
    for index, last in ambiguous.items():
        rows = recipients_of_batches(service, campaign_id, {index})
        reached = sum(e164 in destinations for e164, _, _ in rows)
        submissions = {submission for _, submission, _ in rows}
        if last == 500:
            assert reached == 0
            assert by_index[index]["state"] == "unknown"
            assert submissions == {"unknown"}
        else:
            assert reached == len(rows)
            assert by_index[index]["state"] == "submitted"
            assert submissions == {"submitted"}


# --- Retry-After -----------------------------------------------------------------


@pytest.mark.scaled
@pytest.mark.parametrize(
    ("fault", "honoured"),
    [("fault_429", True), ("fault_429_no_retry_after", False)],
    ids=["with Retry-After", "without Retry-After"],
)
def test_a_throttled_batch_waits_as_long_as_retry_after_says_before_its_retry(
    start_service: MakeService, sandbox: SandboxServer, fault: str, honoured: bool
) -> None:
    # Longer than the service's own first backoff (0.5 s plus up to 1 s of
    # jitter), so that honouring it shows.
    retry_after = 2.5
    # Every batch's first attempt, and only that, is answered 429: four
    # batches, four sending threads.
    sandbox.set_faults(**{fault: 1.0}, fault_first=4, retry_after=retry_after)
    service = start_service(SEND_CONCURRENCY="4")

    response = service.send({"recipients": numbers(4000), "message": TEXT})

    assert response.status_code == 202
    assert batch_states(response.json()) == {"submitted": 4}
    sent = requests_by_batch(sandbox, service, response.json()["id"])
    assert sorted(sent) == [0, 1, 2, 3]
    for attempts in sent.values():
        assert [entry["status"] for entry in attempts] == [429, 202]
        waited = attempts[1]["received_at"] - attempts[0]["received_at"]
        if honoured:
            assert waited >= retry_after
        else:
            assert 0.5 <= waited < retry_after
    assert set(sandbox.destinations().values()) == {1}


# --- retry and cancel ------------------------------------------------------------


@pytest.mark.scaled
def test_retry_resends_a_refused_batch_once_and_then_has_nothing_to_retry(
    start_service: MakeService, sandbox: SandboxServer
) -> None:
    recipients = numbers(3000)
    sandbox.set_faults(fault_destinations=[recipients[1500]])
    service = start_service()
    response = service.send({"recipients": recipients, "message": TEXT})
    assert response.status_code == 207
    campaign_id = response.json()["id"]
    assert [b["state"] for b in response.json()["batches"]] == [
        "submitted",
        "failed",
        "submitted",
    ]

    sandbox.set_faults(fault_destinations=[])
    retried = post(service, f"/{campaign_id}/retry")

    assert retried.status_code == 202
    assert retried.json()["retried_batches"] == 1
    campaign = service.campaign(campaign_id)
    assert batch_states(campaign) == {"submitted": 3}
    assert campaign["submission"]["submitted"] == 3000
    assert sandbox.destinations() == dict.fromkeys(recipients, 1)
    assert account_errors(campaign) == []

    again = post(service, f"/{campaign_id}/retry")
    assert again.status_code == 409
    assert sandbox.destinations() == dict.fromkeys(recipients, 1)


@pytest.mark.scaled
def test_after_a_wrong_auth_token_is_fixed_retry_sends_every_failed_batch(
    start_service: MakeService, sandbox: SandboxServer
) -> None:
    recipients = numbers(2500)
    broken = start_service(PLIVO_AUTH_TOKEN="not-the-token")
    response = broken.send({"recipients": recipients, "message": TEXT})
    assert response.status_code == 502
    assert batch_states(response.json()) == {"failed": 3}
    assert sandbox.destinations() == {}

    # The operator fixes the token; the same store, a service that can send.
    fixed = start_service()
    retried = post(fixed, f"/{response.json()['id']}/retry")

    assert retried.status_code == 202
    assert retried.json()["retried_batches"] == 3
    assert batch_states(retried.json()) == {"submitted": 3}
    assert sandbox.destinations() == dict.fromkeys(recipients, 1)
    assert account_errors(retried.json()) == []


@pytest.mark.scaled
def test_a_batch_whose_answer_was_lost_is_confirmed_whole_by_its_reports(
    start_service: MakeService, sandbox: SandboxServer
) -> None:
    # The only batch's answer is lost after the sandbox took it; reports come
    # for about half of its messages, a second after the request.
    recipients = numbers(40)
    sandbox.set_faults(
        fault_answer_lost=1.0,
        fault_first=1,
        report_share=0.5,
        report_statuses=(),
        report_delay=1.0,
    )
    service = start_service(RETRY_UNKNOWN_AFTER="0.1")
    response = service.send({"recipients": recipients, "message": TEXT})
    assert response.status_code == 502
    assert batch_states(response.json()) == {"unknown": 1}
    campaign_id = response.json()["id"]

    wait_for_reports(sandbox)
    campaign = service.campaign(campaign_id)

    # Plivo queues a request whole: the recipients still without a report of
    # their own are with Plivo too, and resending them would send twice.
    assert batch_states(campaign) == {"submitted": 1}
    assert campaign["batches"][0]["error"] is None
    assert campaign["submission"]["submitted"] == 40
    waiting = campaign["statuses"]["awaiting_report"]
    assert 0 < waiting < 40
    assert account_errors(campaign) == []
    time.sleep(0.2)
    assert post(service, f"/{campaign_id}/retry", include_unknown=True).status_code == (
        409
    )
    assert sandbox.destinations() == dict.fromkeys(recipients, 1)


@pytest.mark.scaled
@pytest.mark.parametrize(
    ("retry_unknown_after", "resent"),
    [("0.1", True), ("3600", False)],
    ids=["grace over", "within grace"],
)
def test_retry_with_include_unknown_resends_an_unconfirmed_batch_after_grace(
    start_service: MakeService,
    sandbox: SandboxServer,
    retry_unknown_after: str,
    resent: bool,
) -> None:
    # Answered 500, the only batch may or may not be with Plivo; no report
    # ever says it is (the sandbox in fact never took it).
    recipients = numbers(40)
    sandbox.set_faults(fault_500=1.0, fault_first=1)
    service = start_service(RETRY_UNKNOWN_AFTER=retry_unknown_after)
    response = service.send({"recipients": recipients, "message": TEXT})
    assert response.status_code == 502
    campaign_id = response.json()["id"]
    before = service.campaign(campaign_id)
    assert batch_states(before) == {"unknown": 1}
    assert before["submission"]["unknown"] == 40
    assert before["state"] == "unconfirmed"

    assert post(service, f"/{campaign_id}/retry").status_code == 409
    time.sleep(0.2)
    retried = post(service, f"/{campaign_id}/retry", include_unknown=True)

    if not resent:
        assert retried.status_code == 409
        assert sandbox.destinations() == {}
        assert service.campaign(campaign_id)["submission"] == before["submission"]
        return

    assert retried.status_code == 202
    assert retried.json()["retried_batches"] == 1
    campaign = service.campaign(campaign_id)
    assert batch_states(campaign) == {"submitted": 1}
    assert campaign["submission"]["submitted"] == 40
    assert [entry["status"] for entry in sandbox.requests()] == [500, 202]
    assert sandbox.destinations() == dict.fromkeys(recipients, 1)
    assert account_errors(campaign) == []


@pytest.mark.scaled
def test_cancelling_a_queued_campaign_sends_nothing_when_a_worker_starts_later(
    start_service: MakeService,
    make_logged_worker: Callable[[LiveService, str], LoggedWorker],
    sandbox: SandboxServer,
) -> None:
    service = start_service(BULK_SYNC_LIMIT="1000")
    response = service.send({"recipients": numbers(3000), "message": TEXT})
    assert response.status_code == 202
    campaign_id = response.json()["id"]

    cancelled = post(service, f"/{campaign_id}/cancel")

    assert cancelled.status_code == 202
    assert cancelled.json()["cancelled_batches"] == 3
    assert cancelled.json()["state"] == "cancelled"
    assert batch_states(cancelled.json()) == {"cancelled": 3}
    assert cancelled.json()["submission"]["cancelled"] == 3000
    assert account_errors(cancelled.json()) == []
    assert post(service, f"/{campaign_id}/cancel").status_code == 409

    # The worker still gets the campaign's queue message, and sends nothing.
    worker = make_logged_worker(service, "late").start()
    worker.wait_for_line(r"send_campaign: \S+ executed")

    assert sandbox.requests() == []
    assert batch_states(service.campaign(campaign_id)) == {"cancelled": 3}


# --- stopping a worker -----------------------------------------------------------


@pytest.mark.scaled
@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"]
)
def test_a_stopped_worker_exits_at_once_and_leaves_batches_waiting_for_a_turn_pending(
    start_service: MakeService,
    make_worker: MakeWorker,
    sandbox: SandboxServer,
    signum: signal.Signals,
) -> None:
    # At 0.5 MPS the pacer lets 2,700 messages go per window of Plivo's message
    # expiry: two batches leave at once, and the next would wait 90 minutes for
    # a turn. Four sending threads: four batches are taken and wait.
    service = start_service(
        BULK_SYNC_LIMIT="1000", SEND_CONCURRENCY="4", PLIVO_ACCOUNT_MPS="0.5"
    )
    recipients = numbers(8000)
    response = service.send({"recipients": recipients, "message": TEXT})
    assert response.status_code == 202
    campaign_id = response.json()["id"]

    first = make_worker(service).start()
    waiting = wait_for(
        service,
        campaign_id,
        lambda c: batch_states(c) == {"submitted": 2, "sending": 4, "pending": 2},
        timeout=30,
    )
    assert waiting["submission"]["sending"] == 4000

    assert first.process is not None
    signalled = time.monotonic()
    first.process.send_signal(signum)
    first.process.wait(timeout=15)
    # Heroku and systemd follow SIGTERM with SIGKILL some 30 s later.
    assert time.monotonic() - signalled < 5
    assert first.process.returncode == 0

    # The batches that were waiting are given back, not taken for lost.
    stopped = service.campaign(campaign_id)
    assert batch_states(stopped) == {"submitted": 2, "pending": 6}
    assert stopped["submission"]["pending"] == 6000
    assert stopped["submission"]["submitted"] == 2000
    assert account_errors(stopped) == []
    assert len(sandbox.destinations()) == 2000

    # The next worker, with room for the whole campaign, sends the rest.
    roomier = replace(service, config={**service.config, "PLIVO_ACCOUNT_MPS": "10"})
    make_worker(roomier).start()
    campaign = wait_for(service, campaign_id, settled, timeout=30)

    assert batch_states(campaign) == {"submitted": 8}
    assert campaign["submission"]["submitted"] == 8000
    assert sandbox.destinations() == dict.fromkeys(recipients, 1)
    assert len(sandbox.requests()) == 8
    assert account_errors(campaign) == []


# --- two workers -----------------------------------------------------------------


@pytest.mark.scaled
def test_two_workers_on_one_campaign_never_take_the_same_batch(
    start_service: MakeService,
    make_logged_worker: Callable[[LiveService, str], LoggedWorker],
    sandbox: SandboxServer,
) -> None:
    sandbox.set_faults(latency=0.3)
    # One queue thread each: a worker busy with one queue message leaves the
    # next to the other worker.
    service = start_service(
        BULK_SYNC_LIMIT="1000", SEND_CONCURRENCY="2", WORKER_THREADS="1"
    )
    recipients = numbers(16_000)
    response = service.send({"recipients": recipients, "message": TEXT})
    assert response.status_code == 202
    # On the queue twice, as when recovery re-queues a campaign that looked
    # idle: each worker takes one message and works on the same campaign.
    queue_of(service).enqueue(response.json()["id"])

    workers = [make_logged_worker(service, name) for name in ("a", "b")]
    for worker in workers:
        worker.start()
    campaign = wait_for(service, response.json()["id"], settled)

    assert batch_states(campaign) == {"submitted": 16}
    assert {b["attempts"] for b in campaign["batches"]} == {1}
    assert sandbox.destinations() == dict.fromkeys(recipients, 1)
    assert len(sandbox.requests()) == 16
    first, second = (worker.submitted_batches() for worker in workers)
    assert first and second
    assert first.isdisjoint(second)
    assert first | second == set(range(16))


# --- pacing ----------------------------------------------------------------------


@pytest.mark.scaled
def test_requests_to_plivo_stay_within_plivo_api_rps_when_the_database_stalls(
    start_service: MakeService, make_worker: MakeWorker, sandbox: SandboxServer
) -> None:
    service = start_service(PLIVO_API_RPS="2", BULK_SYNC_LIMIT="1000")
    response = service.send({"recipients": numbers(8000), "message": TEXT})
    assert response.status_code == 202

    make_worker(service).start()
    eventually(lambda: len(sandbox.requests()) >= 2, "the first requests")
    # Turns granted while the database is stuck must not all go out when it
    # recovers: the pace holds at the sandbox, not only inside the pacer.
    stall_database(service, 1.5)
    wait_for(service, response.json()["id"], settled)

    arrivals = [entry["received_at"] for entry in sandbox.requests()]
    assert len(arrivals) == 8
    # Any three requests in a row span a second: never three in one second.
    spans = [b - a for a, b in zip(arrivals, arrivals[2:], strict=False)]
    assert min(spans) >= 1.0 - PACING_SLACK, spans
