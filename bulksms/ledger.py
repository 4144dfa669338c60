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

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bulksms import delivery
from bulksms.delivery import DeliveryReport
from bulksms.models import (
    Base,
    Batch,
    BatchMessage,
    CallbackNonce,
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
# The responses list the inputs of these buckets as "rejected", the first
# REJECTED_SHOWN of them.
REJECTED_BUCKETS = (Bucket.INVALID.value, Bucket.SUPPRESSED.value)
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
    segments: int


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


def batch_ids_in(session: Session, campaign_id: str, state: BatchState) -> list[int]:
    query = (
        select(Batch.id)
        .where(Batch.campaign_id == campaign_id, Batch.state == state.value)
        .order_by(Batch.index)
    )
    return list(session.scalars(query))


def claim_batch(session: Session, batch_id: int) -> BatchWork | None:
    """Move a pending batch to ``sending`` and return its work, or None when
    another caller took it first or it is no longer pending.

    Only the batch's pending recipients are sent: on a retry, recipients that a
    delivery report already confirmed are not sent again.
    """
    claimed = session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.state == BatchState.PENDING.value)
        .values(
            state=BatchState.SENDING.value,
            attempts=Batch.attempts + 1,
            claimed_at=utcnow(),
        )
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None

    session.execute(
        _recipients_of(batch_id, SubmissionState.PENDING).values(
            submission=SubmissionState.SENDING.value
        )
    )
    batch = session.get_one(Batch, batch_id)
    campaign = session.get_one(Campaign, batch.campaign_id)
    destinations = session.scalars(
        select(Recipient.e164)
        .where(
            Recipient.batch_id == batch_id,
            Recipient.submission == SubmissionState.SENDING.value,
        )
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
        segments=campaign.segments,
    )


def renew_claim(session: Session, batch_id: int) -> None:
    """Show that the sender of a ``sending`` batch is still alive."""
    session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.state == BatchState.SENDING.value)
        .values(claimed_at=utcnow())
    )


# Set by recovery on a batch whose sender seemed gone. The sender may still be
# alive and get Plivo's answer; that answer is better than the guess and wins.
SENDER_LOST = "sender_lost"


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
    """Record the outcome of a batch's request; False if it was not in flight.

    An ambiguous outcome (``unknown``) for a batch that a delivery report has
    already confirmed is recorded as ``submitted``: see ``_confirm_batch``.
    """
    if state is BatchState.UNKNOWN and _reported(session.connection(), batch_id):
        state, error, error_code = BatchState.SUBMITTED, None, None

    settled = session.execute(
        update(Batch)
        .where(Batch.id == batch_id, _in_flight())
        .values(
            state=state.value,
            error=error,
            error_code=error_code,
            api_id=api_id,
            message_uuids=Batch.message_uuids + len(message_uuids),
        )
    )
    if settled.rowcount != 1:  # type: ignore[attr-defined]
        return False

    _settle_recipients(session, batch_id, state)
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


def release_batch(session: Session, batch_id: int) -> bool:
    """Give a claimed batch back as ``pending`` when its sender stops before its
    request leaves, for the next worker to take; False if it was not in flight.

    A batch that recovery already took for lost is given back too: its sender
    knows that Plivo never saw it, which is better than the guess.
    """
    released = session.execute(
        update(Batch)
        .where(Batch.id == batch_id, _in_flight())
        .values(state=BatchState.PENDING.value, error=None, error_code=None)
    )
    if released.rowcount != 1:  # type: ignore[attr-defined]
        return False

    session.execute(
        _recipients_of(
            batch_id, SubmissionState.SENDING, SubmissionState.UNKNOWN
        ).values(submission=SubmissionState.PENDING.value)
    )
    return True


def _in_flight() -> ColumnElement[bool]:
    """A batch whose request may be under way: ``sending``, or taken for lost by
    recovery while its sender may in fact still be alive."""
    return or_(
        Batch.state == BatchState.SENDING.value,
        and_(Batch.state == BatchState.UNKNOWN.value, Batch.error_code == SENDER_LOST),
    )


def _recipients_of(batch_id: int, *submissions: SubmissionState) -> Any:
    return update(Recipient).where(
        Recipient.batch_id == batch_id,
        Recipient.submission.in_([s.value for s in submissions]),
    )


