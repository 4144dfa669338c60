"""Settings of the Plivo sandbox.

A :class:`SandboxConfig` is immutable: changing settings while the sandbox runs
builds a new one with :meth:`SandboxConfig.with_changes` and swaps it in whole, so a
request or a report worker always sees one consistent set of values.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

DEFAULT_AUTH_ID = "MASANDBOX00000000000"
# A well-known token for a local fake, not a secret.
DEFAULT_AUTH_TOKEN = "sandbox-auth-token"  # noqa: S105


class MessageStatus(enum.StrEnum):
    """Plivo's words for the state of an outbound message."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    REJECTED = "rejected"


class Fault(enum.StrEnum):
    """Misbehaviours the sandbox can show on a Message API request."""

    TOO_MANY_REQUESTS = "429"
    TOO_MANY_REQUESTS_NO_RETRY_AFTER = "429_no_retry_after"
    SERVER_ERROR = "500"
    UNAVAILABLE = "503"
    SLOW = "slow"
    ANSWER_LOST = "answer_lost"


# Statuses a message can end in. "sent" stands for carriers (US, Canada) that
# never return a delivery receipt.
OUTCOME_STATUSES = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.FAILED,
        MessageStatus.REJECTED,
        MessageStatus.SENT,
    }
)
INTERMEDIATE_STATUSES = (MessageStatus.QUEUED, MessageStatus.SENT)

# The config field holding the share of requests that show each fault.
FAULT_FIELDS: dict[Fault, str] = {
    Fault.TOO_MANY_REQUESTS: "fault_429",
    Fault.TOO_MANY_REQUESTS_NO_RETRY_AFTER: "fault_429_no_retry_after",
    Fault.SERVER_ERROR: "fault_500",
    Fault.UNAVAILABLE: "fault_503",
    Fault.SLOW: "fault_slow",
    Fault.ANSWER_LOST: "fault_answer_lost",
}

_SHARE_FIELDS = (
    *FAULT_FIELDS.values(),
    "report_duplicate_share",
    "report_share",
    "opt_out_share",
)
_SECONDS_FIELDS = ("latency", "report_delay", "slow_seconds", "retry_after")
_BOOL_FIELDS = ("report_shuffle", "shuffle_uuids")

# Identity, secrets and the size of the worker pool are fixed when the sandbox
# starts; everything else may change while it runs.
FIXED_FIELDS = frozenset(
    {"auth_id", "auth_token", "main_auth_token", "report_workers", "seed", "rates_file"}
)
_SECRET_FIELDS = ("auth_token", "main_auth_token")

_E164 = re.compile(r"\+[0-9]{7,15}")


def _default_outcomes() -> dict[str, float]:
    return {"delivered": 0.9, "undelivered": 0.05, "failed": 0.05}


class SandboxConfigError(ValueError):
    """A setting has an unknown name or a value the sandbox cannot use."""


