"""Issue 14, the inbox's bookkeeping on PostgreSQL in single statements (``hotline/storage/inbound.py``):
the look for waiting chats, their locks and their first starts in one statement on the lock connection;
an update's finish with the chat's next start, and the lock let go with the last finish. The guarantees
are the inbox's: one worker a chat, in update_id order, a taken-over update finished by nobody else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hotline.crypto import Vault
from hotline.storage import inbound
from hotline.storage.leases import Locks
from hotline.storage.repo import Store

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
A, B = 1111, 2222  # chat keys


async def _stored(store: Store, *updates: tuple[int, int]) -> None:
    for update_id, key in updates:
        async with store.single() as c:
            assert await inbound.store(c, update_id, key, b"sealed", NOW)


async def test_take_start_finish_and_release_in_single_statements(pg_url: str) -> None:
    store = Store(pg_url, Vault("inbox-statements-secret-0123456789abcdef"))
    first, second = Locks(store.engine, "w1"), Locks(store.engine, "w2")
    try:
        await _stored(store, (10, A), (11, B), (12, A))
        taken = await inbound.take_and_start(first, "w1", 1)  # one free slot: the longest-waiting chat
        assert [(key, s.update_id if s else None) for key, s in taken] == [(A, 10)]
        assert not await second.try_chat(A)  # held, with its oldest update started
        taken = await inbound.take_and_start(second, "w2", 5)  # passes over A, held by the first
        assert [(key, s.update_id if s else None) for key, s in taken] == [(B, 11)]

        started, released = await inbound.finish_start_or_release(first, 10, A, "w1", NOW)
        assert started is not None and started.update_id == 12 and started.attempts == 1
        assert not released and not await second.try_chat(A)
        started, released = await inbound.finish_start_or_release(first, 12, A, "w1", NOW)
        assert started is None and released  # the last one: the chat let go in the same statement
        assert await second.try_chat(A)
        await second.release_chat(A)

        with pytest.raises(inbound.TakenOver):  # B is the second worker's: nothing finished, nothing started
            await inbound.finish_start_or_release(first, 11, B, "w1", NOW)
        await _stored(store, (13, B))
        started, released = await inbound.finish_start_or_release(second, 11, B, "w2", NOW)
        assert started is not None and started.update_id == 13 and not released
        async with store.single() as c:  # the same on a pooled connection, the lock kept
            assert await inbound.finish_and_start_next(c, 13, B, "w2", NOW) is None
            assert await inbound.backlog(c) == 0
        assert not await first.try_chat(B)
        await second.release_chat(B)
        assert await inbound.take_and_start(first, "w1", 5) == []  # nothing waiting
    finally:
        await first.close()
        await second.close()
        await store.close()
