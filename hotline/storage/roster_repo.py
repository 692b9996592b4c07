"""The counselor roster: synced from the config, who is on duty, who supervises.

Each function works inside the caller's session (``Store.unit()``); nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.settings import CounselorEntry
from hotline.storage.models import (
    Counselor,
)

_ON_DUTY_IDS = (
    select(Counselor.telegram_id)
    .where(Counselor.on_duty.is_(True), Counselor.active.is_(True))
    .order_by(Counselor.name)
)


async def sync_roster(s: AsyncSession, entries: Sequence[CounselorEntry]) -> None:
    """Make the counselors table match the configured roster (removed people become inactive)."""
    known = {c.telegram_id: c for c in (await s.scalars(select(Counselor))).all()}
    for entry in entries:
        row = known.pop(entry.telegram_id, None)
        if row is None:
            s.add(
                Counselor(telegram_id=entry.telegram_id, name=entry.name, role=entry.role.value, active=True)
            )
        else:
            row.name, row.role, row.active = entry.name, entry.role.value, True
    for row in known.values():
        row.active, row.on_duty = False, False


async def counselor(s: AsyncSession, telegram_id: int) -> Counselor | None:
    row = await s.get(Counselor, telegram_id)
    return row if row is not None and row.active else None


async def set_duty(s: AsyncSession, telegram_id: int, on: bool, now: datetime) -> None:
    await s.execute(
        update(Counselor)
        .where(Counselor.telegram_id == telegram_id)
        .values(on_duty=on, on_duty_since=now if on else None)
    )


async def on_duty(s: AsyncSession) -> list[Counselor]:
    rows = await s.scalars(
        select(Counselor)
        .where(Counselor.on_duty.is_(True), Counselor.active.is_(True))
        .order_by(Counselor.name)
    )
    return list(rows.all())


async def on_duty_ids(s: AsyncSession) -> list[int]:
    """:func:`on_duty`'s Telegram ids, in its order: one Core statement (a crisis's alert needs no more;
    ``hotline/storage/rows.py``)."""
    conn = await s.connection()
    return list((await conn.scalars(_ON_DUTY_IDS)).all())


async def supervisors(s: AsyncSession) -> list[Counselor]:
    rows = await s.scalars(
        select(Counselor)
        .where(Counselor.role == "supervisor", Counselor.active.is_(True))
        .order_by(Counselor.name)
    )
    return list(rows.all())


__all__ = ["counselor", "on_duty", "on_duty_ids", "set_duty", "supervisors", "sync_roster"]
