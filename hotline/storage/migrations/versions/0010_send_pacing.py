"""send pacing (issue 14): the flood-limit buckets that several workers share

* ``send_pacing``: one row a bucket (the bot's, and one a chat keyed by a pseudonym of the chat), its
  theoretical arrival time in seconds since the epoch on the database's clock (``hotline/pacing.py``).
  Only workers on PostgreSQL use it; a single process on SQLite keeps its buckets in memory.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_pacing",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_send_pacing")),
    )


def downgrade() -> None:
    op.drop_table("send_pacing")
