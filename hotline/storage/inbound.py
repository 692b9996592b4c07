"""The inbound ledger: every Telegram update received by webhook, stored before Telegram is answered.

One row per ``update_id`` (a redelivered update finds its row and adds nothing). ``chat_key`` is a keyed
hash of the chat (no Telegram id in the clear); the update itself is kept encrypted until it has been
processed, then erased, and the bare row (id, chat key, times) stays a few days so that a late
redelivery is still recognised. Updates are processed per chat in ``update_id`` order by whichever
worker holds the chat's lock (:mod:`hotline.bot.inbox`); ``attempts`` counts the starts, so an update
begun by a worker that died is known when another worker takes it over, and ``started_by`` names the
worker that began it last: only that worker may settle or finish it (:class:`TakenOver` otherwise).

An update begun :data:`~hotline.bot.inbox.MAX_ATTEMPTS` times without finishing is *set aside*: marked
done with its sealed copy kept as stored (``done_at`` set, ``payload_enc`` not null), never purged, for
an operator to look at and queue again (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    LargeBinary,
    Select,
    SmallInteger,
    String,
    bindparam,
    column,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hotline.storage.leases import Locks
from hotline.storage.models import Base, Stamp

UPDATE_CONTEXT = b"update"  # the encryption context of a stored update
KEEP_DONE = timedelta(days=2)  # Telegram gives up redelivering after about a day
# The stored update this task is carrying out, as (chat key, update id); set by the inbox around it, so
# that ``/forget`` can erase that chat's other stored updates (:func:`forget_chat`). None in polling mode.
CARRYING_OUT: ContextVar[tuple[int, int] | None] = ContextVar("hotline_inbound_update_seq", default=None)


class InboundUpdate(Base):
    __tablename__ = "inbound_updates"
    __table_args__ = (Index("ix_inbound_updates_pending", "done_at", "chat_key", "update_id"),)

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_key: Mapped[int] = mapped_column(BigInteger)
    payload_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    replies_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    received_at: Mapped[datetime] = mapped_column(Stamp)
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    started_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)


class TakenOver(Exception):
    """The update is no longer this worker's: its lock connection was lost (an idle timeout, a
    ``pg_terminate_backend``) and another worker took the chat over. The transaction is rolled back and
    the chat left to the other worker."""


def chat_key(pseudonym: str) -> int:
    """A chat's key for ordering and locking: 63 bits of its keyed pseudonym (a hex HMAC)."""
    return int(pseudonym[:16], 16) >> 1


async def store(
    s: AsyncSession | AsyncConnection, update_id: int, key: int, payload_enc: bytes, now: datetime
) -> bool:
    """Keep one update; False when it was already there (a redelivery: nothing is added). One
    statement: the webhook runs it alone (``Store.single``, autocommit on PostgreSQL)."""
    values = {
        "update_id": update_id,
        "chat_key": key,
        "payload_enc": payload_enc,
        "received_at": now,
        "attempts": 0,
    }
    dialect = _dialect(s)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(InboundUpdate).values(**values).on_conflict_do_nothing(index_elements=["update_id"])
    result = await s.execute(statement.returning(InboundUpdate.update_id))
    return result.first() is not None


