"""e-mail station

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 22:16:52.895697
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_cursors",
        sa.Column("mailbox", sa.String(length=200), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("mailbox", name=op.f("pk_mail_cursors")),
    )
    op.create_table(
        "mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("dedup_key", sa.String(length=300), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("mailbox", sa.String(length=200), nullable=True),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("uid", sa.BigInteger(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raw_enc", sa.LargeBinary(), nullable=True),
        sa.Column("auto_reply", sa.Boolean(), nullable=False),
        sa.Column("malformed", sa.Boolean(), nullable=False),
        sa.Column("needs_human", sa.Boolean(), nullable=False),
        sa.Column("attachments", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_mails_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mails")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_mails_dedup_key")),
    )
    with op.batch_alter_table("mails", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mails_case_id"), ["case_id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.Column("recipient_enc", sa.LargeBinary(), nullable=False),
        sa.Column("raw_enc", sa.LargeBinary(), nullable=False),
        sa.Column("counselor_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_outbox_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_message_id")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_outbox_pending", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "thread_keys",
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_thread_keys_case_id_cases")),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_thread_keys")),
    )
    with op.batch_alter_table("thread_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_thread_keys_case_id"), ["case_id"], unique=False)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_reply_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("first_reply_at")

    with op.batch_alter_table("thread_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_thread_keys_case_id"))

    op.drop_table("thread_keys")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")
        batch_op.drop_index(batch_op.f("ix_outbox_case_id"))

    op.drop_table("outbox")
    with op.batch_alter_table("mails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mails_case_id"))

    op.drop_table("mails")
    op.drop_table("mail_cursors")
