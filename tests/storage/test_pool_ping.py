"""PostgreSQL's pooled connections: pinged when taken only after sitting idle (issue 14).

A ping on every checkout (``pool_pre_ping``) costs asyncpg three statements (BEGIN, ``;``, ROLLBACK)
before each of a worker's transactions; a connection used a moment ago is not pinged, one idle for
longer is, and a dead one found that way is replaced without the transaction failing.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from hotline.storage import db
from tests.conftest import PG_ADMIN


def count_pings(engine: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    dialect = engine.sync_engine.dialect
    pings = [0]
    real = dialect.do_ping

    def do_ping(dbapi_connection: Any) -> bool:
        pings[0] += 1
        return bool(real(dbapi_connection))

    monkeypatch.setattr(dialect, "do_ping", do_ping)
    return pings


async def test_a_connection_used_a_moment_ago_is_not_pinged(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.create_engine(pg_url)
    pings = count_pings(engine, monkeypatch)
    try:
        for _ in range(5):
            async with engine.begin() as conn:
                assert await conn.scalar(text("SELECT 1")) == 1
        assert pings[0] == 0  # was 4: every checkout but the connection's first
    finally:
        await engine.dispose()


async def test_an_idle_connection_that_died_is_replaced_when_taken(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
    engine = db.create_engine(pg_url)
    pings = count_pings(engine, monkeypatch)
    try:
        async with engine.begin() as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        admin = await asyncpg.connect(PG_ADMIN)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        async with engine.begin() as conn:  # pinged, found dead, replaced: no error here
            assert await conn.scalar(text("SELECT pg_backend_pid()")) != pid
        assert pings[0] == 1
    finally:
        await engine.dispose()