# Chat keys held by any session (advisory locks in the one-bigint space, hotline.storage.leases): on
# PostgreSQL a worker looks past the chats other workers hold, and past its own.
_HELD = text(
    """SELECT (l.classid::bigint << 32) | l.objid::bigint AS held_key FROM pg_locks l
       WHERE l.locktype = 'advisory' AND l.objsubid = 1
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
).columns(column("held_key", BigInteger))


def _dialect(s: AsyncSession | AsyncConnection) -> str:
    return s.dialect.name if isinstance(s, AsyncConnection) else s.get_bind().dialect.name


def waiting_query(limit: int, *, shared: bool) -> Select[Any]:
    """The query of :func:`waiting_chats` (``shared``: on PostgreSQL, past the chats any worker holds);
    :meth:`~hotline.storage.leases.Locks.try_chats` locks what it selects in the same statement."""
    query = (
        select(InboundUpdate.chat_key)
        .where(InboundUpdate.done_at.is_(None))
        .group_by(InboundUpdate.chat_key)
        .order_by(func.min(InboundUpdate.update_id))
        .limit(limit)
    )
    if shared:
        query = query.where(InboundUpdate.chat_key.not_in(select(_HELD.subquery().c.held_key)))
    return query


async def waiting_chats(s: AsyncSession | AsyncConnection, limit: int) -> list[int]:
    """Chats with updates not yet processed and held by nobody, the longest-waiting first (a worker
    whose first ``limit`` candidates are all held by other workers still finds the next ones)."""
    rows = await s.execute(waiting_query(limit, shared=_dialect(s) == "postgresql"))
    return [key for (key,) in rows]


@dataclass(frozen=True)
class Started:
    update_id: int
    payload_enc: bytes | None  # None once settled: what it decided is stored; only its replies remain
    replies_enc: bytes | None
    attempts: int  # including this start: 2 or more means a worker began it before and did not finish


# The look for waiting chats, their locks and the start of each one's oldest update, in one statement on
# the lock connection (:meth:`~hotline.storage.leases.Locks.run`): at most ``:free`` chats that nobody
# holds are tried (PostgreSQL never pushes a condition into a subquery with a LIMIT; ``taken``, volatile,
# is evaluated once). The updates are looked for in the statement's snapshot, taken before the locks:
# ``done_at IS NULL`` is checked again on the row each start locks, so an update another worker finished
# meanwhile is not started again (its chat comes back without one: the drain looks again itself).
_TAKE_AND_START = text(
    """WITH taken AS (
         SELECT w.chat_key FROM (
           SELECT chat_key FROM inbound_updates
           WHERE done_at IS NULL AND chat_key NOT IN (
             SELECT (l.classid::bigint << 32) | l.objid::bigint FROM pg_locks l
             WHERE l.locktype = 'advisory' AND l.objsubid = 1
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
           GROUP BY chat_key ORDER BY min(update_id) LIMIT :free) AS w
         WHERE pg_try_advisory_lock(w.chat_key)),
       started AS (
         UPDATE inbound_updates SET attempts = attempts + 1, started_by = :owner
         WHERE update_id IN (SELECT min(u.update_id) FROM inbound_updates u JOIN taken t ON u.chat_key = t.chat_key
                             WHERE u.done_at IS NULL GROUP BY u.chat_key)
           AND done_at IS NULL
         RETURNING chat_key, update_id, payload_enc, replies_enc, attempts)
       SELECT taken.chat_key, started.update_id, started.payload_enc, started.replies_enc, started.attempts
       FROM taken LEFT JOIN started ON started.chat_key = taken.chat_key"""
).bindparams(bindparam("free", type_=Integer), bindparam("owner", type_=String))


async def take_and_start(locks: Locks, owner: str, free: int) -> list[tuple[int, Started | None]]:
    """PostgreSQL: lock up to ``free`` chats with waiting updates that nobody holds and start each one's
    oldest (None when none was left to start), in one statement on ``locks``' connection."""
    rows = await locks.run(_TAKE_AND_START, {"free": free, "owner": owner})
    taken: list[tuple[int, Started | None]] = []
    for key, update_id, payload_enc, replies_enc, attempts in (tuple(row) for row in rows):
        taken.append(
            (int(key), None if update_id is None else Started(update_id, payload_enc, replies_enc, attempts))
        )
    return taken


async def start_next(
    s: AsyncSession | AsyncConnection, key: int, owner: str, now: datetime
) -> Started | None:
    """The chat's oldest unprocessed update, marked as started by ``owner`` (the caller holds the chat).
    One statement: the inbox runs it alone (``Store.single``, autocommit on PostgreSQL)."""
    oldest = (
        select(func.min(InboundUpdate.update_id))
        .where(InboundUpdate.chat_key == key, InboundUpdate.done_at.is_(None))
        .scalar_subquery()
    )
    row = (
        await s.execute(
            update(InboundUpdate)
            .where(InboundUpdate.update_id == oldest, InboundUpdate.done_at.is_(None))
            .values(attempts=InboundUpdate.attempts + 1, started_by=owner)
            .returning(
                InboundUpdate.update_id,
                InboundUpdate.payload_enc,
                InboundUpdate.replies_enc,
                InboundUpdate.attempts,
            )
            .execution_options(synchronize_session=False)
        )
    ).first()
    return None if row is None else Started(row[0], row[1], row[2], row[3])


# Finish one update and start the chat's next one, in one statement (PostgreSQL: a round trip, run in
# autocommit). The next is started only when the finish was ours (``fin`` returned its row): an update
# taken over by another worker starts nothing. The next update is looked for in the statement's
# snapshot, where ``done`` is not yet done, hence ``<> :done``; ``done_at IS NULL`` is checked again on
# the row it locks (another worker that finished it meanwhile leaves nothing to start).
_FINISH_START_CTES = """WITH fin AS (
         UPDATE inbound_updates SET done_at = :now, payload_enc = NULL, replies_enc = NULL
         WHERE update_id = :done AND started_by = :owner
         RETURNING update_id),
       nxt AS (
         UPDATE inbound_updates SET attempts = attempts + 1, started_by = :owner
         WHERE update_id = (SELECT min(update_id) FROM inbound_updates
                            WHERE chat_key = :key AND done_at IS NULL AND update_id <> :done)
           AND done_at IS NULL AND EXISTS (SELECT 1 FROM fin)
         RETURNING update_id, payload_enc, replies_enc, attempts)"""
_FINISH_START_PARAMS = (
    bindparam("now", type_=Stamp),
    bindparam("done", type_=BigInteger),
    bindparam("key", type_=BigInteger),
    bindparam("owner", type_=String),
)
_FINISH_START = text(
    _FINISH_START_CTES
    + """
       SELECT (SELECT count(*) FROM fin) AS finished, nxt.update_id, nxt.payload_enc, nxt.replies_enc,
              nxt.attempts, 0 AS released
       FROM (SELECT 1) AS one LEFT JOIN nxt ON true"""
).bindparams(*_FINISH_START_PARAMS)
# The same on the lock connection, letting the chat go when it has no next update: the lock is released
# after the finish has locked its row (``rel`` reads ``fin``), though before the statement commits; a
# worker that takes the chat in that moment and looks for its oldest update waits for that row and,
# finding it done, starts nothing (``done_at IS NULL`` checked again on the row: its drain looks again).
_FINISH_START_OR_RELEASE = text(
    _FINISH_START_CTES
    + """,
       rel AS (
         SELECT pg_advisory_unlock(:key) AS released FROM (SELECT count(*) AS n FROM fin) AS f
         WHERE NOT EXISTS (SELECT 1 FROM nxt))
       SELECT (SELECT count(*) FROM fin) AS finished, nxt.update_id, nxt.payload_enc, nxt.replies_enc,
              nxt.attempts, (SELECT count(*) FROM rel) AS released
       FROM (SELECT 1) AS one LEFT JOIN nxt ON true"""
).bindparams(*_FINISH_START_PARAMS)


def _finished_started(row: Sequence[Any], done: int) -> Started | None:
    finished, update_id, payload_enc, replies_enc, attempts, _released = row
    if not finished:
        raise TakenOver(f"update {done} was taken over by another worker")
    return None if update_id is None else Started(update_id, payload_enc, replies_enc, attempts)


async def finish_start_or_release(
    locks: Locks, done: int, key: int, owner: str, now: datetime
) -> tuple[Started | None, bool]:
    """PostgreSQL: :func:`finish_and_start_next` on ``locks``' connection, the chat's lock released in
    the same statement when it has no next update (one round trip and one transaction fewer a chat).
    Returns the update started and whether the lock was released (always, when it raises
    :class:`TakenOver`: the chat is no longer this worker's)."""
    params = {"now": now, "done": done, "key": key, "owner": owner}
    row = tuple((await locks.run(_FINISH_START_OR_RELEASE, params))[0])
    return _finished_started(row, done), bool(row[5])


async def finish_and_start_next(
    s: AsyncSession | AsyncConnection, done: int, key: int, owner: str, now: datetime
) -> Started | None:
    """:func:`finish` ``done``, then :func:`start_next` of the same chat, in one transaction: on
    PostgreSQL one statement (``Store.single``: one round trip, autocommit), elsewhere the two.
    Raises :class:`TakenOver` (having started nothing) when ``owner`` no longer holds ``done``."""
    if _dialect(s) != "postgresql":
        await finish(s, done, owner, now)
        return await start_next(s, key, owner, now)
    row = (await s.execute(_FINISH_START, {"now": now, "done": done, "key": key, "owner": owner})).one()
    return _finished_started(tuple(row), done)


async def _mine(s: AsyncSession | AsyncConnection, update_id: int, owner: str, **values: object) -> None:
    result = await s.execute(
        update(InboundUpdate)
        .where(InboundUpdate.update_id == update_id, InboundUpdate.started_by == owner)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise TakenOver(f"update {update_id} was taken over by another worker")


async def settle(s: AsyncSession, update_id: int, owner: str, replies_enc: bytes | None) -> None:
    """In the transaction that carries out what the update decided: the update itself is erased (it is
    never processed again) and the replies it still has to send are kept until they have gone. With
    ``replies_enc`` None (a part of the update that another part follows), nothing changes but the
    check. Raises :class:`TakenOver` when ``owner`` is no longer the worker that began it."""
    if replies_enc is None:
        await _mine(s, update_id, owner, started_by=owner)
    else:
        await _mine(s, update_id, owner, payload_enc=None, replies_enc=replies_enc)


async def finish(s: AsyncSession | AsyncConnection, update_id: int, owner: str, now: datetime) -> None:
    """Processed and answered: its content is erased; the bare row stays to recognise a redelivery.
    Raises :class:`TakenOver` when ``owner`` is no longer the worker that began it."""
    await _mine(s, update_id, owner, done_at=now, payload_enc=None, replies_enc=None)


async def set_aside(s: AsyncSession, update_id: int, owner: str, now: datetime) -> None:
    """Begun too often without finishing: done, its sealed copy kept as stored for an operator."""
    await _mine(s, update_id, owner, done_at=now)


async def set_aside_count(s: AsyncSession) -> int:
    """Updates set aside (for metrics and operators)."""
    count = await s.scalar(
        select(func.count()).where(InboundUpdate.done_at.is_not(None), InboundUpdate.payload_enc.is_not(None))
    )
    return int(count or 0)


async def forget_chat(s: AsyncSession, now: datetime) -> int:
    """``/forget`` (in the erasure's transaction, while the inbox carries out the update asking it): the
    chat's stored updates that still hold content lose it and their chat key, and count as done; the bare
    update id and times stay until :func:`purge` (a redelivery is still recognised; nothing in them says
    whose they were). That is every update of the chat set aside, and every one before the asking update
    not yet done. Updates after it are what they wrote after asking: carried out as usual (a crisis among
    them is screened like any message). Returns how many; 0 outside the inbox (polling keeps none)."""
    carrying = CARRYING_OUT.get()
    if carrying is None:
        return 0
    key, current = carrying
    set_aside_rows = InboundUpdate.done_at.is_not(None) & InboundUpdate.payload_enc.is_not(None)
    left_over = InboundUpdate.done_at.is_(None) & (InboundUpdate.update_id < current)
    result = await s.execute(
        update(InboundUpdate)
        .where(InboundUpdate.chat_key == key, set_aside_rows | left_over)
        .values(
            done_at=func.coalesce(InboundUpdate.done_at, now), payload_enc=None, replies_enc=None, chat_key=0
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def purge(s: AsyncSession, now: datetime) -> int:
    """Forget processed updates older than :data:`KEEP_DONE`; return how many."""
    result = await s.execute(
        delete(InboundUpdate)
        .where(
            InboundUpdate.done_at.is_not(None),
            InboundUpdate.done_at < now - KEEP_DONE,
            InboundUpdate.payload_enc.is_(None),  # one set aside is kept for an operator
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def backlog(s: AsyncSession | AsyncConnection) -> int:
    """Updates received and not yet processed (for metrics)."""
    count = await s.scalar(select(func.count()).where(InboundUpdate.done_at.is_(None)))
    return int(count or 0)
