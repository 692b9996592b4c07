"""e-mail station: the automatic mails each address got in the last day (``[email] auto_mails_per_day``)

* ``auto_mails``: an address's pseudonym and when it was sent an automatic mail (no content; a day).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auto_mails",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("who", sa.String(length=64), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auto_mails")),
    )
    op.create_index("ix_auto_mails_who", "auto_mails", ["who", "sent_at"], unique=False)
    op.create_index("ix_auto_mails_sent_at", "auto_mails", ["sent_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_auto_mails_sent_at", table_name="auto_mails")
    op.drop_index("ix_auto_mails_who", table_name="auto_mails")
    op.drop_table("auto_mails")
