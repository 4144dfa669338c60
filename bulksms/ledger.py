"""Queries over campaigns, batches and recipients.

Writes are conditional on the row's current state (``WHERE state = ...``), so
they are safe to repeat and safe to race: a batch is taken for sending by exactly
one caller, and a settled batch is never settled again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from bulksms.models import Batch, BatchMessage, Campaign, Recipient, utcnow
from bulksms.recipients import Bucket
from bulksms.recipients import Recipient as SortedRecipient
from bulksms.states import (
    BATCH_TO_SUBMISSION,
    BatchState,
    DeliveryStatus,
    SubmissionState,
)

BATCH_SIZE = 1000
REJECTED_SHOWN = 1000

# Rows go to the database in chunks, so a huge list never sits in memory twice.
_INSERT_CHUNK = 5000


@dataclass(frozen=True)
class BatchWork:
    """Everything a sending thread needs, as plain data."""

    batch_id: int
    campaign_id: str
    index: int
    destinations: list[str]
    text: str
    src: str | None
    powerpack_uuid: str | None


def save_recipients(
    session: Session, campaign: Campaign, recipients: Iterable[SortedRecipient]
) -> None:
    """Store the campaign's recipients in input order and cut accepted ones into
    batches of ``BATCH_SIZE``; fills in the campaign's intake counts."""
    counts = dict.fromkeys(Bucket, 0)
    rows: list[dict[str, Any]] = []
    batch: Batch | None = None

    session.add(campaign)
    session.flush()

    for position, recipient in enumerate(recipients):
        counts[recipient.bucket] += 1
        row: dict[str, Any] = {
            "campaign_id": campaign.id,
            "position": position,
            "input": recipient.input,
            "e164": recipient.e164,
            "bucket": recipient.bucket.value,
            "reason": recipient.reason,
        }
        if recipient.bucket is Bucket.ACCEPTED:
            if batch is None or batch.size == BATCH_SIZE:
                batch = _new_batch(session, campaign.id, index=_batch_count(counts))
            batch.size += 1
            row["batch_id"] = batch.id
            row["submission"] = SubmissionState.PENDING.value
        rows.append(row)

        if len(rows) == _INSERT_CHUNK:
            session.execute(insert(Recipient), rows)
            rows = []

    if rows:
        session.execute(insert(Recipient), rows)

    campaign.received = sum(counts.values())
    campaign.accepted = counts[Bucket.ACCEPTED]
    campaign.invalid = counts[Bucket.INVALID]
    campaign.duplicates = counts[Bucket.DUPLICATE]
    campaign.suppressed = counts[Bucket.SUPPRESSED]


def _batch_count(counts: dict[Bucket, int]) -> int:
    return (counts[Bucket.ACCEPTED] - 1) // BATCH_SIZE


def _new_batch(session: Session, campaign_id: str, index: int) -> Batch:
    batch = Batch(
        campaign_id=campaign_id, index=index, size=0, state=BatchState.PENDING.value
    )
    session.add(batch)
    session.flush()
    return batch


def batch_ids(session: Session, campaign_id: str, state: BatchState) -> list[int]:
    query = (
        select(Batch.id)
        .where(Batch.campaign_id == campaign_id, Batch.state == state.value)
        .order_by(Batch.index)
    )
    return list(session.scalars(query))


def claim_batch(session: Session, batch_id: int) -> BatchWork | None:
    """Move a pending batch to ``sending`` and return its work, or None when
    another caller took it first or it is no longer pending."""
    claimed = session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.state == BatchState.PENDING.value)
        .values(state=BatchState.SENDING.value, attempts=Batch.attempts + 1)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None

    _set_submission(session, batch_id, BatchState.SENDING)
    batch = session.get_one(Batch, batch_id)
    campaign = session.get_one(Campaign, batch.campaign_id)
    destinations = session.scalars(
        select(Recipient.e164)
        .where(Recipient.batch_id == batch_id)
        .order_by(Recipient.position)
    )
    return BatchWork(
        batch_id=batch_id,
        campaign_id=campaign.id,
        index=batch.index,
        destinations=[d for d in destinations if d],
        text=campaign.text,
        src=campaign.sender,
        powerpack_uuid=campaign.powerpack_uuid,
    )