@dataclass(frozen=True)
class SandboxConfig:
    """How the sandbox answers, reports and misbehaves.

    Shares are probabilities in [0, 1]; ``outcomes`` holds relative weights of the
    final statuses. Durations are seconds. ``opt_out_share`` is the share of
    undelivered and failed messages given error 200 (recipient opted out), kept
    low because the service suppresses those numbers. ``fault_destinations``
    lists E.164 numbers: a Message API request whose ``dst`` holds one of them is
    refused whole with 400, so a test can fail one chosen batch and no other.

    ``report_share`` is the share of accepted messages that get delivery reports
    at all, drawn per message with the seed; the others stay silent, as if the
    carrier never answered. A small share keeps tests of very large campaigns
    fast while every batch of 1,000 still gets some reports. ``fault_first``,
    when above 0, limits the fault shares to the first that many Message API
    requests, counted from when it is set or the sandbox is reset; later
    requests show no drawn fault. With ``fault_429=1.0`` and ``fault_first=4``
    exactly the first four requests are answered 429.
    """

    auth_id: str = DEFAULT_AUTH_ID
    auth_token: str = DEFAULT_AUTH_TOKEN
    main_auth_token: str | None = None
    latency: float = 0.0
    outcomes: dict[str, float] = field(default_factory=_default_outcomes)
    report_statuses: tuple[str, ...] = ("queued", "sent")
    report_delay: float = 0.0
    report_duplicate_share: float = 0.0
    report_share: float = 1.0
    report_shuffle: bool = False
    report_retry_delays: tuple[float, ...] = (60.0, 120.0, 240.0)
    report_timeout: float = 8.0
    report_workers: int = 8
    shuffle_uuids: bool = True
    rate_per_unit: str = "0.00650"
    rates_file: str | None = None
    seed: int | None = None
    opt_out_share: float = 0.02
    fault_429: float = 0.0
    fault_429_no_retry_after: float = 0.0
    fault_500: float = 0.0
    fault_503: float = 0.0
    fault_slow: float = 0.0
    fault_answer_lost: float = 0.0
    fault_destinations: tuple[str, ...] = ()
    fault_first: int = 0
    slow_seconds: float = 10.0
    retry_after: float = 1.0

    def __post_init__(self) -> None:
        # Callers pass lists (JSON) and dicts they keep using; keep our own
        # copies so that the frozen config cannot change under a running sandbox.
        object.__setattr__(self, "outcomes", _check_outcomes(self.outcomes))
        object.__setattr__(
            self, "report_statuses", _check_report_statuses(self.report_statuses)
        )
        object.__setattr__(
            self, "report_retry_delays", _check_delays(self.report_retry_delays)
        )
        object.__setattr__(
            self, "fault_destinations", _check_numbers(self.fault_destinations)
        )
        for name in (*_SHARE_FIELDS, *_SECONDS_FIELDS, "report_timeout"):
            object.__setattr__(self, name, _check_number(name, getattr(self, name)))

        for name in _BOOL_FIELDS:
            if not isinstance(getattr(self, name), bool):
                raise SandboxConfigError(f"{name} must be true or false")

        self._check_identity()
        self._check_ranges()

    @property
    def main_token(self) -> str:
        """Key of the -Ma- signatures: the main account's token."""
        return self.main_auth_token or self.auth_token

    def with_changes(self, changes: Mapping[str, Any]) -> SandboxConfig:
        """A copy with ``changes`` applied, refusing unknown and fixed names."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise SandboxConfigError(f"unknown settings: {', '.join(unknown)}")

        fixed = sorted(set(changes) & FIXED_FIELDS)
        if fixed:
            raise SandboxConfigError(f"settings fixed at start: {', '.join(fixed)}")

        return dataclasses.replace(self, **changes)

    def public_settings(self) -> dict[str, Any]:
        """The settings as JSON-ready data, secrets left out."""
        settings = dataclasses.asdict(self)
        for name in _SECRET_FIELDS:
            settings.pop(name)

        settings["report_statuses"] = list(self.report_statuses)
        settings["report_retry_delays"] = list(self.report_retry_delays)
        settings["fault_destinations"] = list(self.fault_destinations)
        return settings

    def _check_identity(self) -> None:
        # The plivo SDK refuses any other shape before sending a request.
        if len(self.auth_id) != 20 or self.auth_id[:2] not in ("MA", "SA"):
            raise SandboxConfigError(
                "auth_id must be 20 characters starting with MA or SA"
            )

        if not self.auth_token:
            raise SandboxConfigError("auth_token must not be empty")

        if not isinstance(self.report_workers, int) or self.report_workers < 1:
            raise SandboxConfigError("report_workers must be a positive integer")

        try:
            rate = Decimal(self.rate_per_unit)
        except (InvalidOperation, TypeError) as exc:
            raise SandboxConfigError("rate_per_unit must be a decimal string") from exc

        if not rate.is_finite() or rate < 0:
            raise SandboxConfigError("rate_per_unit must be zero or more")

    def _check_ranges(self) -> None:
        for name in _SHARE_FIELDS:
            if getattr(self, name) > 1:
                raise SandboxConfigError(f"{name} must be between 0 and 1")

        fault_total = sum(getattr(self, name) for name in FAULT_FIELDS.values())
        if fault_total > 1 + 1e-9:
            raise SandboxConfigError("fault shares must add up to 1 at most")

        if self.report_timeout <= 0:
            raise SandboxConfigError("report_timeout must be more than 0")

        first = self.fault_first
        if isinstance(first, bool) or not isinstance(first, int) or first < 0:
            raise SandboxConfigError("fault_first must be a whole number, 0 or more")


def _check_number(name: str, value: Any) -> float:
    # bool is an int subclass; true/false in JSON is never a meant number.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SandboxConfigError(f"{name} must be a number")

    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise SandboxConfigError(f"{name} must be a finite number, 0 or more")

    return number


def _check_outcomes(outcomes: Any) -> dict[str, float]:
    if not isinstance(outcomes, Mapping) or not outcomes:
        raise SandboxConfigError("outcomes must map final statuses to shares")

    unknown = sorted(str(name) for name in outcomes if name not in OUTCOME_STATUSES)
    if unknown:
        raise SandboxConfigError(
            f"outcomes: unknown statuses {', '.join(unknown)}; use "
            f"{', '.join(sorted(OUTCOME_STATUSES))}"
        )

    checked = {
        str(name): _check_number(f"outcomes.{name}", share)
        for name, share in outcomes.items()
    }
    if sum(checked.values()) <= 0:
        raise SandboxConfigError("outcomes must have at least one share above 0")

    return checked


def _check_report_statuses(statuses: Any) -> tuple[str, ...]:
    if isinstance(statuses, str) or not isinstance(statuses, list | tuple):
        raise SandboxConfigError("report_statuses must be a list of statuses")

    for status in statuses:
        if status not in INTERMEDIATE_STATUSES:
            raise SandboxConfigError(
                f"report_statuses: {status!r} is not one of queued, sent"
            )

    if len(set(statuses)) != len(statuses):
        raise SandboxConfigError("report_statuses must not repeat a status")

    # Plivo reports queued before sent whatever order they were listed in.
    return tuple(s.value for s in INTERMEDIATE_STATUSES if s in statuses)


def _check_delays(delays: Any) -> tuple[float, ...]:
    if isinstance(delays, str) or not isinstance(delays, list | tuple):
        raise SandboxConfigError("report_retry_delays must be a list of seconds")

    return tuple(_check_number("report_retry_delays", delay) for delay in delays)


def _check_numbers(numbers: Any) -> tuple[str, ...]:
    if isinstance(numbers, str) or not isinstance(numbers, list | tuple):
        raise SandboxConfigError("fault_destinations must be a list of E.164 numbers")

    for number in numbers:
        if not isinstance(number, str) or not _E164.fullmatch(number):
            raise SandboxConfigError(
                f"fault_destinations: {number!r} is not an E.164 number"
            )

    return tuple(numbers)
