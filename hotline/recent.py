"""An employee's last minutes as the runner needs them: the screening window (their last few messages,
read with each new one) and the flood limit, kept where every worker sees them.

One process on SQLite keeps both in memory (:class:`MemoryWindow`, :class:`MemoryFlood`: nothing is
written for them, and SQLite stays as fast as it was). Several workers on PostgreSQL keep them in the
database (:class:`StoredRecent`, tables in :mod:`hotline.storage.recent`): a warning split across two
messages is read together whichever workers get the two, and a flood is limited across workers; both
are read and written in one transaction per message (the words and the flood token together). The stored words are sealed like every message and kept for the window's span
only (a purge loop deletes them when they expire; /forget deletes them at once).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.crypto import CONTENT_CONTEXT
from hotline.loops import WakeableLoop
from hotline.ports import Clock
from hotline.privacy.ratelimit import Decision, RateLimiter
from hotline.screening_service import ConversationWindow
from hotline.settings import Settings
from hotline.storage import recent
from hotline.storage.repo import Store

log = logging.getLogger(__name__)

WORDS_CONTEXT = CONTENT_CONTEXT  # sealed as the same words are in the case
MAX_DECIDED = 10_000  # flood decisions taken with the words and not yet asked for (bounded)


class Window(Protocol):
    async def earlier_then_add(self, who: str, text: str, now: datetime) -> list[str]:
        """The employee's earlier messages still in the window (oldest first); then ``text`` joins them."""
        ...

    async def forget(self, s: AsyncSession, who: str) -> None:
        """/forget, inside its transaction."""
        ...


class Flood(Protocol):
    async def check(self, who: str, now: datetime) -> Decision:
        """Take one token for the employee's message (see :mod:`hotline.privacy.ratelimit`)."""
        ...


class MemoryWindow:
    def __init__(self, size: int, minutes: float) -> None:
        self.window = ConversationWindow(size, minutes)

    async def earlier_then_add(self, who: str, text: str, now: datetime) -> list[str]:
        earlier = self.window.earlier(who, now)
        self.window.add(who, text, now)
        return earlier

    async def forget(self, s: AsyncSession, who: str) -> None:
        self.window.forget(who)


class MemoryFlood:
    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    async def check(self, who: str, now: datetime) -> Decision:
        return self.limiter.check(who, time.monotonic())


class StoredRecent:
    """Both in the database, in one transaction per message: :meth:`earlier_then_add` (called when the
    message is screened, before the runner handles it) also takes the message's flood token, and
    :meth:`check` (called by the runner next, for the same employee) returns that decision without
    another transaction. :meth:`start` runs the loop that deletes expired words."""

    def __init__(
        self, store: Store, size: int, minutes: float, burst: int, per_minute: float, clock: Clock
    ) -> None:
        RateLimiter(burst, per_minute)  # the same checks on the numbers
        self.store = store
        self.size = size
        self.span = timedelta(minutes=minutes)
        self.clock = clock
        self.burst = float(burst)
        self.rate = per_minute / 60.0  # tokens per second
        self.idle = timedelta(seconds=burst / self.rate)  # after this, any bucket is full again
        self._decided: dict[str, Decision] = {}  # taken with the words, for the runner's check
        self._loop = WakeableLoop("hotline-recent-words", self._purge, error_wait=60.0)

    async def earlier_then_add(self, who: str, text: str, now: datetime) -> list[str]:
        vault = self.store.vault
        async with self.store.unit() as s:
            sealed: list[bytes] = []
            if self.size > 0:
                sealed = await recent.recent(s, who, now - self.span, self.size)
            decision = await self._add_and_take(s, who, text, now)
        if len(self._decided) > MAX_DECIDED:  # words whose message was never handled (a refused command)
            self._decided.clear()
        self._decided[who] = decision
        return [vault.decrypt(blob, context=WORDS_CONTEXT) for blob in sealed]

    async def add_in(self, s: AsyncSession, who: str, text: str, now: datetime) -> Decision:
        """:meth:`earlier_then_add` without the reading, inside the caller's transaction (the update's
        own): for a message the lexicon alone found a crisis in, whose screening needs no earlier words
        (one transaction less on its way to the alert). Returns the flood decision for its message."""
        self._decided.pop(who, None)
        return await self._add_and_take(s, who, text, now)

    async def _add_and_take(self, s: AsyncSession, who: str, text: str | None, now: datetime) -> Decision:
        """The words kept (unless ``text`` is None or the window is off) and the flood token taken: on
        PostgreSQL in one statement (``storage/recent.py``, migration 0016), elsewhere in three."""
        sealed = None
        if text is not None and self.size > 0:
            sealed = self.store.vault.encrypt(text, context=WORDS_CONTEXT)
        if self.store.locking:
            allowed, first, retry_after = await recent.add_and_take(
                s, who, sealed, now, self.size, self.burst, self.rate
            )
            return Decision(allowed, first_denial=first, retry_after=retry_after)
        if sealed is not None:
            await recent.add(s, who, sealed, now, self.size)
        return await self._take(s, who, now)

    async def check(self, who: str, now: datetime) -> Decision:
        decided = self._decided.pop(who, None)
        if decided is not None:
            return decided
        async with self.store.unit() as s:
            return await self._add_and_take(s, who, None, now)

    async def _take(self, s: AsyncSession, who: str, now: datetime) -> Decision:
        """The token bucket of :class:`~hotline.privacy.ratelimit.RateLimiter`, one row per employee.
        A bucket idle long enough to be full again counts as full here (it is refilled by the time
        passed); the purge loop deletes it (:meth:`purge`), not every message (issue 14)."""
        bucket = await recent.bucket(s, who, self.burst, now)
        elapsed = max(0.0, (now - bucket.seen).total_seconds())
        bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
        bucket.seen = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.denied = False
            return Decision(True)
        first = not bucket.denied
        bucket.denied = True
        return Decision(False, first_denial=first, retry_after=(1.0 - bucket.tokens) / self.rate)

    async def forget(self, s: AsyncSession, who: str) -> None:
        self._decided.pop(who, None)
        await recent.forget(s, who)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def purge(self) -> int:
        """Delete the words past the window, and the flood buckets full again; return how many words."""
        now = self.clock()
        async with self.store.unit() as s:
            await recent.purge_buckets(s, now - self.idle)
            return await recent.purge_words(s, now - self.span)

    async def _purge(self) -> float:
        gone = await self.purge()
        if gone:
            log.debug("%d recent messages past the screening window deleted", gone)
        async with self.store.unit() as s:
            oldest = await recent.oldest_word(s)
        if oldest is None:
            return self.span.total_seconds()
        return max(1.0, (oldest + self.span - self.clock()).total_seconds() + 1.0)


def for_workers(settings: Settings, store: Store, clock: Clock) -> tuple[Window, Flood]:
    """In memory for one process on SQLite; in the database where several workers share it."""
    screening, limits = settings.screening, settings.rate_limit
    if not store.locking:
        flood = MemoryFlood(RateLimiter.from_settings(limits))
        return MemoryWindow(screening.window_messages, screening.window_minutes), flood
    shared = StoredRecent(
        store, screening.window_messages, screening.window_minutes, limits.burst, limits.per_minute, clock
    )
    return shared, shared


__all__ = ["Flood", "MemoryFlood", "MemoryWindow", "StoredRecent", "Window", "for_workers"]
