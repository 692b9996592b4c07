"""several workers (issue 14): the inbound ledger of Telegram updates received by webhook

* ``inbound_updates``: one row per ``update_id`` (deduplication), the chat's keyed hash, the update
  encrypted until processed, the replies it decided (encrypted) until sent, how often processing was
  started and by whom, when it was done.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chat_key", sa.BigInteger(), nullable=False),
        sa.Column("payload_enc", sa.LargeBinary(), nullable=True),
        sa.Column("replies_enc", sa.LargeBinary(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("started_by", sa.String(length=64), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_inbound_updates")),
    )
    op.create_index(
        "ix_inbound_updates_pending", "inbound_updates", ["done_at", "chat_key", "update_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_inbound_updates_pending", table_name="inbound_updates")
    op.drop_table("inbound_updates")