def _settle_recipients(session: Session, batch_id: int, state: BatchState) -> None:
    """Mirror a batch's outcome on the recipients its request carried.

    A recipient with a delivery status has been confirmed by a report (which can
    arrive before the batch's own answer is recorded); it counts as submitted
    and keeps its status whatever the batch's answer said.
    """
    in_request = (SubmissionState.SENDING, SubmissionState.UNKNOWN)
    confirmed = Recipient.status.is_not(None)

    if state is BatchState.SUBMITTED:
        _submit_recipients(session.connection(), batch_id)
        return

    session.execute(
        _recipients_of(batch_id, *in_request)
        .where(confirmed)
        .values(submission=SubmissionState.SUBMITTED.value)
    )
    session.execute(
        _recipients_of(batch_id, *in_request)
        .where(~confirmed)
        .values(submission=BATCH_TO_SUBMISSION[state].value)
    )


def _submit_recipients(connection: Connection, batch_id: int) -> None:
    """The recipients a batch's request carried are with Plivo now: each awaits
    its report, unless one already came."""
    connection.execute(
        _recipients_of(
            batch_id, SubmissionState.SENDING, SubmissionState.UNKNOWN
        ).values(
            submission=SubmissionState.SUBMITTED.value,
            status=func.coalesce(
                Recipient.status, DeliveryStatus.AWAITING_REPORT.value
            ),
            updated_at=func.coalesce(Recipient.updated_at, utcnow()),
        )
    )


def _reported(connection: Connection, batch_id: int) -> bool:
    """Whether a delivery report has come for any recipient of the batch."""
    return (
        connection.scalar(
            select(Recipient.id)
            .where(Recipient.batch_id == batch_id, Recipient.status.is_not(None))
            .limit(1)
        )
        is not None
    )


def _confirm_batch(connection: Connection, batch_id: int) -> None:
    """Take an ``unknown`` batch for ``submitted`` once a delivery report names
    one of its recipients.

    Plivo queues a request whole or not at all, so one report proves every
    recipient of the batch is with Plivo; a recipient whose own report is late
    must not be resent by ``retry?include_unknown``. If the batch's sender is
    still alive (recovery took it for lost) and records Plivo's answer later,
    that answer finds the batch settled and is dropped: the answer's UUIDs are
    not needed to match reports, which carry their batch, but a number Plivo
    listed as invalid then ends as ``no_report`` instead of failed.
    """
    confirmed = connection.execute(
        _CONFIRM_BATCH, {"batch_id": batch_id, "now": utcnow()}
    )
    if confirmed.rowcount == 1:
        _submit_recipients(connection, batch_id)


def recover_lost_batches(session: Session, claimed_before: datetime) -> list[int]:
    """Turn ``sending`` batches whose sender stopped renewing its claim before
    ``claimed_before`` into ``unknown``: Plivo may or may not have queued them.
    One that a delivery report has confirmed meanwhile is ``submitted``."""
    lost = list(
        session.scalars(
            select(Batch.id).where(
                Batch.state == BatchState.SENDING.value,
                Batch.claimed_at < claimed_before,
            )
        )
    )
    for batch_id in lost:
        if _reported(session.connection(), batch_id):
            state, error, error_code = BatchState.SUBMITTED, None, None
        else:
            state = BatchState.UNKNOWN
            error = "the process sending this batch stopped before Plivo answered"
            error_code = SENDER_LOST
        session.execute(
            update(Batch)
            .where(Batch.id == batch_id, Batch.state == BatchState.SENDING.value)
            .values(state=state.value, error=error, error_code=error_code)
        )
        _settle_recipients(session, batch_id, state)
    return lost


def campaigns_with_pending_batches(session: Session, idle_since: datetime) -> list[str]:
    """Campaigns with batches waiting and no batch activity since ``idle_since``."""
    query = (
        select(Batch.campaign_id)
        .group_by(Batch.campaign_id)
        .having(
            func.sum(case((Batch.state == BatchState.PENDING.value, 1), else_=0)) > 0,
            func.max(Batch.updated_at) < idle_since,
        )
    )
    return list(session.scalars(query))


def reset_batches(
    session: Session,
    campaign_id: str,
    *,
    include_unknown_before: datetime | None,
) -> int:
    """Put failed batches, and optionally unknown ones older than a grace period,
    back to pending for their unconfirmed recipients; returns how many."""
    condition: ColumnElement[bool] = Batch.state == BatchState.FAILED.value
    if include_unknown_before is not None:
        condition = or_(
            condition,
            and_(
                Batch.state == BatchState.UNKNOWN.value,
                Batch.updated_at < include_unknown_before,
            ),
        )
    batch_ids = list(
        session.scalars(
            select(Batch.id).where(Batch.campaign_id == campaign_id, condition)
        )
    )
    reset = 0
    for batch_id in batch_ids:
        unconfirmed = session.execute(
            _recipients_of(
                batch_id, SubmissionState.FAILED_SUBMISSION, SubmissionState.UNKNOWN
            )
            .where(Recipient.status.is_(None))
            .values(submission=SubmissionState.PENDING.value)
        )
        # A batch whose every recipient a report confirmed has nothing to resend.
        if unconfirmed.rowcount:  # type: ignore[attr-defined]
            session.execute(
                update(Batch)
                .where(Batch.id == batch_id)
                .values(state=BatchState.PENDING.value, error=None, error_code=None)
            )
            reset += 1
    return reset


