"""Letting go of a bounded slot while an update waits for something that is no work of its own.

An employee's message answered before its learned verdict (the reply budget, :mod:`hotline.bot.runner`)
waits for that verdict in its chat's turn, so that the chat's next update comes after it; the bound on
updates carried out at once (polling: :class:`~hotline.bot.telegram.PerChatOrderedProcessor`; webhook:
:class:`~hotline.bot.inbox.Inbox`) need not count it meanwhile, or a burst of such waits would hold back
every other chat's first answer. Whoever bounds updates registers how to let go of the slot and take it
again (:func:`slot`); the waiter wraps its wait in :func:`waiting`. The LINE inboxes' own slot is let go
of the same way (:func:`hotline.line.ticket.waiting`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar

Release = Callable[[], None]
Take = Callable[[], Awaitable[None]]

_SLOT: ContextVar[tuple[Release, Take] | None] = ContextVar("hotline_update_slot", default=None)


@contextlib.contextmanager
def slot(release: Release, take: Take) -> Iterator[None]:
    """The update carried out inside holds a slot that ``release`` lets go of and ``take`` takes again."""
    token = _SLOT.set((release, take))
    try:
        yield
    finally:
        _SLOT.reset(token)


@contextlib.asynccontextmanager
async def waiting() -> AsyncIterator[None]:
    """The slot of the update under way (if one was registered) is let go of inside, taken again after
    (not after an exception: a stop cancelling the wait ends the update there)."""
    held = _SLOT.get()
    if held is not None:
        held[0]()
    yield
    if held is not None:
        await held[1]()