def settle_batch(
    session: Session,
    batch_id: int,
    state: BatchState,
    *,
    error: str | None = None,
    error_code: str | None = None,
    api_id: str | None = None,
    message_uuids: Sequence[str] = (),
    invalid_numbers: Sequence[str] = (),
) -> bool:
    """Move a ``sending`` batch to its outcome; False if it was not sending."""
    settled = session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.state == BatchState.SENDING.value)
        .values(
            state=state.value,
            error=error,
            error_code=error_code,
            api_id=api_id,
            message_uuids=len(message_uuids),
        )
    )
    if settled.rowcount != 1:  # type: ignore[attr-defined]
        return False

    _set_submission(session, batch_id, state)
    if message_uuids:
        session.execute(
            insert(BatchMessage),
            [{"message_uuid": u, "batch_id": batch_id} for u in message_uuids],
        )
    if invalid_numbers:
        _fail_invalid_numbers(session, batch_id, invalid_numbers)
    return True


def _set_submission(session: Session, batch_id: int, state: BatchState) -> None:
    values: dict[str, Any] = {"submission": BATCH_TO_SUBMISSION[state].value}
    if state is BatchState.SUBMITTED:
        values["status"] = DeliveryStatus.AWAITING_REPORT.value
        values["updated_at"] = utcnow()
    session.execute(
        update(Recipient).where(Recipient.batch_id == batch_id).values(**values)
    )


def _fail_invalid_numbers(
    session: Session, batch_id: int, invalid_numbers: Sequence[str]
) -> None:
    # Plivo may echo a destination with or without its "+".
    numbers = {n if n.startswith("+") else f"+{n}" for n in invalid_numbers}
    session.execute(
        update(Recipient)
        .where(Recipient.batch_id == batch_id, Recipient.e164.in_(numbers))
        .values(
            submission=SubmissionState.FAILED_SUBMISSION.value,
            status=None,
            reason="Plivo reported the number invalid",
        )
    )


@dataclass(frozen=True)
class Tally:
    """Recipient counts of one campaign by intake bucket, submission and status."""

    submissions: dict[str, int]
    statuses: dict[str, int]


def tally(session: Session, campaign_id: str) -> Tally:
    query = (
        select(Recipient.submission, Recipient.status, func.count())
        .where(
            Recipient.campaign_id == campaign_id,
            Recipient.bucket == Bucket.ACCEPTED.value,
        )
        .group_by(Recipient.submission, Recipient.status)
    )
    submissions = dict.fromkeys((s.value for s in SubmissionState), 0)
    statuses = dict.fromkeys((s.value for s in DeliveryStatus), 0)
    for submission, status, count in session.execute(query):
        submissions[submission] += count
        if status is not None:
            statuses[status] += count
    return Tally(submissions, statuses)


def batches(session: Session, campaign_id: str) -> list[Batch]:
    query = select(Batch).where(Batch.campaign_id == campaign_id).order_by(Batch.index)
    return list(session.scalars(query))


def rejected(session: Session, campaign_id: str) -> list[dict[str, str | None]]:
    query = (
        select(Recipient.input, Recipient.reason)
        .where(
            Recipient.campaign_id == campaign_id,
            Recipient.bucket.in_([Bucket.INVALID.value, Bucket.SUPPRESSED.value]),
        )
        .order_by(Recipient.position)
        .limit(REJECTED_SHOWN)
    )
    return [{"input": i, "reason": r} for i, r in session.execute(query)]


def mark_submitted(session: Session, campaign_id: str, when: datetime) -> None:
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.submitted_at.is_(None))
        .values(submitted_at=when)
    )
