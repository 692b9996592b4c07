"""LINE's webhook events and blocked users (issue 15): stored before the webhook answers, processed per
user in arrival order, deduplicated by LINE's ``webhookEventId``.

An event is kept sealed (it names the LINE user) only until it has been processed; then its payload
and user key are dropped and the bare event id stays, so that a late redelivery is still recognised.
With several workers (PostgreSQL) a user's events are carried out by the worker that holds the user's
advisory lock (:mod:`hotline.line.shared`): :func:`waiting_users`, :func:`start_next` (``attempts``
counts the starts, ``started_by`` names the worker that began it last), :func:`settle` in the transaction
that carries an event out, :func:`finish`. Only the worker that began an event may settle or finish it
(:class:`~hotline.storage.inbound.TakenOver` otherwise: its lock connection was lost and another worker
took the user over).

An event begun :data:`~hotline.line.shared.MAX_STARTS` times without finishing is *set aside*
(:func:`set_aside`): marked done with its sealed copy and user key kept as stored, never pruned, for an
operator to look at and queue again (docs/operations.md) — until its user asks to be forgotten
(:func:`forget_user`) or the retention purge's ``contact_days`` have passed (:func:`purge_stale`): then
its content and user key are erased like those of any event never carried out.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    case,
    column,
    delete,
    func,
    literal,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.storage.inbound import TakenOver
from hotline.storage.models import Employee, LineBlocked, LineEvent

EVENT_CONTEXT = b"line-event"  # what a stored event is sealed with
# The seq of the LINE event this task is carrying out (set by both inboxes around the handler), so that
# ``/forget`` knows which of the user's stored events came before the one asking to be forgotten.
CARRYING_OUT: ContextVar[int | None] = ContextVar("hotline_line_event_seq", default=None)


def user_of(raw: dict[str, Any]) -> str | None:
    """The LINE user id of a one-to-one event (LINE's JSON), else None."""
    source = raw.get("source")
    if isinstance(source, dict) and source.get("type") == "user" and isinstance(source.get("userId"), str):
        return str(source["userId"])
    return None


def _add_statement(dialect: str) -> Any:
    """Insert events, skipping any whose ``event_id`` is stored already; the new ones' seq and id back."""
    table = LineEvent.metadata.tables[LineEvent.__tablename__]
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(table.c.seq, table.c.event_id)
    )


_ADD = {dialect: _add_statement(dialect) for dialect in ("postgresql", "sqlite")}


async def add_events(
    s: AsyncSession, events: Sequence[tuple[str, str | None, bytes]], now: datetime
) -> list[tuple[int, str, str | None]]:
    """Store ``(event_id, user_key, sealed payload)`` rows in order; return ``(seq, event_id, user_key)``
    of the ones not seen before (a redelivered event is stored once, even when it comes in the same
    batch). One statement for the batch, built once (Core: the ORM's insert cost about 0.5 ms of the
    event loop an event, the LINE path's largest cost; issue 15's benchmark)."""
    if not events:
        return []
    rows = await s.execute(
        _ADD[s.get_bind().dialect.name],
        [
            {"event_id": event_id, "user_key": user_key, "payload_enc": payload, "received_at": now}
            for event_id, user_key, payload in events
        ],
    )
    stored = {event_id: seq for seq, event_id in rows}
    new: list[tuple[int, str, str | None]] = []
    for event_id, user_key, _ in events:
        seq = stored.pop(event_id, None)  # popped: a second copy in the batch is not new
        if seq is not None:
            new.append((seq, event_id, user_key))
    return sorted(new)


async def pending(s: AsyncSession) -> list[tuple[int, str | None, bytes]]:
    """``(seq, user_key, sealed event)`` of every event stored and not yet done, oldest first."""
    rows = await s.execute(
        select(LineEvent.seq, LineEvent.user_key, LineEvent.payload_enc)
        .where(LineEvent.done_at.is_(None), LineEvent.payload_enc.is_not(None))
        .order_by(LineEvent.seq)
    )
    return [(seq, key, payload) for seq, key, payload in rows.all() if payload is not None]


