"""survey answers anonymous in fact (issue 17): no area anywhere; answers held sealed until their month is
over, then stored under channels that match 5 or more invitations of the month

Revision ID: 0008
Revises: 0007

``survey_pending`` holds each answer encrypted (random id, one sealed column) until its month is over;
``survey_invitations`` counts invitations per month and channel, from which the release decides what a
stored answer may keep (``hotline.flows.survey_release``). ``survey_answers.area`` and
``survey_tokens.area`` are dropped. Answers stored before this revision cannot be checked against their
month's invitations (they were not counted): they keep their month and are merged across channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "survey_pending",
        sa.Column("id", sa.CHAR(length=32), nullable=False),
        sa.Column("sealed_enc", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_pending")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "survey_invitations",
        sa.Column("month", sa.CHAR(length=7), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("invited", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "channel", name=op.f("pk_survey_invitations")),
    )
    op.execute(sa.text("UPDATE survey_answers SET channel = 'merged'"))
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.drop_column("area")
    with op.batch_alter_table("survey_tokens", schema=None) as batch_op:
        batch_op.drop_column("area")


def downgrade() -> None:
    with op.batch_alter_table("survey_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("area", sa.String(length=32), nullable=True))
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("area", sa.String(length=32), nullable=True))
    op.drop_table("survey_invitations")
    op.drop_table("survey_pending")
