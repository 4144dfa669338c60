"""Batch dispatch: takes pending batches from the store and submits them to Plivo
from a bounded thread pool.

Each batch is marked ``sending`` in its own committed transaction before its
request leaves, and settled in another after the answer, so no transaction is
held across a Plivo call and a crash in between leaves visible evidence. A 429
or a connect failure is retried with exponential backoff and jitter (honouring
``Retry-After``); a read timeout or 5xx makes the batch ``unknown``, and it is
never resent automatically.

When the process stops (``Dispatcher.stop``), batches still waiting for a pacing
turn or a retry go back to ``pending`` for the next worker, and batches not yet
taken stay there; a request already sent runs to its answer or its timeout. A
batch whose pacing turn cannot be had because Redis is down goes back too: no
request left for it, and the worker's recovery takes it up again.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from bulksms import ledger
from bulksms.errors import (
    PacingUnavailable,
    SubmissionAmbiguous,
    SubmissionError,
    SubmissionThrottled,
    SubmissionUnavailable,
)
from bulksms.gateway import PlivoGateway, Sender, Submission
from bulksms.ledger import BatchWork
from bulksms.models import utcnow
from bulksms.pacing import Pacer, Stopped
from bulksms.states import BatchState
from bulksms.store import Store

log = logging.getLogger(__name__)

SEND_ATTEMPTS = 5
MAX_RETRY_WAIT = 30.0


class Dispatcher:
    """Owns the sending thread pool; opened once per app, closed once."""

    def __init__(
        self,
        store: Store,
        gateway: PlivoGateway,
        pacer: Pacer,
        *,
        report_url: str,
        concurrency: int,
        retry_wait: float = 0.5,
    ) -> None:
        self._store = store
        self._gateway = gateway
        self._pacer = pacer
        self._report_url = report_url
        self._retry_wait = retry_wait
        self._executor = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="bulksms-send"
        )
        self._stopping = threading.Event()

    @property
    def claim_lease(self) -> timedelta:
        """How long a ``sending`` batch may go without its sender renewing the
        claim before recovery takes the sender for dead: one request's timeout
        plus the longest wait between attempts, with room to spare."""
        return timedelta(seconds=2 * (self._gateway.timeout + MAX_RETRY_WAIT))

    def check(self) -> None:
        """Raise ``PacingUnavailable`` unless a batch could get its turn now."""
        self._pacer.check()

    def dispatch(self, campaign_id: str) -> None:
        """Submit every pending batch of a campaign and wait for all outcomes."""
        with self._store.session() as session:
            pending = ledger.batch_ids_in(session, campaign_id, BatchState.PENDING)
        if not pending:
            return

        log.info("campaign %s: dispatching %d batches", campaign_id, len(pending))
        futures = [self._executor.submit(self.send_batch, b) for b in pending]
        for future in futures:
            future.result()

    def send_batch(self, batch_id: int) -> BatchState | None:
        """Claim one pending batch, submit it and record the outcome.

        Returns the state it settled in (``pending`` when it was given back
        unsent on a stop), or None when it was not pending or the dispatcher is
        stopping.
        """
        if self._stopping.is_set():
            return None

        with self._store.session() as session:
            work = ledger.claim_batch(session, batch_id)
        if work is None:
            return None

        try:
            submission = self._submit(work)
        except Stopped:
            with self._store.session() as session:
                ledger.release_batch(session, work.batch_id)
            log.info(
                "campaign %s: batch %d given back unsent, the worker is stopping",
                work.campaign_id,
                work.index,
            )
            return BatchState.PENDING
        except PacingUnavailable as exc:
            with self._store.session() as session:
                ledger.release_batch(session, work.batch_id)
            log.warning(
                "campaign %s: batch %d given back unsent, no turn to call Plivo "
                "(%s); the worker's recovery sends it later",
                work.campaign_id,
                work.index,
                exc.message,
            )
            return BatchState.PENDING
        except Exception as exc:
            if not isinstance(exc, SubmissionError):
                # A bug of ours, not Plivo's answer; the request may have left.
                log.exception("campaign %s: batch %d", work.campaign_id, work.index)
                exc = SubmissionAmbiguous(f"internal error: {type(exc).__name__}")
            ambiguous = isinstance(exc, SubmissionAmbiguous)
            state = BatchState.UNKNOWN if ambiguous else BatchState.FAILED
            with self._store.session() as session:
                ledger.settle_batch(
                    session,
                    work.batch_id,
                    state,
                    error=exc.message,
                    error_code=exc.code,
                )
            self._log_settled(work, state)
            return state

        with self._store.session() as session:
            ledger.settle_batch(
                session,
                work.batch_id,
                BatchState.SUBMITTED,
                api_id=submission.api_id,
                message_uuids=submission.message_uuids,
                invalid_numbers=submission.invalid_numbers,
            )
            ledger.mark_submitted(session, work.campaign_id, utcnow())
        self._log_settled(work, BatchState.SUBMITTED)
        return BatchState.SUBMITTED

    def _submit(self, work: BatchWork) -> Submission:
        retrying = Retrying(
            retry=retry_if_exception_type((SubmissionThrottled, SubmissionUnavailable)),
            wait=self._wait,
            sleep=self._sleep,
            stop=stop_after_attempt(SEND_ATTEMPTS),
            before_sleep=lambda state: log.warning(
                "campaign %s: batch %d attempt %d failed (%s), retrying",
                work.campaign_id,
                work.index,
                state.attempt_number,
                state.outcome.exception() if state.outcome else "",
            ),
            reraise=True,
        )
        return retrying(self._attempt, work)

    def _attempt(self, work: BatchWork) -> Submission:
        def renew_claim() -> None:
            with self._store.session() as session:
                ledger.renew_claim(session, work.batch_id)

        # The claim is renewed before and while waiting for a turn, never between
        # the turn and the request: a slow write there would let turns pile up
        # and leave together, over the rate.
        renew_claim()
        self._pacer.wait_for_turn(
            len(work.destinations) * work.segments,
            heartbeat=renew_claim,
            stop=self._stopping,
        )
        return self._gateway.send(
            work.destinations,
            work.text,
            Sender(src=work.src, powerpack_uuid=work.powerpack_uuid),
            # The batch id in the (signed) callback URL ties each report to
            # its batch even when Plivo's answer to this request is lost.
            report_url=f"{self._report_url}?batch={work.batch_id}",
        )

    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_exponential_jitter(
            multiplier=self._retry_wait, max=MAX_RETRY_WAIT
        )
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(max(backoff(state), float(retry_after)), MAX_RETRY_WAIT)
        return float(backoff(state))

    def _sleep(self, seconds: float) -> None:
        # Only a 429 or a connect failure is retried: Plivo holds nothing of
        # the batch yet, so a stop may give it back.
        if self._stopping.wait(seconds):
            raise Stopped("stopped while waiting to retry")

    def recover(self, *, restarting: bool = False) -> list[str]:
        """Settle batches whose sender died, and list the campaigns that still
        have batches waiting with nobody working on them.

        Periodically, a batch counts as abandoned once its claim is older than
        the lease. When a worker restarts, every ``sending`` batch does: the
        worker that held it is taken to be the one restarting. If another
        process was in fact still sending it, its answer overrides the guess.
        """
        idle_since = utcnow() - (timedelta(0) if restarting else self.claim_lease)
        with self._store.session() as session:
            # Listed first: settling a lost batch counts as activity on its
            # campaign, which would hide the campaign from this list.
            waiting = ledger.campaigns_with_pending_batches(session, idle_since)
            lost = ledger.recover_lost_batches(session, idle_since)

        if lost:
            log.warning(
                "recovery: %d batches were in flight when their sender stopped; "
                "they are unknown until delivery reports confirm them",
                len(lost),
            )
        return waiting

    def _log_settled(self, work: BatchWork, state: BatchState) -> None:
        log.info(
            "campaign %s: batch %d %s (%d recipients)",
            work.campaign_id,
            work.index,
            state.value,
            len(work.destinations),
        )

    def stop(self) -> None:
        """Stop waiting: batches waiting for a turn or a retry are given back,
        and no other batch is taken. Requests already sent are not cut short."""
        self._stopping.set()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._gateway.close()
