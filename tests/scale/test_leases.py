"""Issue 14: the advisory locks of several workers on one PostgreSQL. One worker polls the mailbox at a
time, and when it dies (its lock connection is gone) another takes over; a chat is held by one worker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from hotline.storage.db import create_engine
from hotline.storage.leases import MAIL_POLLER, Locks, lead


async def test_one_worker_polls_the_mailbox_and_another_takes_over(pg_url: str) -> None:
    engines = [create_engine(pg_url), create_engine(pg_url)]
    first, second = (Locks(engine, f"hotline:test:{i}:x") for i, engine in enumerate(engines))
    polling: list[str] = []
    started = {"first": asyncio.Event(), "second": asyncio.Event()}
    stops = [asyncio.Event(), asyncio.Event()]

    def poller(name: str) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
        async def run(stop: asyncio.Event) -> None:
            polling.append(name)
            started[name].set()
            await stop.wait()

        return run

    try:
        one = asyncio.create_task(lead(first, MAIL_POLLER, poller("first"), stops[0]))
        await asyncio.wait_for(started["first"].wait(), 20)
        two = asyncio.create_task(lead(second, MAIL_POLLER, poller("second"), stops[1]))
        assert await second.try_chat(7)  # the lock connection answers; chats are another key space
        assert not await second.try_named(MAIL_POLLER)
        assert polling == ["first"], "only one worker polls"
        await first.close()  # the first worker dies: PostgreSQL releases its locks with its connection
        one.cancel()
        await asyncio.gather(one, return_exceptions=True)
        await asyncio.wait_for(started["second"].wait(), 20)
        assert polling == ["first", "second"]
        stops[1].set()
        await asyncio.wait_for(two, 10)
    finally:
        await first.close()
        await second.close()
        for engine in engines:
            await engine.dispose()


async def test_a_chat_is_held_by_one_worker_at_a_time(pg_url: str) -> None:
    engines = [create_engine(pg_url), create_engine(pg_url)]
    first, second = (Locks(engine, f"hotline:test:{i}:y") for i, engine in enumerate(engines))
    try:
        assert await first.try_chat(12345)
        assert not await second.try_chat(12345)
        assert await second.try_chat(54321)
        await first.release_chat(12345)
        assert await second.try_chat(12345)
        assert await first.try_named(MAIL_POLLER)
        assert not await second.try_named(MAIL_POLLER)
    finally:
        await first.close()
        await second.close()
        for engine in engines:
            await engine.dispose()
