"""The campaigns service: intake, dispatch and the campaign's account.

Intake commits the campaign, every recipient and every batch before the first
Plivo call. Dispatch then works only from the store, so the request thread and a
queue worker run the same code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bulksms import ledger
from bulksms.dispatch import Dispatcher
from bulksms.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    NothingToSend,
    QueueUnavailable,
    Unavailable,
)
from bulksms.intake import SendRequest
from bulksms.models import Batch, Campaign, Recipient, Suppression, utcnow
from bulksms.queue import CampaignQueue
from bulksms.rates import RateTable
from bulksms.recipients import Bucket, is_landline, sort_recipients
from bulksms.recipients import Recipient as SortedRecipient
from bulksms.segments import GsmSafeResult, analyse, check_limits, make_gsm_safe
from bulksms.settings import Settings
from bulksms.states import BatchState, CampaignState, DeliveryStatus, SubmissionState
from bulksms.store import Store

log = logging.getLogger(__name__)

EXTENSION = "bulksms.campaigns"

# Statuses after which no report can change a recipient any more.
FINAL_STATUSES = frozenset(
    {
        DeliveryStatus.DELIVERED.value,
        DeliveryStatus.UNDELIVERED.value,
        DeliveryStatus.FAILED.value,
        DeliveryStatus.REJECTED.value,
        DeliveryStatus.NO_REPORT.value,
    }
)

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_campaign_id() -> str:
    """A time-ordered id in the ULID layout: 48 bits of milliseconds, 80 random."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10))
    digits = []
    for _ in range(26):
        digits.append(_CROCKFORD[value & 31])
        value >>= 5
    return "cmp_" + "".join(reversed(digits))


@dataclass(frozen=True)
class Created:
    campaign_id: str
    replayed: bool = False
    gsm_safe: GsmSafeResult | None = None


