"""The emulator's record of what happened: bot calls, injected updates, waiters and subscribers.

Waiting never polls: each waiter is a future checked when a call is recorded. ``wait_for`` first
scans the calls already recorded since a mark, so a reply that came before the test started waiting
is still found.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Self

from .telegram_model import BotCall, EmulatorEvent, InjectedUpdate

CallPredicate = Callable[[BotCall], bool]
Subscriber = Callable[[EmulatorEvent], None]


@dataclass(slots=True)
class _Waiter:
    predicate: CallPredicate
    count: int
    future: asyncio.Future[list[BotCall]]
    found: list[BotCall] = field(default_factory=list)

    def offer(self, call: BotCall) -> None:
        if self.future.done() or not self.predicate(call):
            return
        self.found.append(call)
        if len(self.found) >= self.count:
            self.future.set_result(self.found)


class EventLog:
    """Calls and updates in order of recording, with waiters and live subscribers."""

    def __init__(self) -> None:
        self.calls: list[BotCall] = []
        self.updates: list[InjectedUpdate] = []
        self.stale_presses: list[InjectedUpdate] = []
        self.last_injection_mark = 0
        self._waiters: list[_Waiter] = []
        self._subscribers: list[Subscriber] = []

    def record_call(self, call: BotCall) -> None:
        self.calls.append(call)
        for waiter in list(self._waiters):
            waiter.offer(call)
        self._publish(call)

    def record_update(self, update: InjectedUpdate) -> None:
        self.updates.append(update)
        self.last_injection_mark = update.mark
        if update.stale_button:
            self.stale_presses.append(update)
        self._publish(update)

    def _publish(self, event: EmulatorEvent) -> None:
        for subscriber in list(self._subscribers):
            subscriber(event)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(subscriber)

        return unsubscribe

    async def wait(
        self,
        predicate: CallPredicate,
        count: int,
        since: int,
        timeout: float,
    ) -> list[BotCall]:
        loop = asyncio.get_running_loop()
        waiter = _Waiter(predicate, count, loop.create_future())
        for call in self.calls[since:]:
            waiter.offer(call)
        if waiter.future.done():
            return waiter.future.result()
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except TimeoutError:
            raise TimeoutError(self._timeout_message(waiter, since, timeout)) from None
        finally:
            self._waiters.remove(waiter)

    def _timeout_message(self, waiter: _Waiter, since: int, timeout: float) -> str:
        recent = [c for c in self.calls[since:] if c.method != "getUpdates"][-12:]
        lines = [
            f"no{' further' if waiter.found else ''} matching bot call within {timeout:g} s "
            f"(found {len(waiter.found)} of {waiter.count}, searched calls from #{since});",
            "recent calls since then:" if recent else "the bot made no calls (besides getUpdates) since then",
        ]
        lines += [f"  {call.summary()}" for call in recent]
        return "\n".join(lines)


class EventStream:
    """Async iterator over every event (injected updates and bot calls) from its creation on.

    Use as ``async with emu.events() as stream: async for event in stream: ...``; leaving the
    ``async with`` (or calling ``close``) unsubscribes.
    """

    def __init__(self, log: EventLog) -> None:
        self._queue: asyncio.Queue[EmulatorEvent] = asyncio.Queue()
        self._unsubscribe = log.subscribe(self._queue.put_nowait)

    def close(self) -> None:
        self._unsubscribe()

    def __aiter__(self) -> AsyncIterator[EmulatorEvent]:
        return self

    async def __anext__(self) -> EmulatorEvent:
        return await self._queue.get()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
