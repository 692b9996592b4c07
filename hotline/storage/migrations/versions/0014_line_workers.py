"""LINE with several workers (issue 15): a stored event is carried out per user by whichever worker holds
the user's advisory lock, as Telegram's updates are (0011)

* ``line_events.attempts``, ``started_by``: how often carrying an event out was begun, and by which
  worker (a worker that died with it in hand is known when another takes it over).
* ``line_events.replies_enc``: what a carried-out event still has to send (sealed), until it has gone.
* ``ix_line_events_pending``: users with events not yet done, oldest first.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("line_events") as batch:
        batch.add_column(sa.Column("attempts", sa.SmallInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("started_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("replies_enc", sa.LargeBinary(), nullable=True))
    op.create_index("ix_line_events_pending", "line_events", ["done_at", "user_key", "seq"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_line_events_pending", table_name="line_events")
    with op.batch_alter_table("line_events") as batch:
        batch.drop_column("replies_enc")
        batch.drop_column("started_by")
        batch.drop_column("attempts")
