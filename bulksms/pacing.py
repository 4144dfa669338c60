"""Pacing of Plivo requests, shared by every thread and process.

Two budgets, both kept by the ``limits`` library (in memory for one process, in
Redis when ``REDIS_URL`` is set, so every web and worker process draws on the
same count):

- requests per second to Plivo's API (``PLIVO_API_RPS``), well under Plivo's
  300 per 5 seconds;
- when ``PLIVO_ACCOUNT_MPS`` is set, messages per window, where the window is a
  share of Plivo's ``message_expiry``: at most MPS * window messages are handed
  to Plivo in any window, so none waits in Plivo's queue longer than the window
  and expires (error 420).

A wait for a turn can last hours under a small MPS, so it ends early, with
``Stopped``, when the caller's stop event is set. When the counters cannot be
reached, no turn is given: ``PacingUnavailable``, and no request goes out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from limits import RateLimitItemPerSecond, WindowStats
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from bulksms.errors import PacingUnavailable
from bulksms.settings import REDIS_URL, masked_url

log = logging.getLogger(__name__)

# Plivo's default message_expiry is 3 hours; a message may wait half of it.
MESSAGE_EXPIRY = 3 * 3600
EXPIRY_SHARE = 0.5

_NAMESPACE = "bulksms-plivo"

# Seconds between heartbeats while a batch waits for its turn; well inside the
# dispatcher's claim lease.
HEARTBEAT = 10.0


class Stopped(Exception):
    """A wait was cut short because the process is stopping; no request went out
    after it."""


class Pacer:
    def __init__(
        self,
        storage_uri: str,
        *,
        api_rps: float,
        account_mps: float | None,
        expiry_share: float = EXPIRY_SHARE,
    ) -> None:
        self._storage_uri = storage_uri
        self._storage = storage_from_string(storage_uri)
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._requests = RateLimitItemPerSecond(max(1, int(api_rps)))
        self._messages: RateLimitItemPerSecond | None = None
        if account_mps:
            window = max(1, int(MESSAGE_EXPIRY * expiry_share))
            self._messages = RateLimitItemPerSecond(
                max(1, int(account_mps * window)), window
            )

    def check(self) -> None:
        """Raise ``PacingUnavailable`` unless the counters can be reached."""
        if not self._storage.check():
            raise PacingUnavailable(self._unreachable())

    def _unreachable(self, reason: object = "no answer") -> str:
        return (
            f"{REDIS_URL}: cannot connect to {masked_url(self._storage_uri)}: {reason}"
        )

    def wait_for_turn(
        self,
        messages: int,
        *,
        heartbeat: Callable[[], None] | None = None,
        stop: threading.Event | None = None,
    ) -> float:
        """Block until one request carrying ``messages`` SMS may go; returns the
        seconds waited. ``heartbeat`` is called every ``HEARTBEAT`` seconds of
        waiting, so a long wait does not look like a dead sender. Raises
        ``Stopped`` as soon as ``stop`` is set while waiting."""
        stop = stop or threading.Event()
        started = time.monotonic()
        if self._messages is not None:
            # A batch larger than a whole window's budget still goes, alone.
            cost = min(messages, self._messages.amount)
            self._acquire(self._messages, cost, heartbeat, stop)
        self._acquire(self._requests, 1, heartbeat, stop)

        waited = time.monotonic() - started
        if waited > 1:
            log.info("pacing: waited %.1f s for a turn to call Plivo", waited)
        return waited

    def _acquire(
        self,
        item: RateLimitItemPerSecond,
        cost: int,
        heartbeat: Callable[[], None] | None,
        stop: threading.Event,
    ) -> None:
        last_beat = time.monotonic()
        while not self._hit(item, cost):
            stats = self._window_stats(item)
            if stop.wait(min(max(stats.reset_time - time.time(), 0.01), 1.0)):
                raise Stopped("stopped while waiting for a turn to call Plivo")
            if heartbeat is not None and time.monotonic() - last_beat > HEARTBEAT:
                heartbeat()
                last_beat = time.monotonic()

    def _hit(self, item: RateLimitItemPerSecond, cost: int) -> bool:
        try:
            return self._limiter.hit(item, _NAMESPACE, cost=cost)
        except self._storage.base_exceptions as exc:
            raise PacingUnavailable(self._unreachable(exc)) from exc

    def _window_stats(self, item: RateLimitItemPerSecond) -> WindowStats:
        try:
            return self._limiter.get_window_stats(item, _NAMESPACE)
        except self._storage.base_exceptions as exc:
            raise PacingUnavailable(self._unreachable(exc)) from exc