def cancel_batches(session: Session, campaign_id: str) -> int:
    """Cancel the campaign's batches that were not yet taken for sending."""
    cancelled = 0
    for batch_id in batch_ids_in(session, campaign_id, BatchState.PENDING):
        taken = session.execute(
            update(Batch)
            .where(Batch.id == batch_id, Batch.state == BatchState.PENDING.value)
            .values(state=BatchState.CANCELLED.value)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            session.execute(
                _recipients_of(batch_id, SubmissionState.PENDING).values(
                    submission=SubmissionState.CANCELLED.value
                )
            )
            cancelled += 1
    return cancelled


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
            Recipient.bucket.in_(REJECTED_BUCKETS),
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
    connection = session.connection()
    batch_id, recipient_id = _match(connection, report, batch_id)
    inserted = connection.execute(
        _EVENT_INSERTS[connection.dialect.name],
        {
            "message_uuid": report.message_uuid,
            "status": report.plivo_status,
            "sequence": report.sequence,
            "to": report.to or "",
            "error_code": report.error_code,
            "fields": report.fields,
            "batch_id": batch_id,
            "recipient_id": recipient_id,
            "received_at": utcnow(),
        },
    ).scalar()
    if inserted is None:
        return ReportOutcome.DUPLICATE
    if recipient_id is None or batch_id is None:
        return ReportOutcome.UNMATCHED
    # The batch before its recipient, in the order settling a batch takes their
    # locks: concurrent reports of one batch never wait on each other in a cycle.
    _confirm_batch(connection, batch_id)
    return _apply(connection, recipient_id, report)


# A report is the one write that happens for every message of every campaign,
# several times: its statements are built once, with bind parameters, instead
# of on each callback.
_RECIPIENTS = Base.metadata.tables[Recipient.__tablename__]
_EVENTS = Base.metadata.tables[DeliveryEvent.__tablename__]
_BATCH_MESSAGES = Base.metadata.tables[BatchMessage.__tablename__]

_EVENT_INSERTS = {
    "postgresql": postgresql_insert(_EVENTS)
    .on_conflict_do_nothing()
    .returning(_EVENTS.c.id),
    "sqlite": sqlite_insert(_EVENTS).on_conflict_do_nothing().returning(_EVENTS.c.id),
}

_BATCH_OF_MESSAGE = select(_BATCH_MESSAGES.c.batch_id).where(
    _BATCH_MESSAGES.c.message_uuid == bindparam("message_uuid")
)
# A message UUID belongs to one recipient: the first report naming it binds
# it, and a report whose UUID another recipient of the batch holds, or whose
# recipient holds another UUID, matches no one.
_HOLDER = _RECIPIENTS.alias("holder")
_RECIPIENT_IN_BATCH = select(_RECIPIENTS.c.id).where(
    _RECIPIENTS.c.batch_id == bindparam("batch_id"),
    _RECIPIENTS.c.e164 == bindparam("e164"),
    or_(
        _RECIPIENTS.c.message_uuid.is_(None),
        _RECIPIENTS.c.message_uuid == bindparam("message_uuid"),
    ),
    ~select(_HOLDER.c.id)
    .where(
        _HOLDER.c.message_uuid == bindparam("message_uuid"),
        _HOLDER.c.batch_id == bindparam("batch_id"),
        _HOLDER.c.id != _RECIPIENTS.c.id,
    )
    .exists(),
)

# Units and cost are kept from whichever report brings them first, even one too
# late to change the status.
_FACTS = {
    column: func.coalesce(
        _RECIPIENTS.c[column], bindparam(name, type_=_RECIPIENTS.c[column].type)
    )
    for column, name in (
        ("message_uuid", "uuid"),
        ("units", "report_units"),
        ("amount", "report_amount"),
    )
}
_OF_RECIPIENT = update(_RECIPIENTS).where(_RECIPIENTS.c.id == bindparam("recipient_id"))
_BATCHES = Base.metadata.tables[Batch.__tablename__]
_CONFIRM_BATCH = (
    update(_BATCHES)
    .where(
        _BATCHES.c.id == bindparam("batch_id"),
        _BATCHES.c.state == BatchState.UNKNOWN.value,
    )
    .values(
        state=BatchState.SUBMITTED.value,
        error=None,
        error_code=None,
        updated_at=bindparam("now", type_=_BATCHES.c.updated_at.type),
    )
)
_KEEP_FACTS = _OF_RECIPIENT.values(**_FACTS)


def _moves_forward(status: DeliveryStatus) -> ColumnElement[bool]:
    """The condition under which ``status``, reported with the bound
    ``report_sequence``, may replace a recipient's status."""
    rank = case(
        {s.value: r for s, r in delivery.RANKS.items()},
        value=_RECIPIENTS.c.status,
        else_=-1,
    )
    new_rank = delivery.RANKS[status]
    return or_(
        rank < new_rank,
        and_(
            rank == new_rank,
            func.coalesce(_RECIPIENTS.c.status_sequence, -1)
            < bindparam("report_sequence"),
        ),
    )


_ADVANCES = {
    status: _OF_RECIPIENT.where(_moves_forward(status)).values(
        status=status.value,
        status_sequence=bindparam("report_sequence"),
        error_code=bindparam("report_error_code", type_=_RECIPIENTS.c.error_code.type),
        submission=SubmissionState.SUBMITTED.value,
        updated_at=bindparam("now", type_=_RECIPIENTS.c.updated_at.type),
        **_FACTS,
    )
    for status in set(delivery.PLIVO_STATUSES.values())
}


def _apply(
    connection: Connection, recipient_id: int, report: DeliveryReport
) -> ReportOutcome:
    params = {
        "recipient_id": recipient_id,
        "uuid": report.message_uuid,
        "report_units": report.units,
        "report_amount": report.amount,
    }

    status = report.status
    if status is not None:
        advanced = connection.execute(
            _ADVANCES[status],
            {
                **params,
                "report_sequence": report.sequence,
                "report_error_code": report.error_code,
                "now": utcnow(),
            },
        )
        if advanced.rowcount == 1:
            return ReportOutcome.APPLIED

    connection.execute(_KEEP_FACTS, params)
    return ReportOutcome.STALE if status else ReportOutcome.UNKNOWN_STATUS


def _match(
    connection: Connection, report: DeliveryReport, batch_id: int | None
) -> tuple[int | None, int | None]:
    """The report's batch and recipient, each None when not found."""
    # Tie the report to a recipient by its To among the recipients of one batch,
    # never by the position of its UUID in Plivo's answer.
    if batch_id is None:
        batch_id = connection.scalar(
            _BATCH_OF_MESSAGE, {"message_uuid": report.message_uuid}
        )
    if batch_id is None or report.destination is None:
        return batch_id, None
    recipient_id = connection.scalar(
        _RECIPIENT_IN_BATCH,
        {
            "batch_id": batch_id,
            "e164": report.destination,
            "message_uuid": report.message_uuid,
        },
    )
    return batch_id, recipient_id


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
        _, event.recipient_id = _match(session.connection(), report, None)
        if event.recipient_id is not None:
            _apply(session.connection(), event.recipient_id, report)


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


def _insert_ignoring_duplicates(session: Session, table: type[Base]) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql_insert(table).on_conflict_do_nothing()
    return sqlite_insert(table).on_conflict_do_nothing()


def recipient_filter(names: Iterable[str]) -> ColumnElement[bool]:
    """The condition for a ``status`` filter of the recipients listing: any of
    ``names``, each an intake bucket, a submission state or a delivery status."""
    return or_(*(_recipient_condition(name) for name in names))


def _recipient_condition(name: str) -> ColumnElement[bool]:
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


def pending_recipients(session: Session, campaign_id: str) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(Recipient)
        .where(
            Recipient.campaign_id == campaign_id,
            Recipient.submission == SubmissionState.PENDING.value,
        )
    )
    return count or 0


def claim_nonce(session: Session, nonce: str, digest: str) -> bool:
    """Record that ``nonce`` signed the request with ``digest``; False when it
    was seen before with another request (a retry of the same one is fine)."""
    session.execute(
        _insert_ignoring_duplicates(session, CallbackNonce).values(
            nonce=nonce, digest=digest, seen_at=utcnow()
        )
    )
    first = session.scalar(
        select(CallbackNonce.digest).where(CallbackNonce.nonce == nonce)
    )
    return first == digest
