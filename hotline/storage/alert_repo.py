"""Crisis alerts: recorded per counselor, acknowledged, escalated.

Each function works inside the caller's session (``Store.unit()``); nothing here commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.domain import Screening
from hotline.storage import rows
from hotline.storage.models import (
    Alert,
    Case,
)

_NEW_ALERT = insert(rows.table(Alert))


async def record_alert(
    s: AsyncSession,
    case: Case,
    screening: Screening,
    now: datetime,
    *,
    notified: int,
    supervisors_at_once: bool,
) -> None:
    """Inserted at once, in one Core statement (``hotline/storage/rows.py``)."""
    conn = await rows.connection(s)
    await conn.execute(
        _NEW_ALERT,
        {
            "case_id": case.id,
            "channel": case.channel,
            "risk": screening.risk.value,
            "cues": list(screening.cues),
            "raised_at": now,
            "notified": notified,
            "notified_supervisors_at_once": supervisors_at_once,
        },
    )


async def acknowledge_alerts(s: AsyncSession, case_id: int, counselor_id: int, now: datetime) -> int:
    """The first acknowledgement of a case's open alerts; later ones change nothing."""
    result = await s.execute(
        update(Alert)
        .where(Alert.case_id == case_id, Alert.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=counselor_id)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def escalate_alerts(s: AsyncSession, case_id: int, now: datetime) -> int:
    result = await s.execute(
        update(Alert)
        .where(Alert.case_id == case_id, Alert.acknowledged_at.is_(None), Alert.escalated_at.is_(None))
        .values(escalated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def alerts_of(s: AsyncSession, case_id: int) -> list[Alert]:
    return list((await s.scalars(select(Alert).where(Alert.case_id == case_id).order_by(Alert.id))).all())


__all__ = ["acknowledge_alerts", "alerts_of", "escalate_alerts", "record_alert"]
