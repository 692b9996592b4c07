"""Issue 14: two workers (two inboxes, each with its own lock connection) on one PostgreSQL.

A worker whose lock connection is dropped (``pg_terminate_backend``, as an idle timeout or an operator
would) while it works on a chat loses the chat to the other worker; when it then settles or finishes
its update, it finds that the update is no longer its own, its transaction is rolled back, and it leaves
the chat alone. And a worker whose oldest waiting chats are all held by other workers still finds the
newer ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import sqlalchemy as sa

from hotline.bot import inbox
from hotline.bot.inbox import Inbox
from hotline.crypto import Vault
from hotline.desk import Outgoing
from hotline.dispatch import Dispatch
from hotline.storage import db, repo
from hotline.storage.inbound import InboundUpdate
from hotline.storage.leases import Locks
from hotline.storage.models import Timer
from hotline.storage.repo import Store
from hotline.timer_kinds import TimerKind
from tests.conftest import PG_ADMIN

SECRET = "lock-lost-secret-0123456789abcdef"
WAIT = 20.0
Process = Callable[[Mapping[str, Any]], Awaitable[None]]


def now() -> datetime:
    return datetime.now(UTC)


@asynccontextmanager
async def worker(url: str, name: str, process: Process, *, concurrency: int = 4) -> AsyncIterator[Inbox]:
    """One worker's inbox (not started): its own engine, lock connection and owner id."""
    store = Store(url, Vault(SECRET))
    locks = Locks(store.engine, f"hotline:test:{name}:lost")
    delivered: list[Outgoing] = []

    async def deliver(items: Sequence[Outgoing]) -> None:
        delivered.extend(items)

    box = Inbox(store, locks, process, lambda p: int(p["chat"]), deliver, concurrency=concurrency, clock=now)
    try:
        yield box
    finally:
        await box.stop(grace=1.0)
        await locks.close()
        await store.close()


async def decide(box: Inbox, update_id: int, wait: asyncio.Event | None = None) -> None:
    """What a handler does: write what the update decided and settle it in one transaction (a timer
    row stands for the decision), waiting for ``wait`` inside the transaction when given."""
    async with box.store.unit() as s:
        await repo.schedule(s, TimerKind.DAILY, now(), now())
        if wait is not None:
            await wait.wait()
        await inbox.settle(s, Dispatch())


async def drop_lock_connection(url: str, owner: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN.rsplit("/", 1)[0] + "/" + url.rsplit("/", 1)[1])
    try:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", owner
        )
    finally:
        await conn.close()
    assert killed == 1, killed


async def idle(box: Inbox) -> None:
    """Until the inbox works on no chat."""
    for _ in range(int(WAIT / 0.02)):
        if not box._drains:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the worker did not let the chat go")


async def test_a_worker_whose_lock_was_lost_does_not_settle_the_update(pg_url: str) -> None:
    await db.upgrade(pg_url)
    calls: list[tuple[str, int]] = []
    a_inside, b_settled = asyncio.Event(), asyncio.Event()

    async def process_a(payload: Mapping[str, Any]) -> None:
        calls.append(("A", payload["update_id"]))
        a_inside.set()
        await decide(a, payload["update_id"], wait=b_settled)  # settles after B did

    async def process_b(payload: Mapping[str, Any]) -> None:
        calls.append(("B", payload["update_id"]))
        await decide(b, payload["update_id"])
        b_settled.set()

    async with worker(pg_url, "a", process_a) as a, worker(pg_url, "b", process_b) as b:
        await a.accept({"update_id": 1, "chat": 77})
        a.start()
        await asyncio.wait_for(a_inside.wait(), WAIT)
        await drop_lock_connection(pg_url, a.locks.owner)  # A's lock is gone; A does not know yet
        b.start()
        await asyncio.wait_for(b_settled.wait(), WAIT)
        await idle(a)
        await idle(b)
        async with b.store.unit() as s:
            decisions = await s.scalar(sa.select(sa.func.count()).select_from(Timer))
            row = (await s.execute(sa.select(InboundUpdate))).scalar_one()
    assert calls == [("A", 1), ("B", 1)]
    assert decisions == 1, "the update was carried out once: A's transaction was rolled back"
    assert row.started_by == b.locks.owner and row.done_at is not None and row.attempts == 2


async def test_a_worker_whose_lock_was_lost_does_not_go_on_with_the_chat(pg_url: str) -> None:
    await db.upgrade(pg_url)
    calls: list[tuple[str, int]] = []
    a_settled, a_go, b_inside, b_go = asyncio.Event(), asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def process_a(payload: Mapping[str, Any]) -> None:
        calls.append(("A", payload["update_id"]))
        await decide(a, payload["update_id"])
        if payload["update_id"] == 1:
            a_settled.set()
            await a_go.wait()  # settled, its replies going out; not yet finished

    async def process_b(payload: Mapping[str, Any]) -> None:
        calls.append(("B", payload["update_id"]))
        b_inside.set()
        await decide(b, payload["update_id"], wait=b_go)

    async with worker(pg_url, "c", process_a) as a, worker(pg_url, "d", process_b) as b:
        await a.accept({"update_id": 1, "chat": 78})
        await a.accept({"update_id": 2, "chat": 78})
        a.start()
        await asyncio.wait_for(a_settled.wait(), WAIT)
        await drop_lock_connection(pg_url, a.locks.owner)
        b.start()  # B finishes update 1 (only its replies remain) and begins update 2
        await asyncio.wait_for(b_inside.wait(), WAIT)
        a_go.set()  # A would now finish update 1 and begin update 2: it is no longer A's chat
        await idle(a)
        b_go.set()
        await idle(b)
        async with b.store.unit() as s:
            decisions = await s.scalar(sa.select(sa.func.count()).select_from(Timer))
            rows = (await s.execute(sa.select(InboundUpdate).order_by(InboundUpdate.update_id))).scalars()
            ledger = [(r.update_id, r.started_by, r.done_at is not None) for r in rows]
    assert calls == [("A", 1), ("B", 2)], "update 2 was processed by one worker"
    assert decisions == 2
    assert ledger == [(1, b.locks.owner, True), (2, b.locks.owner, True)]


async def test_a_worker_finds_a_chat_past_the_ones_other_workers_hold(pg_url: str) -> None:
    """N chats held by another worker, N+1 waiting: the worker (concurrency N) takes the last one."""
    await db.upgrade(pg_url)
    n = 2
    done = asyncio.Event()
    seen: list[int] = []

    async def process(payload: Mapping[str, Any]) -> None:
        seen.append(payload["chat"])
        await decide(box, payload["update_id"])
        done.set()

    async with worker(pg_url, "e", process, concurrency=n) as box:
        other = Locks(box.store.engine, "hotline:test:other:lost")
        try:
            for i in range(n + 1):
                await box.accept({"update_id": 10 + i, "chat": 100 + i})
            for i in range(n):  # the N oldest chats are held by another worker
                assert await other.try_chat(box.key_of(100 + i))
            box.start()
            await asyncio.wait_for(done.wait(), WAIT)
            assert seen == [100 + n]
        finally:
            await other.close()