class CampaignService:
    def __init__(
        self,
        store: Store,
        dispatcher: Dispatcher,
        queue: CampaignQueue,
        rates: RateTable,
        settings: Settings,
    ) -> None:
        self._store = store
        self._dispatcher = dispatcher
        self._queue = queue
        self._rates = rates
        self._settings = settings

    def create(
        self, request: SendRequest, idempotency_key: str | None = None
    ) -> Created:
        """Store a campaign with all its recipients and batches, then send it.

        With an ``idempotency_key`` seen before, the earlier campaign is returned
        and nothing is sent again; the same key with another body is a conflict.
        """
        text, conversion = _text_to_send(request)
        facts = analyse(text)
        check_limits(facts)
        digest = _digest(request)

        if idempotency_key:
            earlier = self._replay(idempotency_key, digest)
            if earlier:
                return replace(earlier, gsm_safe=conversion)

        self._check_reachable("nothing was stored: send the campaign again later")
        campaign = Campaign(
            id=new_campaign_id(),
            text=text,
            region=request.region,
            encoding=facts.encoding.value,
            characters=facts.characters,
            units=facts.units,
            segments=facts.segments,
            idempotency_key=idempotency_key,
            request_digest=digest,
            **self._sender(request),
        )

        try:
            with self._store.session() as session:
                self._take_in(session, campaign, request)
        except IntegrityError:
            # Another request with the same key committed first.
            if idempotency_key and (earlier := self._replay(idempotency_key, digest)):
                return earlier
            raise

        log.info(
            "campaign %s: accepted %d of %d recipients in %d batches",
            campaign.id,
            campaign.accepted,
            campaign.received,
            -(-campaign.accepted // ledger.BATCH_SIZE),
        )
        self._send(campaign.id, campaign.accepted)
        return Created(campaign.id, gsm_safe=conversion)

    def _check_reachable(self, outcome: str) -> None:
        """Refuse with 503 while Redis is down, before anything is stored: a
        campaign taken in then would wait for the worker's recovery while its
        caller, told to try again, sends it a second time."""
        try:
            self._queue.check()
            self._dispatcher.check()
        except Unavailable as exc:
            log.warning("refusing to send: %s", exc.message)
            what = "queue" if isinstance(exc, QueueUnavailable) else "pacing storage"
            raise type(exc)(f"the {what} is unreachable; {outcome}") from exc

    def _send(self, campaign_id: str, recipients: int) -> None:
        # Small lists go out inside the request; large ones would outlast any
        # HTTP timeout, so the worker takes them.
        if recipients <= self._settings.bulk_sync_limit:
            self._dispatcher.dispatch(campaign_id)
            return

        try:
            self._queue.enqueue(campaign_id)
        except QueueUnavailable as exc:
            # Redis went down since the check: the campaign is stored with its
            # batches pending, which is all the worker's recovery needs.
            log.warning(
                "campaign %s: not queued (%s); the worker's recovery queues it",
                campaign_id,
                exc.message,
            )

    def retry(self, campaign_id: str, *, include_unknown: bool) -> int:
        """Resend the recipients of failed batches and, with ``include_unknown``,
        of unknown batches that no report confirmed within the grace period.

        Resending an unknown batch may send its recipients a second message:
        that is the operator's explicit choice, never the service's.
        """
        grace = timedelta(seconds=self._settings.retry_unknown_after)
        self._check_reachable("no batch was reset: retry later")
        with self._store.session() as session:
            self._get(session, campaign_id)
            reset = ledger.reset_batches(
                session,
                campaign_id,
                include_unknown_before=utcnow() - grace if include_unknown else None,
            )
            recipients = ledger.pending_recipients(session, campaign_id)
        if not reset:
            raise Conflict(
                "nothing to retry: no failed batches"
                + (
                    f", and no unknown batch older than {grace}"
                    if include_unknown
                    else ""
                )
            )

        log.info("campaign %s: retrying %d batches", campaign_id, reset)
        self._send(campaign_id, recipients)
        return reset

    def cancel(self, campaign_id: str) -> int:
        """Cancel the batches not yet taken for sending."""
        with self._store.session() as session:
            self._get(session, campaign_id)
            cancelled = ledger.cancel_batches(session, campaign_id)
        if not cancelled:
            raise Conflict("nothing to cancel: no batch is waiting to be sent")

        log.info("campaign %s: cancelled %d batches", campaign_id, cancelled)
        return cancelled

    def _get(self, session: Session, campaign_id: str) -> Campaign:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFound(f"no campaign with id {campaign_id!r}")
        return campaign

    def _take_in(
        self, session: Session, campaign: Campaign, request: SendRequest
    ) -> None:
        recipients = self._sort(session, request, campaign.sender)
        ledger.save_recipients(session, campaign, recipients)

        if campaign.accepted == 0:
            # Raising rolls the whole intake back: an unsendable list stores nothing.
            raise NothingToSend(
                "no recipient can be sent to: every entry is invalid, a duplicate "
                "or suppressed",
                details={
                    "received": campaign.received,
                    "invalid": campaign.invalid,
                    "duplicates": campaign.duplicates,
                    "suppressed": campaign.suppressed,
                    **_rejected(
                        ledger.rejected(session, campaign.id),
                        campaign.invalid + campaign.suppressed,
                    ),
                },
            )

    def _sort(
        self, session: Session, request: SendRequest, sender: str | None
    ) -> Iterator[SortedRecipient]:
        suppressed = set(session.scalars(select(Suppression.e164)))
        return sort_recipients(
            request.recipients,
            region=request.region,
            sender=sender,
            is_suppressed=suppressed.__contains__,
            exclude_landlines=request.exclude_landlines,
        )

    def estimate(self, request: SendRequest) -> dict[str, Any]:
        """What a send of ``request`` would do and cost, without sending or
        storing anything."""
        text, conversion = _text_to_send(request)
        facts = analyse(text)
        check_limits(facts)

        counts = dict.fromkeys(Bucket, 0)
        rejected: list[dict[str, str | None]] = []
        accepted: list[str] = []
        landlines: list[str] = []
        sender = self._sender(request)["sender"]
        with self._store.session() as session:
            for recipient in self._sort(session, request, sender):
                counts[recipient.bucket] += 1
                if recipient.bucket is Bucket.ACCEPTED and recipient.e164:
                    accepted.append(recipient.e164)
                    if is_landline(recipient.e164):
                        landlines.append(recipient.e164)
                elif (
                    recipient.bucket in ledger.REJECTED_BUCKETS
                    and len(rejected) < ledger.REJECTED_SHOWN
                ):
                    rejected.append(
                        {"input": recipient.input, "reason": recipient.reason}
                    )

        recipients = {
            "received": sum(counts.values()),
            "accepted": counts[Bucket.ACCEPTED],
            "duplicates": counts[Bucket.DUPLICATE],
            "suppressed": counts[Bucket.SUPPRESSED],
            "invalid": counts[Bucket.INVALID],
            **_rejected(rejected, counts[Bucket.INVALID] + counts[Bucket.SUPPRESSED]),
            # Fixed-line numbers usually cannot receive SMS; "exclude_landlines"
            # on the send drops them.
            "landlines": {
                "count": len(landlines),
                "numbers": landlines[: ledger.REJECTED_SHOWN],
            },
        }
        if not accepted:
            raise NothingToSend(
                "no recipient can be sent to: every entry is invalid, a duplicate "
                "or suppressed",
                details=recipients,
            )

        batches = -(-len(accepted) // ledger.BATCH_SIZE)
        messages = len(accepted) * facts.segments
        mps = self._settings.plivo_account_mps
        return {
            "recipients": recipients,
            "message": facts.to_dict(),
            "gsm_safe": conversion.to_dict() if conversion else None,
            "segments": {"per_recipient": facts.segments, "total": messages},
            "cost": self._rates.estimate(accepted, facts.segments).to_dict(),
            "duration": {
                "batches": batches,
                "submission_seconds": round(batches / self._settings.plivo_api_rps, 1),
                # Plivo releases queued messages at the account's rate.
                "delivery_seconds": round(messages / mps, 1) if mps else None,
            },
        }

    def _replay(self, key: str, digest: str) -> Created | None:
        with self._store.session() as session:
            earlier = session.scalar(
                select(Campaign).where(Campaign.idempotency_key == key)
            )
        if earlier is None:
            return None
        if earlier.request_digest != digest:
            raise Conflict(
                "this Idempotency-Key was used for a different request",
                details={"campaign": earlier.id},
            )
        return Created(earlier.id, replayed=True)

    def _sender(self, request: SendRequest) -> dict[str, str | None]:
        if request.sender:
            return {"sender": request.sender, "powerpack_uuid": None}
        return {
            "sender": self._settings.plivo_sender_id,
            "powerpack_uuid": None
            if self._settings.plivo_sender_id
            else self._settings.plivo_powerpack_uuid,
        }

    def describe(self, campaign_id: str) -> dict[str, Any]:
        """The campaign's account as the API shows it: counts that add up."""
        with self._store.session() as session:
            campaign = self._get(session, campaign_id)
            # The report-timeout sweep runs where the state is read, so a
            # campaign completes on time even with no worker running; it is a
            # conditional update and safe to repeat.
            ledger.expire_reports(session, campaign_id, self._settings.report_timeout)
            batches = ledger.batches(session, campaign_id)
            tally = ledger.tally(session, campaign_id)
            rejected = ledger.rejected(session, campaign_id)
            units, amount = session.execute(
                select(func.sum(Recipient.units), func.sum(Recipient.amount)).where(
                    Recipient.campaign_id == campaign_id
                )
            ).one()

        state = campaign_state(batches, tally)
        return {
            "id": campaign.id,
            "state": state.value,
            "sender": campaign.sender or campaign.powerpack_uuid,
            "recipients": {
                "received": campaign.received,
                "accepted": campaign.accepted,
                "duplicates": campaign.duplicates,
                "suppressed": campaign.suppressed,
                "invalid": campaign.invalid,
                **_rejected(rejected, campaign.invalid + campaign.suppressed),
            },
            "message": analyse(campaign.text).to_dict(),
            "batches": [_batch_view(b) for b in batches],
            "submission": tally.submissions,
            "statuses": tally.statuses,
            "cost": {"amount": f"{amount or 0:.4f}", "units": units or 0},
            "created_at": _timestamp(campaign.created_at),
            "submitted_at": _timestamp(campaign.submitted_at),
            "links": {
                "self": f"/api/bulk-sms/{campaign.id}",
                "recipients": f"/api/bulk-sms/{campaign.id}/recipients",
                "rejected": f"/api/bulk-sms/{campaign.id}/recipients?status="
                + ",".join(ledger.REJECTED_BUCKETS),
            },
        }

    def recipients(
        self, campaign_id: str, status: str | None, page: int, per_page: int
    ) -> dict[str, Any]:
        """One page of the campaign's recipients, optionally of some statuses
        (``invalid,suppressed``)."""
        statuses = status.split(",") if status else []
        if not set(statuses) <= set(ledger.RECIPIENT_FILTERS):
            raise InvalidRequest(
                "'status' must be one or more, comma-separated, of: "
                + ", ".join(ledger.RECIPIENT_FILTERS)
            )

        with self._store.session() as session:
            self._get(session, campaign_id)
            condition = ledger.recipient_filter(statuses) if statuses else None
            total, rows = ledger.recipients_page(
                session,
                campaign_id,
                condition,
                offset=(page - 1) * per_page,
                limit=per_page,
            )

        pages = -(-total // per_page)
        # Past the last page, the way back is the last page, not the one before.
        previous = min(page - 1, pages)
        base = f"/api/bulk-sms/{campaign_id}/recipients?per_page={per_page}"
        base += f"&status={status}" if status else ""
        return {
            "recipients": [_recipient_view(r) for r in rows],
            "page": page,
            "per_page": per_page,
            "total": total,
            "pages": pages,
            "links": {
                "next": f"{base}&page={page + 1}" if page < pages else None,
                "prev": f"{base}&page={previous}" if previous else None,
            },
        }


def _rejected(listed: list[dict[str, str | None]], count: int) -> dict[str, Any]:
    """The first rejected inputs, and whether the ``count`` of them is more than
    the list holds."""
    return {"rejected": listed, "rejected_truncated": count > len(listed)}


def _recipient_view(recipient: Recipient) -> dict[str, Any]:
    return {
        "position": recipient.position,
        "input": recipient.input,
        "e164": recipient.e164,
        "bucket": recipient.bucket,
        "reason": recipient.reason,
        "submission": recipient.submission,
        "status": recipient.status,
        "error_code": recipient.error_code,
        "message_uuid": recipient.message_uuid,
        "units": recipient.units,
        "amount": f"{recipient.amount:.5f}" if recipient.amount is not None else None,
    }


def campaign_state(batches: list[Batch], tally: ledger.Tally) -> CampaignState:
    """Derive the campaign's state from its batches and recipients."""
    states = Counter(b.state for b in batches)
    if states[BatchState.PENDING] + states[BatchState.SENDING]:
        started = len(batches) - states[BatchState.PENDING]
        return CampaignState.SENDING if started else CampaignState.QUEUED

    if not states[BatchState.SUBMITTED] and not states[BatchState.UNKNOWN]:
        if states[BatchState.CANCELLED]:
            return CampaignState.CANCELLED
        return CampaignState.FAILED

    awaiting = sum(
        count
        for status, count in tally.statuses.items()
        if status not in FINAL_STATUSES
    )
    if awaiting:
        return CampaignState.SUBMITTED
    if tally.submissions[SubmissionState.UNKNOWN]:
        # Plivo may or may not have these; only the operator can decide to resend.
        return CampaignState.UNCONFIRMED
    return CampaignState.COMPLETE


def _batch_view(batch: Batch) -> dict[str, Any]:
    error = {"code": batch.error_code, "message": batch.error} if batch.error else None
    return {
        "index": batch.index,
        "size": batch.size,
        "state": batch.state,
        "attempts": batch.attempts,
        "message_uuids": batch.message_uuids,
        "error": error,
    }


def _timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    # SQLite hands back naive datetimes; every stored time is UTC.
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _text_to_send(request: SendRequest) -> tuple[str, GsmSafeResult | None]:
    """The text as given, or with look-alikes replaced when the caller asked."""
    if not request.gsm_safe:
        return request.message, None
    conversion = make_gsm_safe(request.message)
    return conversion.text, conversion


def _digest(request: SendRequest) -> str:
    canonical = json.dumps(asdict(request), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def init_app(app: Flask, service: CampaignService) -> None:
    app.extensions[EXTENSION] = service


def get_campaigns() -> CampaignService:
    service: CampaignService = current_app.extensions[EXTENSION]
    return service
