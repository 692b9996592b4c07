"""Engine and session factory; SQLite in WAL mode by default, PostgreSQL when configured; migrations."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import aiosqlite
from sqlalchemy import event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import InvalidatePoolError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, PoolProxiedConnection

from hotline.errors import StorageError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest migration's revision (``tests/storage/test_migrations.py`` checks it against Alembic's head).
# A database already at it is not migrated, and Alembic, with Mako and Pygments beneath it (about 10 MiB
# resident), is then never imported by the serving process: it is imported only to change a schema.
HEAD_REVISION = "0017"
PING_AFTER_IDLE = 10.0  # seconds a pooled PostgreSQL connection sat unused before it is pinged
_IDLE_SINCE = "hotline_idle_since"
BUSY_TIMEOUT_MS = 5000  # how long a SQLite call waits for another process's lock on the file
_T = TypeVar("_T")


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA secure_delete=ON")  # erased content is overwritten, not left in free pages
    cursor.close()


# Calls that have done nothing when SQLite answers "busy" (another process holds the file's write lock),
# so they can be made again, in the connection's thread, waiting for the lock there.
_AGAIN_WHEN_BUSY = frozenset({"execute", "executemany", "commit", "rollback"})


def _busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY


def _waiting(conn: sqlite3.Connection, call: Callable[[], _T], finished: Callable[[], None]) -> _T:
    """``call`` in the connection's thread, where it may wait for another process's lock; then
    ``finished`` (the loop is told, even when the task that awaited the call was cancelled meanwhile)."""
    try:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        try:
            return call()
        finally:
            conn.execute("PRAGMA busy_timeout=0")
    finally:
        finished()


class LoopConnection(aiosqlite.Connection):
    """aiosqlite's connection, its calls made in the event loop's own thread (issue 14).

    aiosqlite hands every call (a cursor, each statement, each fetch, the commit) to its thread and
    back through the event loop: about four hand-overs a statement, which cost a crisis burst more CPU
    than SQLite itself. In WAL mode with ``synchronous=NORMAL`` a call is a few tens of microseconds
    (a commit writes the WAL without waiting for the disk), so it is made where it is awaited.

    One thing may make a call wait: another process (``hotline mail poll --once``, an operator's
    ``hotline purge``) holding the file's write lock. The event loop never waits for it: in the loop
    the busy timeout is 0, and a call SQLite answers "busy" before doing anything is made again in
    the connection's thread with the usual timeout (:data:`BUSY_TIMEOUT_MS`), while the loop goes on;
    the calls after it follow it there until it is done, so they keep their order."""

    _in_thread = 0  # calls handed to the thread and not yet done there (awaited or not)

    async def _execute(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        call = partial(fn, *args, **kwargs)
        if not self._in_thread:
            try:
                return call()
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or getattr(fn, "__name__", "") not in _AGAIN_WHEN_BUSY:
                    raise
        # Counted until the thread has made the call, not until it is awaited: a task cancelled while it
        # waits leaves the call to be made there, and the calls after it must not overtake it in the loop.
        self._in_thread += 1
        loop = asyncio.get_running_loop()

        def finished() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing left to order
                loop.call_soon_threadsafe(self._left_thread)

        awaited = super()._execute(_waiting, self._connection, call, finished)  # type: ignore[no-untyped-call]
        return cast(_T, await awaited)

    def _left_thread(self) -> None:
        self._in_thread -= 1


def _loop_connection(database: str, **kwargs: Any) -> LoopConnection:
    connection = LoopConnection(partial(sqlite3.connect, database, **kwargs), 64)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections
    return connection


def _connect_in_loop(dialect: Dialect, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
    return dialect.loaded_dbapi.connect(*cargs, async_creator_fn=_loop_connection, **cparams)


def _no_wait_in_loop(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")  # LoopConnection: a busy call waits in its thread instead
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url``; SQLite gets WAL, NORMAL sync and foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # One connection: SQLite has one writer anyway, and queueing at the pool (not at the file lock)
        # keeps every read-modify-write transaction serialised without SQLITE_BUSY surprises.
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
        event.listen(engine.sync_engine, "do_connect", _connect_in_loop)
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        event.listen(engine.sync_engine, "connect", _no_wait_in_loop)
        return engine
    # Twenty at most, as ever (ten kept, ten more made when needed, until issue 14's thirteenth session),
    # now all kept open: in a burst a worker has 16 chats under way and about 18 connections in use, and
    # each connection made and discarded again cost a connect, the dialect's start-up queries and a
    # prepare of every statement it then ran (0.3 connections and 4.5 prepares a crisis).
    engine = create_async_engine(url, pool_size=20, max_overflow=0)
    ping_when_idle(engine.sync_engine.dialect, engine.sync_engine.pool)
    return engine


def ping_when_idle(dialect: Dialect, pool: Any) -> None:
    """A pooled connection that sat unused for :data:`PING_AFTER_IDLE` seconds is pinged when taken
    (a server restart, an idle timeout or a network cut is found there, and every older connection
    is replaced, as ``pool_pre_ping`` does). One in use a moment ago is not: the ping is a round trip
    of three statements on asyncpg (BEGIN, ``;``, ROLLBACK) before every transaction, a fifth of a
    worker's statements in a crisis burst (issue 14). A connection that died within those seconds
    fails one transaction, which is retried (an update stays stored; a webhook gets 503)."""

    def checkin(_dbapi: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def checkout(dbapi: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return
        try:
            dialect.do_ping(dbapi)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi, None):
                raise InvalidatePoolError() from exc  # this one and every older one are replaced
            raise

    event.listen(pool, "checkin", checkin)
    event.listen(pool, "checkout", checkout)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest migration's revision id, as Alembic reads it from the migrations."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_current_head()
    assert head is not None
    return head


def _unreachable(url: str, exc: BaseException) -> StorageError:
    # The driver may report an unreachable server as an OSError or wrapped in the library's error.
    where = make_url(url).render_as_string(hide_password=True)
    reason = str(getattr(exc, "orig", None) or exc)
    return StorageError(f"cannot reach or open the database {where}: {reason}")


def upgrade_sync(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (blocking; Alembic runs the async engine itself)."""
    from alembic import command

    try:
        command.upgrade(alembic_config(url), revision)
    except (OSError, SQLAlchemyError) as exc:
        raise _unreachable(url, exc) from exc


