"""Updates of one chat run one at a time, in order (PerChatOrderedProcessor), even when a third
arrives while the second has been woken but has not yet taken the chat's lock (issue 13)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from telegram import Chat, Message, Update

from hotline.bot.telegram import PerChatOrderedProcessor

EMPLOYEE, OTHER_CHAT = 77, 88


def _update(update_id: int, chat_id: int) -> Update:
    chat = Chat(chat_id, "private")
    return Update(update_id, message=Message(update_id, datetime(2026, 1, 1, tzinfo=UTC), chat, text="x"))


class Script:
    """Handlers that wait for a gate, recording which ran beside which."""

    def __init__(self, *names: str) -> None:
        self.gates = {n: asyncio.Event() for n in names}
        self.started = {n: asyncio.Event() for n in names}
        self.running: list[str] = []
        self.overlaps: list[tuple[str, ...]] = []
        self.finished: list[str] = []

    async def handle(self, name: str) -> None:
        self.running.append(name)
        if len(self.running) > 1:
            self.overlaps.append(tuple(self.running))
        self.started[name].set()
        await self.gates[name].wait()
        self.running.remove(name)
        self.finished.append(name)


async def test_three_updates_of_one_chat_never_overlap() -> None:
    processor = PerChatOrderedProcessor(8)
    script = Script("first", "second", "third", "elsewhere")

    first = asyncio.create_task(processor.process_update(_update(1, EMPLOYEE), script.handle("first")))
    await asyncio.wait_for(script.started["first"].wait(), 5)
    second = asyncio.create_task(processor.process_update(_update(2, EMPLOYEE), script.handle("second")))
    elsewhere = asyncio.create_task(
        processor.process_update(_update(9, OTHER_CHAT), script.handle("elsewhere"))
    )
    await asyncio.wait_for(script.started["elsewhere"].wait(), 5)  # another chat is not held up
    script.gates["elsewhere"].set()
    await asyncio.wait_for(elsewhere, 5)
    assert not script.started["second"].is_set(), "the second waits for the first"

    script.gates["first"].set()
    await asyncio.wait_for(first, 5)  # the first has ended; the second is woken but may not hold the lock
    third = asyncio.create_task(processor.process_update(_update(3, EMPLOYEE), script.handle("third")))
    await asyncio.wait_for(script.started["second"].wait(), 5)
    script.gates["second"].set()
    script.gates["third"].set()
    await asyncio.wait_for(asyncio.gather(second, third), 5)

    assert script.finished == ["elsewhere", "first", "second", "third"]
    assert script.overlaps == [("first", "elsewhere")], "nothing of one chat ran beside itself"
    assert processor._locks == {}, "no lock is kept for a chat with nothing to do"
