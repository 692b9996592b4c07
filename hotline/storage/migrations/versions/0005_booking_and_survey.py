"""face-to-face booking and the anonymous satisfaction survey

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 10:00:00

Hand-written (issue 7). ``slots`` and ``bookings`` for face-to-face counseling; ``survey_tokens`` and
``survey_answers`` hold NOTHING that can reach a case or an employee: no foreign key, no case or employee
column, no timestamp finer than a month, random primary keys (on SQLite ``WITHOUT ROWID``, so the physical
order follows the random key, not insertion time). ``cases.survey_invited`` makes a second invitation
impossible; ``conversations.survey_token_hash`` is the transient link while a survey comment is awaited.
Columns are added with ``ADD COLUMN`` (no table rebuild, so the audit triggers of 0004 are untouched).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("counselor_id", sa.BigInteger(), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["counselor_id"], ["counselors.telegram_id"], name=op.f("fk_slots_counselor_id_counselors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slots")),
    )
    op.create_index("ix_slots_counselor_id", "slots", ["counselor_id"], unique=False)
    op.create_index("ix_slots_free", "slots", ["booking_id", "start"], unique=False)
    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_code", sa.String(length=16), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=True),
        sa.Column("area", sa.String(length=32), nullable=True),
        sa.Column("paid_minutes", sa.Integer(), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("private_reason_enc", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("survey_invited", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_bookings_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["employee_id"], ["employees.id"], name=op.f("fk_bookings_employee_id_employees")
        ),
        sa.ForeignKeyConstraint(["slot_id"], ["slots.id"], name=op.f("fk_bookings_slot_id_slots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
    )
    op.create_index("ix_bookings_referral_code", "bookings", ["referral_code"], unique=False)
    op.create_index("ix_bookings_employee_id", "bookings", ["employee_id"], unique=False)
    op.create_table(
        "survey_tokens",
        sa.Column("token_hash", sa.CHAR(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("area", sa.String(length=32), nullable=True),
        sa.Column("month", sa.CHAR(length=7), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("recommend", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_survey_tokens")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "survey_answers",
        sa.Column("id", sa.CHAR(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("area", sa.String(length=32), nullable=True),
        sa.Column("month", sa.CHAR(length=7), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("recommend", sa.Boolean(), nullable=True),
        sa.Column("comment_enc", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_answers")),
        sqlite_with_rowid=False,
    )
    op.add_column(
        "cases", sa.Column("survey_invited", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("conversations", sa.Column("survey_token_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("survey_token_hash")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("survey_invited")
    op.drop_table("survey_answers")
    op.drop_table("survey_tokens")
    op.drop_index("ix_bookings_employee_id", table_name="bookings")
    op.drop_index("ix_bookings_referral_code", table_name="bookings")
    op.drop_table("bookings")
    op.drop_index("ix_slots_free", table_name="slots")
    op.drop_index("ix_slots_counselor_id", table_name="slots")
    op.drop_table("slots")
