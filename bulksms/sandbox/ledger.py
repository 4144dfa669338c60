"""What the sandbox accepted: destinations, their submissions and their messages;
and every Message API request with the answer it got.

Tests read it to prove that each recipient was submitted exactly once, so it
counts every accepted destination over the sandbox's whole life, across requests.
The request log shows what the SDK hides from its caller: which request was
answered 429 or 500, and when each one arrived.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from .config import MessageStatus


def format_time(moment: float | None) -> str:
    """A wall-clock time as Plivo writes it, UTC; empty when there is none."""
    if moment is None:
        return ""

    return datetime.fromtimestamp(moment, tz=UTC).isoformat(sep=" ", timespec="seconds")


@dataclass(slots=True, eq=False)
class MessageRecord:
    """One accepted destination of one request, and the fate decided for it.

    ``timeline`` lists each status the message goes through, in order, with its
    offset in seconds from ``created_at``: it drives both the delivery reports and
    the state that Get Message shows.
    """

    message_uuid: str
    to_number: str
    from_number: str
    outcome: str
    error_code: int | None
    units: int
    total_rate: str
    total_amount: str
    powerpack_uuid: str | None
    created_at: float
    timeline: tuple[tuple[str, float], ...]

    @property
    def destination(self) -> str:
        """The destination in E.164, with its ``+``."""
        return f"+{self.to_number}"

    def state_at(self, moment: float) -> str:
        """The message's status at wall-clock time ``moment``."""
        state = MessageStatus.QUEUED.value
        for status, offset in self.timeline:
            if self.created_at + offset > moment:
                break
            state = status

        return state

    def time_of(self, status: str) -> float | None:
        """Wall-clock time at which the message reaches ``status``, if it does."""
        for step, offset in self.timeline:
            if step == status:
                return self.created_at + offset

        return None


class Ledger:
    """Thread-safe record of accepted destinations and messages."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._submissions: dict[str, int] = {}
        self._latest: dict[str, MessageRecord] = {}
        self._messages: dict[str, MessageRecord] = {}

    def record(self, messages: Iterable[MessageRecord]) -> None:
        with self._lock:
            for message in messages:
                destination = message.destination
                self._submissions[destination] = (
                    self._submissions.get(destination, 0) + 1
                )
                self._latest[destination] = message
                self._messages[message.message_uuid] = message

    def message(self, message_uuid: str) -> MessageRecord | None:
        with self._lock:
            return self._messages.get(message_uuid)

    def destinations(self) -> dict[str, int]:
        """Each accepted destination and how many times it was submitted."""
        with self._lock:
            return dict(self._submissions)

    def outcomes(self) -> dict[str, dict[str, Any]]:
        """The final status decided for each destination's latest message."""
        with self._lock:
            latest = list(self._latest.values())

        return {
            message.destination: {
                "status": message.outcome,
                "error_code": message.error_code,
                "message_uuid": message.message_uuid,
            }
            for message in latest
        }

    def clear(self) -> None:
        with self._lock:
            self._submissions.clear()
            self._latest.clear()
            self._messages.clear()


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One Message API request and how the sandbox answered it.

    ``received_at`` is the wall-clock time it arrived, before any ``latency``;
    ``status`` is None when the answer was dropped (``answer_lost``);
    ``destinations`` counts the entries of ``dst``, valid or not.
    """

    api_id: str
    received_at: float
    status: int | None
    fault: str | None
    destinations: int
    callback_url: str | None


class RequestLog:
    """Thread-safe list of Message API requests, refused ones included."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def record(self, entry: RequestRecord) -> None:
        with self._lock:
            self._records.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        """Every request as JSON-ready data, in the order they arrived."""
        with self._lock:
            records = sorted(self._records, key=lambda r: r.received_at)

        return [asdict(record) for record in records]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
