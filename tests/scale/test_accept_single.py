"""Issue 14: the webhook stores an update in one statement on PostgreSQL (autocommit), not in a
transaction of its own (BEGIN, the insert, COMMIT): Telegram's deliveries wait for it one by one, so
its round trips are the burst's. Still stored once (a redelivery adds nothing) and durably."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg.transaction
import pytest
import sqlalchemy as sa

from hotline.storage import db
from hotline.storage.inbound import InboundUpdate
from tests.scale.test_lock_lost import worker


async def test_an_update_is_stored_in_one_statement_without_a_transaction(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await db.upgrade(pg_url)
    began = [0]
    start = asyncpg.transaction.Transaction.start

    async def counted(self: asyncpg.transaction.Transaction) -> None:
        began[0] += 1
        await start(self)

    async def process(_payload: Mapping[str, Any]) -> None:
        return None

    async with worker(pg_url, "single", process) as box:
        await box.accept({"update_id": 1, "chat": 5})  # the engine's first connection
        monkeypatch.setattr(asyncpg.transaction.Transaction, "start", counted)
        assert await box.accept({"update_id": 2, "chat": 5})
        assert not await box.accept({"update_id": 2, "chat": 5})  # a redelivery adds nothing
        monkeypatch.undo()
        assert began[0] == 0  # was 2 a call (the ping's and the insert's transactions)
        async with box.store.unit() as s:
            rows = (await s.scalars(sa.select(InboundUpdate).order_by(InboundUpdate.update_id))).all()
    assert [(r.update_id, r.done_at, r.payload_enc is not None) for r in rows] == [
        (1, None, True),
        (2, None, True),
    ]
