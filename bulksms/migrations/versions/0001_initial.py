"""Initial schema.

Campaigns, batches, recipients, message UUIDs, delivery events and suppressions,
as ``bulksms.models`` declares them.

Revision ID: 0001
Revises:
Create Date: 2026-12-03 19:07:05.837580
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=True),
        sa.Column("powerpack_uuid", sa.String(length=64), nullable=True),
        sa.Column("region", sa.String(length=2), nullable=False),
        sa.Column("encoding", sa.String(length=8), nullable=False),
        sa.Column("characters", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_digest", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )

    op.create_table(
        "suppressions",
        sa.Column("e164", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("e164"),
    )

    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("api_id", sa.String(length=64), nullable=True),
        sa.Column("message_uuids", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "index"),
    )
    op.create_index("ix_batches_campaign_id", "batches", ["campaign_id"])
    op.create_index("ix_batches_state", "batches", ["state"])

    op.create_table(
        "batch_messages",
        sa.Column("message_uuid", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"]),
        sa.PrimaryKeyConstraint("message_uuid"),
    )
    op.create_index("ix_batch_messages_batch_id", "batch_messages", ["batch_id"])

    op.create_table(
        "recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("e164", sa.String(length=20), nullable=True),
        sa.Column("bucket", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("submission", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("status_sequence", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.String(length=16), nullable=True),
        sa.Column("message_uuid", sa.String(length=64), nullable=True),
        sa.Column("units", sa.Integer(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=12, scale=5), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"]),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "position"),
    )
    op.create_index("ix_recipients_batch_e164", "recipients", ["batch_id", "e164"])
    op.create_index(
        "ix_recipients_campaign_status",
        "recipients",
        ["campaign_id", "bucket", "status"],
    )
    op.create_index("ix_recipients_message_uuid", "recipients", ["message_uuid"])

    op.create_table(
        "delivery_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_uuid", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("to", sa.String(length=20), nullable=True),
        sa.Column("error_code", sa.String(length=16), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["recipient_id"], ["recipients.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_uuid", "status", "sequence"),
    )
    op.create_index(
        "ix_delivery_events_message_uuid", "delivery_events", ["message_uuid"]
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; the order respects the foreign keys.
    for table in (
        "delivery_events",
        "recipients",
        "batch_messages",
        "batches",
        "suppressions",
        "campaigns",
    ):
        op.drop_table(table)
