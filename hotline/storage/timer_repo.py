"""Timers kept in the database: scheduled, cancelled, claimed when due under a lease, finished.

Each function works inside the caller's session (``Store.unit()``); nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.storage.models import (
    Timer,
)
from hotline.timer_kinds import TimerKind

_TIMERS = cast(Table, Timer.__table__)  # Core statements where the ORM is not needed
_NEW_TIMERS = _TIMERS.insert().returning(_TIMERS.c.kind, _TIMERS.c.id, _TIMERS.c.due_at)


async def schedule(
    s: AsyncSession,
    kind: TimerKind,
    due_at: datetime,
    now: datetime,
    case_id: int | None = None,
    payload: dict[str, object] | None = None,
) -> Timer:
    timer = Timer(
        kind=TimerKind(kind).value, due_at=due_at, case_id=case_id, payload=payload or {}, created_at=now
    )
    s.add(timer)
    return timer


async def add_timers(
    s: AsyncSession, case_id: int, due: Sequence[tuple[TimerKind, datetime]], now: datetime
) -> dict[str, tuple[int, datetime]]:
    """:func:`schedule` for timers of one case, one of each kind, at once in one Core statement
    (``hotline/storage/rows.py``): each kind's (id, due time)."""
    assert len({kind for kind, _at in due}) == len(due), "one timer of each kind"
    if not due:
        return {}
    conn = await s.connection()
    params: list[dict[str, object]] = [
        {"kind": TimerKind(kind).value, "due_at": at, "case_id": case_id, "payload": {}, "created_at": now}
        for kind, at in due
    ]
    result = await conn.execute(_NEW_TIMERS, params)
    return {row.kind: (row.id, row.due_at) for row in result.all()}


async def cancel_timers(s: AsyncSession, case_id: int, kinds: Sequence[TimerKind], now: datetime) -> None:
    await s.execute(
        update(Timer)
        .where(
            Timer.case_id == case_id,
            Timer.kind.in_(kinds),
            Timer.fired_at.is_(None),
            Timer.cancelled_at.is_(None),
        )
        .values(cancelled_at=now)
        .execution_options(synchronize_session=False)
    )


def _pending() -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (Timer.fired_at.is_(None), Timer.cancelled_at.is_(None))


async def next_due_at(s: AsyncSession) -> datetime | None:
    # A leased timer (being run, or failed and waiting for its lease to expire) is due again at lease end.
    soonest = func.min(func.coalesce(Timer.lease_until, Timer.due_at))
    due: datetime | None = await s.scalar(select(soonest).where(*_pending()))
    return due


async def claim_due_timers(
    s: AsyncSession, now: datetime, owner: str, lease_until: datetime, *, lock: bool, limit: int = 50
) -> list[Timer]:
    """Lease due timers to ``owner`` (``FOR UPDATE SKIP LOCKED`` where the database has it)."""
    query = (
        select(Timer)
        .where(*_pending(), Timer.due_at <= now)
        .where((Timer.lease_until.is_(None)) | (Timer.lease_until < now))
        .order_by(Timer.due_at)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True)
    timers = list((await s.scalars(query)).all())
    for timer in timers:
        timer.lease_owner, timer.lease_until = owner, lease_until
    return timers


async def finish_timer(s: AsyncSession, timer_id: int, now: datetime) -> None:
    await s.execute(
        update(Timer)
        .where(Timer.id == timer_id)
        .values(fired_at=now)
        .execution_options(synchronize_session=False)
    )


async def pending_timer(s: AsyncSession, case_id: int, kind: TimerKind) -> Timer | None:
    query = select(Timer).where(Timer.case_id == case_id, Timer.kind == kind, *_pending()).order_by(Timer.id)
    return await s.scalar(query.limit(1))


@dataclass(frozen=True, slots=True)
class TimerRow:
    id: int
    kind: str
    due_at: datetime
    fired_at: datetime | None


async def timers_of(s: AsyncSession, case_id: int, kinds: Sequence[TimerKind]) -> list[TimerRow]:
    """A case's timers of ``kinds`` that were not cancelled, pending or fired, oldest first: one
    statement where a crisis alert used to ask two questions (``hotline/alerts.py``)."""
    query = (
        select(Timer.id, Timer.kind, Timer.due_at, Timer.fired_at)
        .where(Timer.case_id == case_id, Timer.kind.in_(kinds), Timer.cancelled_at.is_(None))
        .order_by(Timer.id)
    )
    return [TimerRow(*row) for row in (await s.execute(query)).all()]


async def finish_timers(s: AsyncSession, fired: Sequence[tuple[int, datetime]]) -> None:
    """:func:`finish_timer` for several (timer id, when), in one statement."""
    if fired:
        await s.execute(
            update(_TIMERS).where(_TIMERS.c.id == bindparam("timer_id")).values(fired_at=bindparam("at")),
            [{"timer_id": timer_id, "at": at} for timer_id, at in fired],
        )


async def has_pending_kind(s: AsyncSession, kind: TimerKind) -> bool:
    found = await s.scalar(select(Timer.id).where(Timer.kind == kind, *_pending()).limit(1))
    return found is not None


async def has_pending_timer(s: AsyncSession, case_id: int, kind: TimerKind) -> bool:
    found = await s.scalar(select(Timer.id).where(Timer.case_id == case_id, Timer.kind == kind, *_pending()))
    return found is not None


async def had_timer(s: AsyncSession, case_id: int, kind: TimerKind) -> bool:
    """A timer of ``kind`` for the case, pending or fired (cancelled ones do not count)."""
    query = select(Timer.id).where(Timer.case_id == case_id, Timer.kind == kind, Timer.cancelled_at.is_(None))
    return await s.scalar(query.limit(1)) is not None


__all__ = [
    "cancel_timers",
    "claim_due_timers",
    "finish_timer",
    "finish_timers",
    "had_timer",
    "has_pending_kind",
    "has_pending_timer",
    "next_due_at",
    "pending_timer",
    "schedule",
    "timers_of",
]
