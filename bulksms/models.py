"""Tables of the store. The store is the source of truth; the queue carries ids."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    sender: Mapped[str | None] = mapped_column(String(64))
    powerpack_uuid: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(2))
    encoding: Mapped[str] = mapped_column(String(8))
    characters: Mapped[int] = mapped_column(Integer)
    units: Mapped[int] = mapped_column(Integer)
    segments: Mapped[int] = mapped_column(Integer)
    received: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    invalid: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    suppressed: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    request_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Batch(Base):
    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("campaign_id", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(32))
    api_id: Mapped[str | None] = mapped_column(String(64))
    message_uuids: Mapped[int] = mapped_column(Integer, default=0)
    # When the batch was last taken or retried while ``sending``: a batch whose
    # sender died stops renewing it, and recovery turns it ``unknown``.
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Recipient(Base):
    __tablename__ = "recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "position"),
        Index("ix_recipients_batch_e164", "batch_id", "e164"),
        Index("ix_recipients_campaign_status", "campaign_id", "bucket", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    position: Mapped[int] = mapped_column(Integer)
    input: Mapped[str] = mapped_column(Text)
    e164: Mapped[str | None] = mapped_column(String(20))
    bucket: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    submission: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str | None] = mapped_column(String(20))
    status_sequence: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(16))
    message_uuid: Mapped[str | None] = mapped_column(String(64), index=True)
    units: Mapped[int | None] = mapped_column(Integer)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 5))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BatchMessage(Base):
    """A message UUID Plivo returned for a batch; ties reports to recipients."""

    __tablename__ = "batch_messages"

    message_uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)


class DeliveryEvent(Base):
    """A delivery report as received: append-only, one row per distinct report.

    A report repeats another when Plivo's UUID, status, sequence and ``To`` are
    the same; ``To`` is empty, not null, when a report has none, so that those
    repeats collapse too.
    """

    __tablename__ = "delivery_events"
    __table_args__ = (
        UniqueConstraint(
            "message_uuid", "status", "sequence", "to", name="uq_delivery_events_report"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_uuid: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20))
    sequence: Mapped[int] = mapped_column(Integer)
    to: Mapped[str] = mapped_column(String(20), server_default="")
    error_code: Mapped[str | None] = mapped_column(String(16))
    fields: Mapped[dict[str, str]] = mapped_column(JSON)
    batch_id: Mapped[int | None] = mapped_column(Integer)
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("recipients.id"))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )


class Suppression(Base):
    __tablename__ = "suppressions"

    e164: Mapped[str] = mapped_column(String(20), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(32))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CallbackNonce(Base):
    """The request a V2-signed callback's nonce first came with.

    A V2 signature covers only the URL and the nonce, so the same headers would
    vouch for any body; binding each nonce to its first request's digest lets
    Plivo's retries through (same request) and refuses a changed one.
    """

    __tablename__ = "callback_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
