"""Survey answers kept anonymous in fact (issue 17): counted invitations, sealed pending answers, and their
release once the month is over (the rule is :mod:`hotline.flows.survey_release`)."""

from __future__ import annotations

import json
import random
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.flows.survey import StoreSurveyAnswer
from hotline.flows.survey_release import recode
from hotline.storage.models import SurveyAnswer, SurveyInvitations, SurveyPending
from hotline.storage.repo import Store

_shuffle = random.SystemRandom().shuffle


async def count_invitation(s: AsyncSession, month: str, channel: str) -> None:
    """One more invitation of ``channel`` in ``month`` (an upsert: concurrent invitations both count)."""
    dialect = s.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(SurveyInvitations).values(month=month, channel=channel, invited=1)
    await s.execute(
        statement.on_conflict_do_update(
            index_elements=["month", "channel"], set_={"invited": SurveyInvitations.invited + 1}
        )
    )


async def hold_answer(s: AsyncSession, store: Store, answer: StoreSurveyAnswer) -> None:
    """Keep an answer sealed whole until its month is over (nothing of it readable in the database)."""
    fields = {
        "channel": answer.channel,
        "month": answer.month,
        "rating": answer.rating,
        "recommend": answer.recommend,
        "comment": answer.comment,
    }
    s.add(SurveyPending(id=uuid.uuid4().hex, sealed_enc=store.seal(json.dumps(fields, ensure_ascii=False))))


async def release_answers(s: AsyncSession, store: Store, before_month: str) -> tuple[int, int]:
    """Store the held answers of months before ``before_month`` ("YYYY-MM") under what their month's
    invitations allow, in random order; drop those a month cannot hide (fewer than 5 invitations, or a
    channel never counted). Returns (stored, dropped)."""
    held: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for row in (await s.scalars(select(SurveyPending))).all():
        fields = json.loads(store.open(row.sealed_enc))
        if fields["month"] < before_month:
            held[fields["month"]].append((row.id, fields))
    stored = dropped = 0
    for month, answers in held.items():
        rows = (await s.execute(select(SurveyInvitations).where(SurveyInvitations.month == month))).scalars()
        channels = recode({r.channel: r.invited for r in rows}) or {}
        _shuffle(answers)
        for _, fields in answers:
            channel = channels.get(fields["channel"])
            if channel is None:
                dropped += 1
                continue
            comment = fields["comment"]
            s.add(
                SurveyAnswer(
                    id=uuid.uuid4().hex,
                    channel=channel,
                    month=month,
                    rating=fields["rating"],
                    recommend=fields["recommend"],
                    comment_enc=store.seal(comment) if comment else None,
                )
            )
            stored += 1
        await s.execute(delete(SurveyPending).where(SurveyPending.id.in_([i for i, _ in answers])))
    return stored, dropped


__all__ = ["count_invitation", "hold_answer", "release_answers"]
