"""The running sandbox: its settings, its random draws, its records and reports.

One :class:`SandboxState` lives in a sandbox app's ``extensions``; the views only
parse a request and call it.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar

from bulksms.rates import RateTable

from .config import (
    FAULT_FIELDS,
    Fault,
    MessageStatus,
    SandboxConfig,
    SandboxConfigError,
)
from .ledger import Ledger, MessageRecord, RequestLog
from .messages import SendRequest
from .reports import Callback, DeliveryReport, ReportDispatcher

T = TypeVar("T")

# Error codes Plivo gives each failed outcome. 200 (recipient opted out) is drawn
# apart, at SandboxConfig.opt_out_share, because it makes the service suppress
# the number.
ERROR_CODES: dict[str, tuple[int, ...]] = {
    MessageStatus.UNDELIVERED: (20, 30, 70, 80, 1000),
    MessageStatus.FAILED: (50, 420, 900, 1000),
    MessageStatus.REJECTED: (30, 450),
}
OPTED_OUT = 200

# Gap between the reports of one message, so that with an immediate report_delay
# they are still due in the order Plivo generates them.
_REPORT_GAP = 0.01
# Jitter on report_delay, as a share of it.
_JITTER_SHARE = 0.2
# Plivo states amounts with five decimals.
_AMOUNT_PLACES = Decimal("0.00001")
# How late a duplicated report follows the first copy, in seconds.
_DUPLICATE_LAG = (0.005, 0.05)


def _fault_rng(seed: int | None) -> random.Random:
    # Faults draw from a sequence of their own, restarted by a reset: the n-th
    # Message API request after a reset shows the same fault however many
    # messages concurrent requests drew outcomes for in between.
    return random.Random(None if seed is None else f"faults:{seed}")


def _load_rates(path: str | None) -> RateTable | None:
    """The per-destination prices of ``rates_file``, in the service's own format,
    so that what the sandbox charges can be held against the service's
    estimate; None prices every message at ``rate_per_unit``."""
    if path is None:
        return None
    try:
        # Numbers no prefix matches cost the dearest rate, as in an estimate.
        return RateTable.load(path)
    except ValueError as exc:
        raise SandboxConfigError(f"rates_file: {exc}") from exc


class SandboxState:
    """Settings, random draws, records and report queue of one sandbox."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        # Guards the config swap and the RNGs, whose draws must stay in one
        # sequence each for a seeded run to repeat.
        self._lock = threading.Lock()
        self._rng = random.Random(config.seed)
        self._fault_rng = _fault_rng(config.seed)
        # Message API requests counted for fault_first: since it was last set,
        # or since the last reset.
        self._drawn = 0
        self._stopping = threading.Event()
        self.ledger = Ledger()
        self.requests = RequestLog()
        self.reports = ReportDispatcher(lambda: self._config, config.report_workers)
        self._rates = _load_rates(config.rates_file)

    @property
    def config(self) -> SandboxConfig:
        return self._config

    def set_faults(self, changes: Mapping[str, Any]) -> SandboxConfig:
        """Apply ``changes`` to the settings; raises SandboxConfigError."""
        with self._lock:
            self._config = self._config.with_changes(changes)
            if "fault_first" in changes:
                self._drawn = 0
            return self._config

    def draw_fault(self, config: SandboxConfig) -> Fault | None:
        with self._lock:
            self._drawn += 1
            if config.fault_first and self._drawn > config.fault_first:
                return None
            roll = self._fault_rng.random()

        for fault, name in FAULT_FIELDS.items():
            share: float = getattr(config, name)
            if roll < share:
                return fault
            roll -= share

        return None

    def accept(self, send: SendRequest, config: SandboxConfig) -> list[MessageRecord]:
        """Record the destinations of ``send``, decide their fate, queue reports."""
        created_at = time.time()
        started = time.monotonic()
        reports: list[tuple[float, DeliveryReport]] = []

        with self._lock:
            messages = [
                self._new_message(number, send, config, created_at)
                for number in send.destinations
            ]
            if send.callback_url is not None:
                callback = Callback(send.callback_url, send.callback_method)
                reports = self._plan_reports(messages, callback, started, config)

        self.ledger.record(messages)
        self.reports.schedule(reports)
        return messages

    def shuffled(self, items: list[T]) -> list[T]:
        items = list(items)
        with self._lock:
            self._rng.shuffle(items)

        return items

    def pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the sandbox stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def reset(self) -> int:
        """Forget every record and drop waiting reports; how many were dropped."""
        dropped = self.reports.clear()
        self.ledger.clear()
        self.requests.clear()
        with self._lock:
            self._drawn = 0
            self._fault_rng = _fault_rng(self._config.seed)
        return dropped

    def close(self) -> None:
        self._stopping.set()
        self.reports.close(timeout=self._config.report_timeout + 1)

    def _new_message(
        self,
        number: str,
        send: SendRequest,
        config: SandboxConfig,
        created_at: float,
    ) -> MessageRecord:
        statuses = list(config.outcomes)
        weights = [config.outcomes[status] for status in statuses]
        outcome = self._rng.choices(statuses, weights)[0]
        rate = (
            Decimal(config.rate_per_unit)
            if self._rates is None
            else self._rates.rate_for(number)
        )
        total_amount = rate * send.shape.segments

        return MessageRecord(
            message_uuid=str(uuid.uuid4()),
            to_number=number,
            from_number=send.from_number,
            outcome=outcome,
            error_code=self._error_code(outcome, config),
            units=send.shape.segments,
            total_rate=str(rate),
            total_amount=str(total_amount.quantize(_AMOUNT_PLACES)),
            powerpack_uuid=send.powerpack_uuid,
            created_at=created_at,
            timeline=self._timeline(outcome, config),
        )

    def _error_code(self, outcome: str, config: SandboxConfig) -> int | None:
        codes = ERROR_CODES.get(outcome)
        if codes is None:
            return None

        opted_out = outcome != MessageStatus.REJECTED and (
            self._rng.random() < config.opt_out_share
        )
        return OPTED_OUT if opted_out else self._rng.choice(codes)

    def _timeline(
        self, outcome: str, config: SandboxConfig
    ) -> tuple[tuple[str, float], ...]:
        # Plivo never reports "sent" for a message that failed or was rejected
        # before reaching a carrier, and reports it once when it is final.
        skip_sent = outcome in (
            MessageStatus.FAILED,
            MessageStatus.REJECTED,
            MessageStatus.SENT,
        )
        statuses = [
            status
            for status in config.report_statuses
            if not (skip_sent and status == MessageStatus.SENT)
        ]
        statuses.append(outcome)

        start = config.report_delay
        if start > 0:
            start += self._rng.uniform(0, _JITTER_SHARE * start)

        return tuple(
            (status, start + index * _REPORT_GAP)
            for index, status in enumerate(statuses)
        )

    def _plan_reports(
        self,
        messages: list[MessageRecord],
        callback: Callback,
        started: float,
        config: SandboxConfig,
    ) -> list[tuple[float, DeliveryReport]]:
        planned = []
        for message in messages:
            # Drawn only below 1, so that seeded runs without the knob repeat.
            silent = config.report_share < 1 and (
                self._rng.random() >= config.report_share
            )
            if silent:
                continue

            offsets = [offset for _, offset in message.timeline]
            if config.report_shuffle:
                self._rng.shuffle(offsets)

            for sequence, offset in enumerate(offsets, start=1):
                due = started + offset
                planned.append((due, DeliveryReport(callback, message, sequence)))
                if self._rng.random() < config.report_duplicate_share:
                    lag = self._rng.uniform(*_DUPLICATE_LAG)
                    copy = DeliveryReport(callback, message, sequence)
                    planned.append((due + lag, copy))

        return planned
