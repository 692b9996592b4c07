"""e-mail senders (issue 19): one-time erasure tokens; mail from another sender marked; kept ids re-made

* ``forget_tokens``: the hash of each one-time code an erasure explanation carries, its person and expiry.
* ``mails.other_sender``, ``messages.other_sender``: the mail's sender is not the case's first sender.
* Dedup keys now cover Message-ID, sender and content, and a sender's Message-IDs thread only that
  sender's mail: every kept key is marked stale here (``v0:`` in front, which no key id starts with),
  and the service re-makes them from the decrypted mails at its next start (`hotline.privacy.rekey_mail`).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STALE = "v0:"


def upgrade() -> None:
    op.create_table(
        "forget_tokens",
        sa.Column("token_hash", sa.CHAR(length=64), nullable=False),
        sa.Column(
            "employee_id",
            sa.Integer(),
            sa.ForeignKey(
                "employees.id", ondelete="CASCADE", name=op.f("fk_forget_tokens_employee_id_employees")
            ),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_forget_tokens")),
    )
    op.create_index(op.f("ix_forget_tokens_employee_id"), "forget_tokens", ["employee_id"])
    for table in ("mails", "messages"):
        op.add_column(
            table, sa.Column("other_sender", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Keys are 300 characters at most; a longer one cannot be under a key (those are 73): already stale.
    op.execute(
        f"UPDATE mails SET dedup_key = '{_STALE}' || dedup_key "
        f"WHERE length(dedup_key) <= 297 AND dedup_key NOT LIKE '{_STALE}%'"
    )
    op.execute(
        f"UPDATE thread_keys SET message_id = '{_STALE}' || message_id "
        f"WHERE length(message_id) <= 297 AND message_id NOT LIKE '{_STALE}%'"
    )


def downgrade() -> None:
    for table in ("messages", "mails"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("other_sender")
    op.drop_index(op.f("ix_forget_tokens_employee_id"), table_name="forget_tokens")
    op.drop_table("forget_tokens")