_VERSION = text("SELECT version_num FROM alembic_version")


async def current_revision(engine: AsyncEngine) -> str | None:
    """The schema's revision as Alembic recorded it (None: no schema yet), read without Alembic."""
    try:
        async with engine.connect() as conn:
            has_table = await conn.run_sync(lambda c: c.dialect.has_table(c, "alembic_version"))
            return (await conn.scalar(_VERSION)) if has_table else None
    except (OSError, SQLAlchemyError) as exc:
        raise _unreachable(str(engine.url), exc) from exc


async def require_current(engine: AsyncEngine) -> None:
    """For commands that only read: the database must exist and be at the newest migration. Nothing is
    created or migrated; otherwise one sentence that ends by naming ``hotline db upgrade``."""
    url = engine.url
    where = url.render_as_string(hide_password=True)
    hint = "run hotline db upgrade (read-only commands never create or migrate it)."
    sqlite = url.get_backend_name() == "sqlite"
    if sqlite and not await asyncio.to_thread(Path(url.database or "").is_file):
        raise StorageError(f"cannot reach or open the database {where}: it does not exist; {hint}")
    current = await current_revision(engine)
    if current != HEAD_REVISION:
        raise StorageError(
            f"the database {where} is at schema {current or 'none'} and this hotline needs {HEAD_REVISION}: "
            f"{hint}"
        )


async def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations from async code (in a worker thread, since Alembic drives its own loop). A
    database already at the newest revision is left as it is without importing Alembic."""
    if revision == "head":
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            if await current_revision(engine) == HEAD_REVISION:
                return
        finally:
            await engine.dispose()
    await asyncio.to_thread(upgrade_sync, url, revision)
