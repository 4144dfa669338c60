"""Posting signed delivery reports back to the callback URL of each message.

Reports wait in one heap ordered by the time they are due; a fixed pool of worker
threads takes them out and posts them, so 50,000 destinations never mean more
threads, and the Message API answer never waits for a report.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import requests

from .config import MessageStatus, SandboxConfig
from .ledger import MessageRecord, format_time
from .signing import signature_headers

logger = logging.getLogger(__name__)

FINAL_STATUSES = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.FAILED,
        MessageStatus.REJECTED,
    }
)
_FAILURE_STATUSES = frozenset(
    {MessageStatus.UNDELIVERED, MessageStatus.FAILED, MessageStatus.REJECTED}
)

# Mobile country and network codes by calling code; the sandbox has no carrier
# data, so every number of a country gets that country's first big network.
_NETWORKS = {
    "1": ("310", "260"),
    "44": ("234", "10"),
    "49": ("262", "01"),
    "33": ("208", "01"),
    "91": ("404", "45"),
    "61": ("505", "01"),
}
_UNKNOWN_NETWORK = ("000", "00")

_USER_AGENT = "bulksms-sandbox"


@dataclass(slots=True, eq=False)
class Callback:
    """Where the reports of one request go; shared by all its messages."""

    url: str
    method: str


@dataclass(slots=True, eq=False)
class DeliveryReport:
    """One status callback of one message, and how often it was attempted."""

    callback: Callback
    message: MessageRecord
    sequence: int
    attempt: int = 0
    generation: int = 0

    @property
    def status(self) -> str:
        return self.message.timeline[self.sequence - 1][0]

    def fields(self) -> dict[str, str]:
        """The form fields Plivo posts for this report."""
        message = self.message
        status = self.status
        event_time = message.created_at + message.timeline[self.sequence - 1][1]
        mcc, mnc = _network(message.to_number)
        fields = {
            "MessageUUID": message.message_uuid,
            "ParentMessageUUID": message.message_uuid,
            "To": message.to_number,
            "From": message.from_number,
            "Status": status,
            "Units": str(message.units),
            "TotalRate": message.total_rate,
            "TotalAmount": message.total_amount,
            "MCC": mcc,
            "MNC": mnc,
            "Sequence": str(self.sequence),
            "PartInfo": "1 of 1",
            "MessageTime": format_time(message.created_at),
            "QueuedTime": format_time(message.created_at),
            "SentTime": format_time(_sent_time(message, status, event_time)),
            "DeliveryReportTime": format_time(
                event_time if status in FINAL_STATUSES else None
            ),
            "PowerpackUUID": message.powerpack_uuid or "",
            "Type": "sms",
        }
        if status in _FAILURE_STATUSES and message.error_code is not None:
            fields["ErrorCode"] = str(message.error_code)

        return fields


class ReportDispatcher:
    """A heap of due reports drained by ``workers`` threads, started on first use.

    ``settings`` is read on every post, so retry delays and the timeout changed
    while running apply to the reports still waiting.
    """

    def __init__(self, settings: Callable[[], SandboxConfig], workers: int) -> None:
        self._settings = settings
        self._worker_count = workers
        self._wakeup = threading.Condition()
        self._heap: list[tuple[float, int, DeliveryReport]] = []
        self._order = itertools.count()
        self._threads: list[threading.Thread] = []
        self._generation = 0
        self._closed = False
        self._in_flight = 0
        self._posted = 0
        self._retried = 0
        self._given_up = 0

    def schedule(self, reports: Iterable[tuple[float, DeliveryReport]]) -> None:
        """Queue reports, each with its due time on the ``time.monotonic`` clock."""
        pending = list(reports)
        if not pending:
            return

        with self._wakeup:
            if self._closed:
                return

            for due, report in pending:
                report.generation = self._generation
                heapq.heappush(self._heap, (due, next(self._order), report))

            if not self._threads:
                self._start_workers()

            self._wakeup.notify_all()

    def clear(self) -> int:
        """Drop every waiting report, and the retries of those in flight."""
        with self._wakeup:
            dropped = len(self._heap)
            self._heap.clear()
            self._generation += 1
            return dropped

    def stats(self) -> dict[str, int]:
        with self._wakeup:
            return {
                "pending": len(self._heap) + self._in_flight,
                "posted": self._posted,
                "retried": self._retried,
                "given_up": self._given_up,
            }

    def close(self, timeout: float) -> None:
        """Stop the workers; a post in progress may take up to ``timeout``."""
        with self._wakeup:
            self._closed = True
            self._heap.clear()
            self._wakeup.notify_all()
            threads = list(self._threads)

        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

        still_running = sum(thread.is_alive() for thread in threads)
        if still_running:
            logger.warning(
                "report workers: %d still posting after %.1fs, left behind",
                still_running,
                timeout,
            )

    def _start_workers(self) -> None:
        for index in range(self._worker_count):
            thread = threading.Thread(
                target=self._work, name=f"sandbox-reports-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        session = requests.Session()
        session.headers["User-Agent"] = _USER_AGENT
        try:
            while (report := self._next_due()) is not None:
                self._deliver(session, report)
        finally:
            session.close()

    def _next_due(self) -> DeliveryReport | None:
        with self._wakeup:
            while not self._closed:
                if not self._heap:
                    self._wakeup.wait()
                    continue

                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._wakeup.wait(wait)
                    continue

                self._in_flight += 1
                return heapq.heappop(self._heap)[2]

            return None

    def _deliver(self, session: requests.Session, report: DeliveryReport) -> None:
        config = self._settings()
        failure = _post(session, report, config)

        with self._wakeup:
            self._in_flight -= 1
            if failure is None:
                self._posted += 1
                return

            if self._closed or report.generation != self._generation:
                return

            delay = self._requeue(report, config.report_retry_delays)

        if delay is None:
            logger.warning(
                "report %s seq %d: %s, given up after %d attempts",
                report.message.message_uuid,
                report.sequence,
                failure,
                report.attempt + 1,
            )
        else:
            logger.warning(
                "report %s seq %d: %s, retry %d in %.2fs",
                report.message.message_uuid,
                report.sequence,
                failure,
                report.attempt,
                delay,
            )

    def _requeue(
        self, report: DeliveryReport, delays: tuple[float, ...]
    ) -> float | None:
        """Put a failed report back for its next retry; None when none is left."""
        if report.attempt >= len(delays):
            self._given_up += 1
            return None

        delay = delays[report.attempt]
        report.attempt += 1
        self._retried += 1
        due = time.monotonic() + delay
        heapq.heappush(self._heap, (due, next(self._order), report))
        self._wakeup.notify_all()
        return delay


def _post(
    session: requests.Session, report: DeliveryReport, config: SandboxConfig
) -> str | None:
    """Post one report; the reason it failed, or None on a 2xx answer."""
    callback = report.callback
    fields = report.fields()
    headers = signature_headers(
        callback.url, callback.method, fields, config.auth_token, config.main_token
    )
    try:
        if callback.method == "GET":
            response = session.get(
                callback.url,
                params=fields,
                headers=headers,
                timeout=config.report_timeout,
            )
        else:
            response = session.post(
                callback.url,
                data=fields,
                headers=headers,
                timeout=config.report_timeout,
            )
    except requests.RequestException as exc:
        return type(exc).__name__

    response.close()
    if 200 <= response.status_code < 300:
        return None

    return f"HTTP {response.status_code}"


def _sent_time(message: MessageRecord, status: str, event_time: float) -> float | None:
    """When the message left for the carrier, as far as ``status`` tells."""
    if status in (MessageStatus.QUEUED, MessageStatus.FAILED, MessageStatus.REJECTED):
        return None

    # With intermediate reports switched off a final report still implies a send.
    sent_time = message.time_of(MessageStatus.SENT)
    return event_time if sent_time is None else sent_time


def _network(number: str) -> tuple[str, str]:
    for length in (1, 2, 3):
        network = _NETWORKS.get(number[:length])
        if network is not None:
            return network

    return _UNKNOWN_NETWORK
