"""Read-only views for commands and reports: no content, no contact identity."""

from __future__ import annotations

from datetime import datetime

from hotline.storage import repo
from hotline.storage.db import create_engine, session_factory


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def case_summaries(url: str) -> list[dict[str, object]]:
    """Cases as DESIGN §3 lists them for ``hotline cases --json``."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s:
            cases = await repo.all_cases(s)
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
                }
                for c in cases
            ]
    finally:
        await engine.dispose()
