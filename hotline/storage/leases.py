"""Locks shared by several workers on one PostgreSQL: session-level advisory locks on one connection.

A worker keeps one connection of its own (autocommit, never idle in a transaction) and takes its
advisory locks on it: a chat while it processes the chat's updates, the mail poller's while it polls.
A worker that dies loses its connection, and PostgreSQL releases every lock it held at once; another
worker takes them over at its next look. The connection's ``application_name`` is the worker's owner
id, so an operator (or a test) sees in ``pg_locks`` who holds what.

On SQLite (one process by design) every lock is granted: the process's own bookkeeping serialises.
Chats use the one-``bigint`` key space; named locks (:data:`MIGRATIONS`, :data:`MAIL_POLLER`) the
two-``int`` space, which PostgreSQL keeps apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable, Row, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

log = logging.getLogger(__name__)

SPACE = 0x484C  # "HL": hotline's named locks
LEAD_RETRY_SECONDS = 5.0  # how soon a worker notices that a lock's holder is gone


@dataclass(frozen=True)
class Lock:
    """A named lock in the two-int key space."""

    key: int

    def params(self) -> dict[str, int]:
        return {"space": SPACE, "key": self.key}


MIGRATIONS = Lock(1)  # `db upgrade` (taken per transaction in migrations/env.py)
MAIL_POLLER = Lock(2)  # the one worker that polls the mailbox
STARTUP = Lock(3)  # start-up bookkeeping (the roster, the daily timer): one worker after another


async def serialise(s: AsyncSession, lock: Lock) -> None:
    """Hold ``lock`` until the transaction of ``s`` ends (PostgreSQL; SQLite has one writer anyway)."""
    if s.get_bind().dialect.name == "postgresql":
        await s.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), lock.params())


class Locks:
    """The advisory locks of one worker, on one dedicated connection (PostgreSQL) or none (SQLite)."""

    def __init__(self, engine: AsyncEngine, owner: str) -> None:
        self.engine = engine
        self.owner = owner
        self.shared = engine.dialect.name == "postgresql"
        self._conn: AsyncConnection | None = None
        self._mutex = asyncio.Lock()
        self.generation = 0  # bumped when the connection is lost: every lock held till then is gone

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            conn = await self.engine.connect()
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(
                text("SELECT set_config('application_name', :name, false)"), {"name": self.owner}
            )
            self._conn = conn
        return self._conn

    async def _scalar(self, sql: str, params: dict[str, int]) -> object:
        return (await self._rows(text(sql), params))[0][0]

    async def _rows(self, statement: Executable, params: dict[str, Any]) -> list[Row[Any]]:
        async with self._mutex:
            try:
                conn = await self._connection()
                return list(await conn.execute(statement, params))
            except (OSError, SQLAlchemyError):
                await self._drop()
                raise

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self.generation += 1
        if conn is not None:
            try:
                await conn.invalidate()
                await conn.close()
            except (OSError, SQLAlchemyError):
                log.debug("closing a broken lock connection failed", exc_info=True)

    async def try_chat(self, key: int) -> bool:
        if not self.shared:
            return True
        return bool(await self._scalar("SELECT pg_try_advisory_lock(:key)", {"key": key}))

    async def run(self, statement: Executable, params: dict[str, Any]) -> list[Row[Any]]:
        """One statement on the lock connection (autocommit), whose advisory locks are this worker's:
        a look for work and the locks on it in one round trip (``inbound.take_and_start``)."""
        assert self.shared
        return await self._rows(statement, params)

    async def release_chat(self, key: int) -> None:
        if self.shared:
            await self._scalar("SELECT pg_advisory_unlock(:key)", {"key": key})

    async def try_named(self, lock: Lock) -> bool:
        if not self.shared:
            return True
        return bool(await self._scalar("SELECT pg_try_advisory_lock(:space, :key)", lock.params()))

    async def release_named(self, lock: Lock) -> None:
        if self.shared:
            await self._scalar("SELECT pg_advisory_unlock(:space, :key)", lock.params())

    async def close(self) -> None:
        """Closing the connection releases whatever is still held (the connection is discarded, not
        handed back to the pool, where it would keep its session locks)."""
        async with self._mutex:
            conn, self._conn = self._conn, None
            if conn is not None:
                await conn.invalidate()
                await conn.close()


async def lead(
    locks: Locks, lock: Lock, run: Callable[[asyncio.Event], Awaitable[None]], stop: asyncio.Event
) -> None:
    """Run ``run(stop)`` in the one worker that holds ``lock``; the others ask again every
    :data:`LEAD_RETRY_SECONDS` and take over when its holder is gone."""
    while not stop.is_set():
        try:
            held = await locks.try_named(lock)
        except Exception:
            log.exception("could not ask for a lock")
            held = False
        if held:
            log.info("this worker holds lock %d (the mail poller's is %d)", lock.key, MAIL_POLLER.key)
            await run(stop)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), LEAD_RETRY_SECONDS)
