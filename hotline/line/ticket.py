"""The LINE event being carried out, for the transaction that writes what it decided (several workers).

With events carried out under a user's lock (:mod:`hotline.line.shared`), the runner calls :func:`settle`
inside the transaction that writes what an event decided: the event is erased in that same commit and
the messages it will send are kept (sealed) until they have gone. A worker that dies after the commit
leaves only the messages for the next worker to send; the event is never carried out twice. Outside that
(one process on SQLite, timers, tests) nothing happens. Settling checks that the event is still this
worker's (:class:`~hotline.storage.inbound.TakenOver` otherwise: the transaction is rolled back).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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


@contextlib.contextmanager
def more_to_come(more: bool = True) -> Iterator[None]:
    """A part of the event under way that another part follows ("/help 我不想活了": the command, then its
    words): what it commits does not settle the event (the last part's commit does), so a worker that
    stops between the parts leaves the whole event to be carried out again (as :func:`hotline.bot.inbox.
    more_to_come` for a Telegram update)."""
    ticket = CURRENT.get() if more else None
    if ticket is not None:
        ticket.parts_to_come += 1
    try:
        yield
    finally:
        if ticket is not None:
            ticket.parts_to_come -= 1


async def settle(s: AsyncSession, out: Dispatch) -> None:
    ticket = CURRENT.get()
    if ticket is not None:
        await ticket.settle(s, out)
