"""A delivery report's identity holds its To.

Two reports are one when Plivo's UUID, status, sequence and destination are the
same. Without the destination, a report that matched no recipient would make a
later one for the same message, naming the right recipient, a repeat.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# 0001 left the constraint to each database to name: PostgreSQL's own name, and
# on SQLite, where it has none, the name this convention gives it on reflection.
_OLD_NAMES = {"postgresql": "delivery_events_message_uuid_status_sequence_key"}
_SQLITE_CONVENTION = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
_SQLITE_OLD_NAME = "uq_delivery_events_message_uuid"
NEW_NAME = "uq_delivery_events_report"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute('UPDATE delivery_events SET "to" = \'\' WHERE "to" IS NULL')
    with op.batch_alter_table(
        "delivery_events", naming_convention=_SQLITE_CONVENTION
    ) as batch:
        batch.drop_constraint(_OLD_NAMES.get(dialect, _SQLITE_OLD_NAME), type_="unique")
        batch.alter_column(
            "to", existing_type=sa.String(length=20), nullable=False, server_default=""
        )
        batch.create_unique_constraint(
            NEW_NAME, ["message_uuid", "status", "sequence", "to"]
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery_events") as batch:
        batch.drop_constraint(NEW_NAME, type_="unique")
        batch.alter_column(
            "to", existing_type=sa.String(length=20), nullable=True, server_default=None
        )
        batch.create_unique_constraint(
            "delivery_events_message_uuid_status_sequence_key",
            ["message_uuid", "status", "sequence"],
        )
