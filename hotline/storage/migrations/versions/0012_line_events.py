"""LINE employees (issue 15): webhook events stored before they are answered; users who blocked the account

* ``line_events``: one row per ``webhookEventId`` (deduplication), in arrival order (``seq``), the user's
  pseudonym and the event sealed until it is processed, then both dropped.
* ``line_blocked``: pseudonyms of LINE users who blocked the account (unfollow), until they follow again.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "line_events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("user_key", sa.String(length=64), nullable=True),
        sa.Column("payload_enc", sa.LargeBinary(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_line_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_line_events_event_id")),
    )
    op.create_index(op.f("ix_line_events_user_key"), "line_events", ["user_key"], unique=False)
    op.create_table(
        "line_blocked",
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pseudonym", name=op.f("pk_line_blocked")),
    )


def downgrade() -> None:
    op.drop_table("line_blocked")
    op.drop_index(op.f("ix_line_events_user_key"), table_name="line_events")
    op.drop_table("line_events")
