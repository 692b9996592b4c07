"""The LINE event being carried out, for the transaction that writes what it decided (several workers).

With events carried out under a user's lock (:mod:`hotline.line.shared`), the runner calls :func:`settle`
inside the transaction that writes what an event decided: the event is erased in that same commit and
the messages it will send are kept (sealed) until they have gone. A worker that dies after the commit
leaves only the messages for the next worker to send; the event is never carried out twice. Outside that
(one process on SQLite, timers, tests) nothing happens. Settling checks that the event is still this
worker's (:class:`~hotline.storage.inbound.TakenOver` otherwise: the transaction is rolled back).

In both inboxes settling also lets go of the event's :class:`Slot`: what remains is sending its
messages, which may wait on Telegram's pacing (crisis alerts to one counselor) and must not hold back
other users' events.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.bot.inbox import seal_replies
from hotline.crypto import Vault
from hotline.desk import Outgoing
from hotline.dispatch import Dispatch
from hotline.flows.effects import in_delivery_order
from hotline.storage import line_repo


class Ticket:
    def __init__(self, seq: int, owner: str, vault: Vault) -> None:
        self.seq = seq
        self.owner = owner
        self.vault = vault
        self.settled = False
        self.parts_to_come = 0  # inside more_to_come(): the last part settles the event

    async def settle(self, s: AsyncSession, out: Dispatch) -> None:
        if self.parts_to_come:  # still ours? nothing else: the event is carried out again if we stop now
            await line_repo.still_mine(s, self.seq, self.owner)
            return
        replies = [item for item in in_delivery_order(out.items) if isinstance(item, Outgoing)]
        await line_repo.settle(s, self.seq, self.owner, seal_replies(self.vault, replies))
        self.settled = True


CURRENT: ContextVar[Ticket | None] = ContextVar("hotline_line_event", default=None)


class Slot:
    """One of the inbox's slots (its bound on events carried out at once), held by the event under way.

    Let go of when what the event decided is settled (:func:`settle`, both inboxes), not when its
    messages have gone: a crisis alert may wait a second or more per alert for Telegram's limit on one
    counselor's chat, and a burst of crises (or false alarms) holding every slot meanwhile kept every
    other LINE user's events waiting. Let go of at the end in any case; never twice."""

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots = slots
        self._held = False
        self.parts_to_come = 0  # inside more_to_come(): the last part lets go

    async def __aenter__(self) -> Slot:
        await self._slots.acquire()
        self._held = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots.release()

    @property
    def held(self) -> bool:
        return self._held

    async def take_again(self) -> None:
        if not self._held:
            await self._slots.acquire()
            self._held = True


SLOT: ContextVar[Slot | None] = ContextVar("hotline_line_slot", default=None)


@contextlib.asynccontextmanager
async def holding(slots: asyncio.Semaphore) -> AsyncIterator[Slot]:
    """Take a slot for the event carried out inside (both inboxes)."""
    async with Slot(slots) as slot:
        token = SLOT.set(slot)
        try:
            yield slot
        finally:
            SLOT.reset(token)


@contextlib.contextmanager
def more_to_come(more: bool = True) -> Iterator[None]:
    """A part of the event under way that another part follows ("/help 我不想活了": the command, then its
    words): what it commits does not settle the event (the last part's commit does), so a worker that
    stops between the parts leaves the whole event to be carried out again (as :func:`hotline.bot.inbox.
    more_to_come` for a Telegram update)."""
    ticket = CURRENT.get() if more else None
    slot = SLOT.get() if more else None
    for held in (ticket, slot):
        if held is not None:
            held.parts_to_come += 1
    try:
        yield
    finally:
        for held in (ticket, slot):
            if held is not None:
                held.parts_to_come -= 1


@contextlib.asynccontextmanager
async def waiting() -> AsyncIterator[None]:
    """The event under way waits for something that is no work of its own (a learned verdict past the
    reply budget, :mod:`hotline.bot.runner`): its slot is let go of meanwhile, so that other users' events
    are answered, and taken again for what follows (the event stays this worker's, unsettled)."""
    slot = SLOT.get()
    held = slot is not None and slot.held
    if held:
        assert slot is not None
        slot.release()
    yield  # on an exception (a stop cancelling it) nothing is taken again: the event ends there
    if held:
        assert slot is not None
        await slot.take_again()


async def settle(s: AsyncSession, out: Dispatch) -> None:
    """In the transaction that writes what the event (or its last part) decided: with several workers the
    event is settled; in both inboxes its slot is let go of (its messages are sent after the commit)."""
    ticket = CURRENT.get()
    if ticket is not None:
        await ticket.settle(s, out)
    slot = SLOT.get()
    if slot is not None and not slot.parts_to_come:
        slot.release()
