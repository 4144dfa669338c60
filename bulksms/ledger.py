"""Queries over campaigns, batches and recipients.

Writes are conditional on the row's current state (``WHERE state = ...``), so
they are safe to repeat and safe to race: a batch is taken for sending by exactly
one caller, and a settled batch is never settled again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bulksms import delivery
from bulksms.delivery import DeliveryReport
from bulksms.models import (
    Batch,
    BatchMessage,
    Campaign,
    DeliveryEvent,
    Recipient,
    utcnow,
)
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
    if message_uuids:
        _rematch_reports(session, message_uuids)
    return True


def _set_submission(session: Session, batch_id: int, state: BatchState) -> None:
    """Mirror a batch's state on its recipients.

    A recipient with a delivery status has been confirmed by a report (which can
    arrive before the batch's own answer is recorded); it stays submitted and
    keeps its status whatever the batch's answer said.
    """
    of_batch = update(Recipient).where(Recipient.batch_id == batch_id)
    submission = BATCH_TO_SUBMISSION[state].value

    if state is BatchState.SUBMITTED:
        session.execute(
            of_batch.values(
                submission=submission,
                status=func.coalesce(
                    Recipient.status, DeliveryStatus.AWAITING_REPORT.value
                ),
                updated_at=func.coalesce(Recipient.updated_at, utcnow()),
            )
        )
    elif state is BatchState.UNKNOWN:
        session.execute(
            of_batch.where(Recipient.status.is_(None)).values(submission=submission)
        )
        session.execute(
            of_batch.where(Recipient.status.is_not(None)).values(
                submission=SubmissionState.SUBMITTED.value
            )
        )
    else:
        session.execute(of_batch.values(submission=submission))


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
        if submission is not None:
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


class ReportOutcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"
    UNMATCHED = "unmatched"
    UNKNOWN_STATUS = "unknown_status"


def record_report(
    session: Session, report: DeliveryReport, batch_id: int | None
) -> ReportOutcome:
    """Store a delivery report as received and move its recipient forward.

    ``batch_id`` comes from the signed callback URL. Without it, the report's
    UUID names the batch, once that batch's answer is recorded; until then the
    report is kept unmatched and applied when the UUID shows up.
    """
    recipient_id = _match(session, report, batch_id)
    inserted = session.execute(
        _insert_ignoring_duplicates(session, DeliveryEvent)
        .values(
            message_uuid=report.message_uuid,
            status=report.plivo_status,
            sequence=report.sequence,
            to=report.to,
            error_code=report.error_code,
            fields=report.fields,
            batch_id=batch_id,
            recipient_id=recipient_id,
            received_at=utcnow(),
        )
        .returning(DeliveryEvent.id)
    ).scalar()
    if inserted is None:
        return ReportOutcome.DUPLICATE
    if recipient_id is None:
        return ReportOutcome.UNMATCHED
    return _apply(session, recipient_id, report)


def _apply(
    session: Session, recipient_id: int, report: DeliveryReport
) -> ReportOutcome:
    # Units and cost are kept from whichever report brings them first, even one
    # too late to change the status.
    facts = {
        "message_uuid": func.coalesce(Recipient.message_uuid, report.message_uuid),
        "units": func.coalesce(Recipient.units, report.units),
        "amount": func.coalesce(Recipient.amount, report.amount),
    }
    of_recipient = update(Recipient).where(Recipient.id == recipient_id)

    status = report.status
    if status is not None:
        advanced = session.execute(
            of_recipient.where(_moves_forward(status, report.sequence)).values(
                status=status.value,
                status_sequence=report.sequence,
                error_code=report.error_code,
                submission=SubmissionState.SUBMITTED.value,
                updated_at=utcnow(),
                **facts,
            )
        )
        if advanced.rowcount == 1:  # type: ignore[attr-defined]
            return ReportOutcome.APPLIED

    session.execute(of_recipient.values(**facts))
    return ReportOutcome.STALE if status else ReportOutcome.UNKNOWN_STATUS


def _match(
    session: Session, report: DeliveryReport, batch_id: int | None
) -> int | None:
    # Tie the report to a recipient by its To among the recipients of one batch,
    # never by the position of its UUID in Plivo's answer.
    if batch_id is None:
        batch_id = session.scalar(
            select(BatchMessage.batch_id).where(
                BatchMessage.message_uuid == report.message_uuid
            )
        )
    if batch_id is None or report.destination is None:
        return None
    return session.scalar(
        select(Recipient.id).where(
            Recipient.batch_id == batch_id, Recipient.e164 == report.destination
        )
    )


def _moves_forward(status: DeliveryStatus, sequence: int) -> ColumnElement[bool]:
    """The condition under which ``status`` may replace a recipient's status."""
    rank = case(
        {s.value: r for s, r in delivery.RANKS.items()},
        value=Recipient.status,
        else_=-1,
    )
    new_rank = delivery.RANKS[status]
    return and_(
        rank < delivery.FINAL_RANK,
        or_(
            rank < new_rank,
            and_(
                rank == new_rank,
                func.coalesce(Recipient.status_sequence, -1) < sequence,
            ),
        ),
    )


def _rematch_reports(session: Session, message_uuids: Sequence[str]) -> None:
    """Apply reports that arrived before their batch's UUIDs were recorded."""
    waiting = session.scalars(
        select(DeliveryEvent)
        .where(
            DeliveryEvent.recipient_id.is_(None),
            DeliveryEvent.message_uuid.in_(message_uuids),
        )
        .order_by(DeliveryEvent.sequence)
    ).all()
    for event in waiting:
        report = delivery.parse_report(event.fields)
        event.recipient_id = _match(session, report, None)
        if event.recipient_id is not None:
            _apply(session, event.recipient_id, report)


def expire_reports(session: Session, campaign_id: str, timeout: float) -> int:
    """Mark recipients that waited longer than ``timeout`` seconds for a report
    as ``no_report``, so the campaign can complete."""
    cutoff = utcnow() - timedelta(seconds=timeout)
    expired = session.execute(
        update(Recipient)
        .where(
            Recipient.campaign_id == campaign_id,
            Recipient.status.in_([s.value for s in delivery.OPEN_STATUSES]),
            Recipient.updated_at < cutoff,
        )
        .values(status=DeliveryStatus.NO_REPORT.value, updated_at=utcnow())
    )
    return int(expired.rowcount)  # type: ignore[attr-defined]


def _insert_ignoring_duplicates(session: Session, table: type[DeliveryEvent]) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql_insert(table).on_conflict_do_nothing()
    return sqlite_insert(table).on_conflict_do_nothing()


def recipient_filter(name: str) -> ColumnElement[bool]:
    """The condition for a ``status`` filter of the recipients listing: an intake
    bucket, a submission state or a delivery status."""
    if name in Bucket.__members__.values():
        return Recipient.bucket == name
    if name in SubmissionState.__members__.values():
        return Recipient.submission == name
    if name in DeliveryStatus.__members__.values():
        return Recipient.status == name
    raise ValueError(name)


RECIPIENT_FILTERS = (
    *(b.value for b in Bucket),
    *(s.value for s in SubmissionState),
    *(s.value for s in DeliveryStatus),
)


def recipients_page(
    session: Session,
    campaign_id: str,
    condition: ColumnElement[bool] | None,
    *,
    offset: int,
    limit: int,
) -> tuple[int, list[Recipient]]:
    """One page of a campaign's recipients in input order, and the total."""
    where = [Recipient.campaign_id == campaign_id]
    if condition is not None:
        where.append(condition)

    total = session.scalar(select(func.count()).select_from(Recipient).where(*where))
    rows = session.scalars(
        select(Recipient)
        .where(*where)
        .order_by(Recipient.position)
        .offset(offset)
        .limit(limit)
    ).all()
    return total or 0, list(rows)
