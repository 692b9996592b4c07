"""several workers (issue 14): what the screening window and the flood limit share between workers

* ``recent_words``: an employee's last few chat messages (sealed), for the conversation window's span.
* ``flood_buckets``: an employee's flood-limit token bucket (no content).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recent_words",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("who", sa.String(length=64), nullable=False),
        sa.Column("said_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text_enc", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recent_words")),
    )
    op.create_index("ix_recent_words_who", "recent_words", ["who", "said_at"], unique=False)
    op.create_index("ix_recent_words_said_at", "recent_words", ["said_at"], unique=False)
    op.create_table(
        "flood_buckets",
        sa.Column("who", sa.String(length=64), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("denied", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("who", name=op.f("pk_flood_buckets")),
    )


def downgrade() -> None:
    op.drop_table("flood_buckets")
    op.drop_index("ix_recent_words_said_at", table_name="recent_words")
    op.drop_index("ix_recent_words_who", table_name="recent_words")
    op.drop_table("recent_words")
