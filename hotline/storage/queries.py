"""Read-only views for commands and reports: no content, no contact identity."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from hotline.storage import repo
from hotline.storage.db import create_engine, require_current, session_factory
from hotline.storage.models import Mail


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def case_summaries(url: str) -> list[dict[str, object]]:
    """Cases as DESIGN §3 lists them for ``hotline cases --json``; ``other_sender_mails``: how many of a
    case's mails came from an address other than its first sender's (issue 19; never which). Read-only:
    a database that is missing or behind is an error (:func:`~hotline.storage.db.require_current`)."""
    engine = create_engine(url)
    try:
        await require_current(engine)
        async with session_factory(engine)() as s:
            cases = await repo.all_cases(s)
            others = await s.execute(
                select(Mail.case_id, func.count()).where(Mail.other_sender.is_(True)).group_by(Mail.case_id)
            )
            other: dict[int | None, int] = {case_id: count for case_id, count in others.all()}
            return [
                {
                    "code": c.code,
                    "channel": c.channel,
                    "status": c.status,
                    "category": c.category,
                    "risk": c.risk,
                    "opened_at": _iso(c.opened_at),
                    "reply_due_at": _iso(c.reply_due_at),
                    "message_count": c.message_count,
                    "other_sender_mails": other.get(c.id, 0),
                }
                for c in cases
            ]
    finally:
        await engine.dispose()