async def finish(s: AsyncSession, seqs: Sequence[int], now: datetime) -> None:
    """These events are done: their payload, replies and user key go; the bare id stays (deduplication).
    One process (SQLite): no worker to check; several workers use :func:`finish_mine`."""
    await s.execute(
        update(LineEvent)
        .where(LineEvent.seq.in_(list(seqs)))
        .values(done_at=now, payload_enc=None, replies_enc=None, user_key=None)
        .execution_options(synchronize_session=False)
    )


async def _mine(s: AsyncSession, seq: int, owner: str, **values: object) -> None:
    result = await s.execute(
        update(LineEvent)
        .where(LineEvent.seq == seq, LineEvent.started_by == owner)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise TakenOver(f"LINE event {seq} was taken over by another worker")


async def still_mine(s: AsyncSession, seq: int, owner: str) -> None:
    """Nothing changes: :class:`TakenOver` when ``owner`` is no longer the worker that began the event."""
    await _mine(s, seq, owner, started_by=owner)


async def finish_mine(s: AsyncSession, seq: int, owner: str, now: datetime) -> None:
    """:func:`finish` for the worker that began the event; :class:`TakenOver` when ``owner`` no longer is."""
    await _mine(s, seq, owner, done_at=now, payload_enc=None, replies_enc=None, user_key=None)


async def set_aside(s: AsyncSession, seq: int, owner: str, now: datetime) -> None:
    """Begun too often without finishing: done (the user's later events go on), its sealed copy and user
    key kept as stored for an operator (never pruned; erased by /forget and the retention purge)."""
    await _mine(s, seq, owner, done_at=now)


async def set_aside_count(s: AsyncSession) -> int:
    """Events set aside (for operators)."""
    count = await s.scalar(
        select(func.count()).where(LineEvent.done_at.is_not(None), LineEvent.payload_enc.is_not(None))
    )
    return int(count or 0)


async def forget_user(s: AsyncSession, user_key: str, before: int | None, now: datetime) -> int:
    """``/forget`` (in the erasure's transaction): the user's events that still hold content lose it and
    their user key, and count as done; the bare event id and times stay (a redelivery is still
    recognised; nothing in them says whose they were). That is every event of theirs set aside, and
    every one stored before ``before`` (the event asking to be forgotten) and not yet done (one that
    failed in every attempt, kept for the next start). Their events after it are what they wrote after
    asking: carried out as usual (a crisis among them is screened like any message). Returns how many."""
    kept = LineEvent.done_at.is_not(None) & LineEvent.payload_enc.is_not(None)  # set aside
    if before is not None:
        kept = kept | (LineEvent.done_at.is_(None) & (LineEvent.seq < before))
    result = await s.execute(
        update(LineEvent)
        .where(LineEvent.user_key == user_key, kept)
        .values(
            done_at=func.coalesce(LineEvent.done_at, now), payload_enc=None, replies_enc=None, user_key=None
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _of_user(user_key: str | None) -> ColumnElement[bool]:
    return LineEvent.user_key.is_(None) if user_key is None else LineEvent.user_key == user_key


# inbound.chat_key in SQL: 63 bits of the hex pseudonym (a logical shift of the bit string, so never negative).
_LOCK_OF_USER = literal_column(
    "(('x' || substr(line_events.user_key, 1, 16))::bit(64) >> 1)::bigint", BigInteger
)
# Lock keys held by any session (advisory locks in the one-bigint space, hotline.storage.leases).
_HELD = text(
    """SELECT (l.classid::bigint << 32) | l.objid::bigint AS held_key FROM pg_locks l
       WHERE l.locktype = 'advisory' AND l.objsubid = 1
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
).columns(column("held_key", BigInteger))


async def waiting_users(s: AsyncSession, limit: int, no_user: int = 0) -> list[str | None]:
    """User keys with events not yet done, the longest-waiting first (None: events of no one user).
    On PostgreSQL, users whose lock (``chat_key`` of the user key; ``no_user`` for None) any session
    holds are left out, so a worker whose oldest ``limit`` users are held elsewhere finds the next ones."""
    query = (
        select(LineEvent.user_key)
        .where(LineEvent.done_at.is_(None))
        .group_by(LineEvent.user_key)
        .order_by(func.min(LineEvent.seq))
        .limit(limit)
    )
    if s.get_bind().dialect.name == "postgresql":
        lock = case((LineEvent.user_key.is_(None), literal(no_user, BigInteger)), else_=_LOCK_OF_USER)
        query = query.where(lock.not_in(select(_HELD.subquery().c.held_key)))
    return [key for (key,) in await s.execute(query)]


@dataclass(frozen=True)
class Started:
    seq: int
    payload_enc: bytes | None  # None once settled: what it decided is stored; only its replies remain
    replies_enc: bytes | None
    attempts: int  # including this start: 2 or more means a worker began it before and did not finish


async def start_next(s: AsyncSession, user_key: str | None, owner: str) -> Started | None:
    """The user's oldest event not yet done, marked as started by ``owner`` (who holds the user's lock)."""
    oldest = (
        select(func.min(LineEvent.seq))
        .where(_of_user(user_key), LineEvent.done_at.is_(None))
        .scalar_subquery()
    )
    row = (
        await s.execute(
            update(LineEvent)
            .where(LineEvent.seq == oldest)
            .values(attempts=LineEvent.attempts + 1, started_by=owner)
            .returning(LineEvent.seq, LineEvent.payload_enc, LineEvent.replies_enc, LineEvent.attempts)
            .execution_options(synchronize_session=False)
        )
    ).first()
    return None if row is None else Started(row[0], row[1], row[2], row[3])


async def settle(s: AsyncSession, seq: int, owner: str, replies_enc: bytes) -> None:
    """In the transaction that carries out what the event decided: the event itself is erased (it is
    never carried out again) and the replies it still has to send are kept until they have gone.
    Raises :class:`TakenOver` when ``owner`` is no longer the worker that began it."""
    await _mine(s, seq, owner, payload_enc=None, replies_enc=replies_enc)


async def backlog(s: AsyncSession) -> int:
    """Events stored and not yet done."""
    return int(await s.scalar(select(func.count()).where(LineEvent.done_at.is_(None))) or 0)


async def prune(s: AsyncSession, before: datetime) -> int:
    """Forget the ids of events carried out before ``before`` (LINE redelivers for a short while only)."""
    result = await s.execute(
        delete(LineEvent)
        .where(
            LineEvent.done_at.is_not(None),
            LineEvent.done_at < before,
            LineEvent.payload_enc.is_(None),  # one set aside is kept for an operator
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def blocked(s: AsyncSession) -> set[str]:
    return set((await s.scalars(select(LineBlocked.pseudonym))).all())


async def is_blocked(s: AsyncSession, pseudonym: str) -> bool:
    """Whether this user blocked the account (read from the database: any worker may have seen it)."""
    found = await s.scalar(select(LineBlocked.pseudonym).where(LineBlocked.pseudonym == pseudonym))
    return found is not None


async def set_blocked(s: AsyncSession, pseudonym: str, on: bool, now: datetime) -> None:
    await s.execute(delete(LineBlocked).where(LineBlocked.pseudonym == pseudonym))
    if on:
        s.add(LineBlocked(pseudonym=pseudonym, since=now))


async def forget_blocked(s: AsyncSession, pseudonym: str) -> None:
    """``/forget``: the pseudonym goes from the block list too (it links the person to the account)."""
    await s.execute(delete(LineBlocked).where(LineBlocked.pseudonym == pseudonym))


async def purge_stale(s: AsyncSession, cutoff: datetime, now: datetime) -> tuple[int, int]:
    """Retention: block-list entries older than ``cutoff`` of people the service keeps no contact data
    for (nothing can be sent to them anyway), and events stored before ``cutoff`` and never carried out:
    not yet done, or set aside (their sealed content and user key; the bare id stays). Returns (entries,
    events)."""
    kept = select(Employee.id).where(
        Employee.pseudonym == LineBlocked.pseudonym, Employee.contact_enc.is_not(None)
    )
    blocked = await s.execute(
        delete(LineBlocked)
        .where(LineBlocked.since < cutoff, ~kept.exists())
        .execution_options(synchronize_session=False)
    )
    events = await s.execute(
        update(LineEvent)
        .where(
            LineEvent.received_at < cutoff,
            LineEvent.done_at.is_(None) | LineEvent.payload_enc.is_not(None),  # or set aside
        )
        .values(
            done_at=func.coalesce(LineEvent.done_at, now), payload_enc=None, replies_enc=None, user_key=None
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(blocked, "rowcount", 0) or 0), int(getattr(events, "rowcount", 0) or 0)
