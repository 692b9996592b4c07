"""SQLite's calls made in the event loop's own thread (issue 14), without the loop ever waiting for
another process's lock on the file: a call SQLite answers "busy" waits in the connection's thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from hotline.storage import db


def _file(url: str) -> Path:
    return Path(url.removeprefix("sqlite+aiosqlite:///"))


async def test_calls_run_in_the_event_loops_thread(sqlite_url: str) -> None:
    engine = db.create_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert isinstance(driver, db.LoopConnection)
            driver._conn.create_function("thread", 0, threading.get_ident)
            assert (await conn.scalar(text("SELECT thread()"))) == threading.get_ident()
            assert (await conn.scalar(text("PRAGMA busy_timeout"))) == 0, "the loop never waits"
            assert (await conn.scalar(text("PRAGMA journal_mode"))) == "wal"
    finally:
        await engine.dispose()


async def test_a_write_waits_for_another_process_lock_without_stopping_the_loop(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_thread: list[int] = []
    real = db._waiting

    def waiting(conn: sqlite3.Connection, call: Callable[[], object], finished: Callable[[], None]) -> object:
        in_thread.append(threading.get_ident())
        return real(conn, call, finished)

    monkeypatch.setattr(db, "_waiting", waiting)
    engine = db.create_engine(sqlite_url)
    other = sqlite3.connect(_file(sqlite_url), isolation_level=None)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        other.execute("BEGIN IMMEDIATE")  # another process writing: the file's write lock is taken
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.get_running_loop().create_task(tick())
        asyncio.get_running_loop().call_later(0.3, other.commit)  # the other writer finishes

        async def write() -> None:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (x) VALUES (1)"))
                await conn.execute(text("INSERT INTO t (x) VALUES (2)"))  # after it, in the same order

        await asyncio.wait_for(write(), timeout=5)
        ticker.cancel()
        assert in_thread and threading.get_ident() not in in_thread, "the busy calls waited in its thread"
        assert ticks >= 10, "the event loop ran on while the write waited for the lock"
        async with engine.connect() as conn:
            assert list((await conn.scalars(text("SELECT x FROM t ORDER BY rowid"))).all()) == [1, 2]
            assert (await conn.scalar(text("PRAGMA busy_timeout"))) == 0
    finally:
        other.close()
        await engine.dispose()


async def test_a_lock_held_past_the_timeout_fails_the_transaction(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 100)
    engine = db.create_engine(sqlite_url)
    other = sqlite3.connect(_file(sqlite_url), isolation_level=None)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError, match="locked"):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (x) VALUES (1)"))
        other.rollback()
        async with engine.begin() as conn:  # the connection is usable again, in the loop's thread
            await conn.execute(text("INSERT INTO t (x) VALUES (2)"))
            assert list((await conn.scalars(text("SELECT x FROM t"))).all()) == [2]
    finally:
        other.close()
        await engine.dispose()


async def test_a_call_left_in_the_thread_by_a_cancelled_task_is_not_overtaken(sqlite_url: str) -> None:
    """A task cancelled while its call waits for the lock in the thread: the call is still made there,
    and the calls after it wait behind it instead of running in the loop first."""
    path = _file(sqlite_url)
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (x INTEGER)")
    setup.close()
    conn = db._loop_connection(str(path), isolation_level=None, check_same_thread=False)
    await conn  # connected (in its thread)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        await conn.execute("PRAGMA busy_timeout=0")
        other.execute("BEGIN IMMEDIATE")
        first = asyncio.get_running_loop().create_task(conn.execute("INSERT INTO t (x) VALUES (1)"))
        await asyncio.sleep(0)  # its first step: busy in the loop, handed to the thread
        assert conn._in_thread == 1
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        assert conn._in_thread == 1, "the cancelled call is still to be made"
        asyncio.get_running_loop().call_later(0.2, other.commit)
        second = await conn.execute("INSERT INTO t (x) VALUES (2)")  # behind it, in the thread
        await second.close()
        assert conn._in_thread == 0
        rows = await (await conn.execute("SELECT x FROM t ORDER BY rowid")).fetchall()
        assert [r[0] for r in rows] == [1, 2]
    finally:
        other.close()
        await conn.close()
