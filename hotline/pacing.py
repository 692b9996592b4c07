"""Outgoing chat messages paced under the channel's flood limits, crisis messages first.

Telegram refuses a bot that sends faster than about 30 messages a second, or more than one a second
in one chat (short bursts tolerated), with ``429 Too Many Requests`` and a ``retry_after``. Every
message the service sends or edits first takes a token from two buckets: the bot's and the chat's.

**The buckets** are GCRA cells: one number per bucket, its theoretical arrival time (``tat``). A message
may go when ``tat - tolerance <= now``; taking a token moves ``tat`` to ``max(tat, now) + interval``.
Nothing is reserved: a sender that cannot take both tokens takes neither and waits as long as it was
told, then asks again.

**Where they live** (:class:`Budget`): in memory when this process is the only sender (SQLite: one
process); in a PostgreSQL table when several workers share the bot (``storage/pacing_repo.py``: the two
rows locked ``FOR UPDATE`` in key order, read and written in one short transaction, on the database's
clock). A per-worker share of the budget (30/N each) was the other choice: it needs N to be known and
kept right as workers come and go, wastes the share of an idle worker, and cannot split a single chat's
one message a second at all; a row takes a millisecond and holds whatever N is.

**Crisis first** (:func:`urgent`): within a process, each chat has one queue, ordered crisis first then
by arrival, and only its head asks for tokens, so a crisis alert overtakes the ordinary messages queued
for the same counselor. Across workers and chats, an ordinary message takes a free slot only once it
has been free for ``PRIORITY_LAG`` seconds: a crisis message waiting for the same slot, in whichever
worker, takes it first. Among crisis messages an alert to staff (``urgent(alert=True)``) goes before a crisis
reply to an employee, which waits ``CRISIS_LAG`` behind a free slot: in a burst, the counselor's alert does
not lose the bot's slot to the many replies waking at the same moment.

**One asker a process for the bot's bucket.** A refusal says which bucket refused (:class:`Wait`). While the
bot's bucket is empty, only the first of this process's waiting messages (alerts, then crisis messages, then
the rest, each by arrival) asks again, once the bucket should have a token; a message whose chat's bucket is
empty waits for its chat alone. Before, every waiting message asked again when its wait ended: with every
limit on, a burst of 200 crises cost 27 transactions a crisis, most of them refusals.

A 429 that comes anyway (limits are not published exactly) holds the chat back for ``retry_after``
(:meth:`Pacer.hold_off`); the message is then sent again by the caller.

python-telegram-bot's own ``AIORateLimiter`` was not enough: its buckets live in one process (N workers
would send N times 30 a second), it limits groups but not a private chat's one message a second, it
knows no priority, and a 429 halts every request of the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

PRIORITY_LAG = 0.1
# A crisis message that is not an alert (the crisis reply to an employee) waits this long behind a free slot,
# so that an alert to a counselor asking at the same moment takes it first (less than the bot's interval,
# 1/30 s: the reply is not held back a whole slot, it only loses the tie).
CRISIS_LAG = 0.02
BOT_KEY = "bot"

_URGENT: ContextVar[bool] = ContextVar("hotline_urgent_send", default=False)
_ALERT: ContextVar[bool] = ContextVar("hotline_alert_send", default=False)


@contextlib.contextmanager
def urgent(alert: bool = False) -> Iterator[None]:
    """Messages sent inside this block are crisis messages: they go before any ordinary one; with
    ``alert``, messages to staff about a crisis, which go before the crisis replies too."""
    token, alert_token = _URGENT.set(True), _ALERT.set(alert)
    try:
        yield
    finally:
        _ALERT.reset(alert_token)
        _URGENT.reset(token)


def is_urgent() -> bool:
    return _URGENT.get()


def is_alert() -> bool:
    return _ALERT.get()


def lag(urgent: bool, alert: bool = False) -> float:
    """Seconds a message waits behind a free slot: none for an alert to staff, :data:`CRISIS_LAG` for
    another crisis message, :data:`PRIORITY_LAG` for an ordinary one."""
    return 0.0 if alert else CRISIS_LAG if urgent else PRIORITY_LAG


class Wait(float):
    """Seconds to wait before asking again (0: the token was taken), and the share of each bucket: the
    bot's (``bot``) and the chat's (``chat``); the wait is the longer."""

    __slots__ = ("bot", "chat")
    bot: float
    chat: float

    def __new__(cls, bot: float = 0.0, chat: float = 0.0) -> Wait:
        wait = super().__new__(cls, max(0.0, bot, chat))
        wait.bot, wait.chat = max(0.0, bot), max(0.0, chat)
        return wait


TAKEN = Wait()


@dataclass(frozen=True, slots=True)
class Rate:
    """A bucket: ``interval`` seconds a token, ``tolerance`` seconds of burst (``(burst - 1) * interval``)."""

    interval: float
    tolerance: float

    @classmethod
    def of(cls, per_second: float, burst: int) -> Rate:
        interval = 1.0 / per_second
        return cls(interval, (max(1, burst) - 1) * interval)

    def wait(self, tat: float | None, now: float, urgent: bool, alert: bool = False) -> float:
        """Seconds until a token may be taken (0: now)."""
        if tat is None:
            return 0.0
        return max(0.0, tat - self.tolerance + lag(urgent, alert) - now)

    def after_take(self, tat: float | None, now: float) -> float:
        return max(tat if tat is not None else now, now) + self.interval


@dataclass(frozen=True, slots=True)
class Limits:
    bot: Rate
    chat: Rate

    def waits(
        self, bot_tat: float | None, chat_tat: float | None, now: float, urgent: bool, alert: bool = False
    ) -> Wait:
        return Wait(self.bot.wait(bot_tat, now, urgent, alert), self.chat.wait(chat_tat, now, urgent, alert))


class Budget(Protocol):
    async def take(self, chat_key: str, urgent: bool, alert: bool = False) -> Wait:
        """Take a token from the bot's and the chat's buckets and return 0, or take nothing and return
        the seconds to wait before asking again, each bucket's apart."""
        ...

    async def hold_off(self, chat_key: str, seconds: float) -> None:
        """Nothing goes to this chat for ``seconds`` (Telegram answered 429 with ``retry_after``)."""
        ...


class MemoryBudget:
    """The buckets of a process that is the bot's only sender."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._tat: dict[str, float] = {}

    async def take(self, chat_key: str, urgent: bool, alert: bool = False) -> Wait:
        now = self._clock()
        bot_tat, chat_tat = self._tat.get(BOT_KEY), self._tat.get(chat_key)
        wait = self.limits.waits(bot_tat, chat_tat, now, urgent, alert)
        if wait > 0:
            return wait
        self._tat[BOT_KEY] = self.limits.bot.after_take(bot_tat, now)
        self._tat[chat_key] = self.limits.chat.after_take(chat_tat, now)
        if len(self._tat) > 10_000:  # buckets that are full again are the same as none
            for key in [k for k, t in self._tat.items() if t < now and k != BOT_KEY]:
                del self._tat[key]
        return TAKEN

    async def hold_off(self, chat_key: str, seconds: float) -> None:
        until = self._clock() + seconds + self.limits.chat.tolerance
        self._tat[chat_key] = max(self._tat.get(chat_key, 0.0), until)


def _drop(heap: list[tuple[int, int]], item: tuple[int, int]) -> None:
    heap.remove(item)
    heapq.heapify(heap)


@dataclass
class _Lane:
    """The messages of one chat waiting in this process: a heap of (0 crisis / 1 ordinary, arrival), and
    when the chat's bucket is next known to have a token (loop time, before the asker's lag)."""

    waiting: list[tuple[int, int]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    chat_free_at: float = 0.0

    def wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class Pacer:
    """Hands out the right to send one message to a chat; see the module docstring."""

    def __init__(self, budget: Budget, key_of: Callable[[int], str] = str) -> None:
        self.budget = budget
        self._key_of = key_of
        self._lanes: dict[str, _Lane] = {}
        self._arrivals = itertools.count()
        # The lanes' first messages whose chat has a token, waiting for the bot's: a heap of (0 alert /
        # 1 crisis / 2 ordinary, arrival); only its first asks, once ``_bot_free_at`` (loop time, before
        # the asker's lag) has come, and one ask at a time.
        self._asking: list[tuple[int, int]] = []
        self._asking_changed = asyncio.Event()
        self._asked = False  # an ask is under way
        self._bot_free_at = 0.0
        self.waited = 0  # messages that had to wait for a token (for metrics)
        self.asks = 0  # takes asked of the budget (for tests and benchmarks)

    def _wake_asking(self) -> None:
        self._asking_changed.set()
        self._asking_changed = asyncio.Event()

    async def acquire(self, chat_id: int) -> None:
        """Return when a message may go to ``chat_id`` (a crisis message when inside :func:`urgent`)."""
        key = self._key_of(chat_id)
        crisis, alert = is_urgent(), is_alert()
        own_lag = lag(crisis, alert)
        lane = self._lanes.setdefault(key, _Lane())
        arrival = next(self._arrivals)
        ticket = (0 if crisis else 1, arrival)
        place = (0 if alert else 1 if crisis else 2, arrival)
        heapq.heappush(lane.waiting, ticket)
        self._changed(lane)
        queued = first = False
        loop = asyncio.get_running_loop()
        try:
            while True:
                now = loop.time()
                head = lane.waiting[0] == ticket
                chat_wait = lane.chat_free_at + own_lag - now
                wants_bot = head and chat_wait <= 0
                if queued != wants_bot:  # joins the bot's queue, or leaves it (its chat has no token)
                    if wants_bot:
                        heapq.heappush(self._asking, place)
                    else:
                        _drop(self._asking, place)
                    queued = wants_bot
                    self._wake_asking()
                changed, timeout = lane.changed, (chat_wait if head and not wants_bot else None)
                if wants_bot:
                    changed = self._asking_changed
                    if self._asking[0] == place and not self._asked:
                        bot_wait = self._bot_free_at + own_lag - now
                        if bot_wait <= 0:
                            wait = await self._ask(key, crisis, alert)
                            if wait <= 0:
                                return
                            now = loop.time()
                            if wait.bot > 0:  # empty for everyone: the next ask waits for its token
                                self._bot_free_at = now + wait.bot - own_lag
                            if wait.chat > 0:
                                lane.chat_free_at = now + wait.chat - own_lag
                            self._wake_asking()
                            continue
                        timeout = bot_wait
                if not first:
                    self.waited += 1
                    first = True
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that comes
                # just after the event is set (the waiter woken by another chat's change), and a send its
                # caller gave up would go out anyway.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await changed.wait()
        finally:
            if queued:
                _drop(self._asking, place)
            _drop(lane.waiting, ticket)
            self._changed(lane)
            if not lane.waiting and self._lanes.get(key) is lane:
                del self._lanes[key]

    def _changed(self, lane: _Lane) -> None:
        """A lane's first message may have changed: its waiters look again, and so does the bot's queue
        (where a message that is no longer its chat's first leaves it)."""
        lane.wake()
        self._wake_asking()

    async def _ask(self, key: str, crisis: bool, alert: bool) -> Wait:
        self._asked = True
        self.asks += 1
        try:
            return await self.budget.take(key, crisis, alert)
        finally:
            self._asked = False

    async def hold_off(self, chat_id: int, seconds: float) -> None:
        await self.budget.hold_off(self._key_of(chat_id), seconds)


class NoPacing:
    """A budget that never makes anyone wait (pacing switched off in the settings)."""

    async def take(self, chat_key: str, urgent: bool, alert: bool = False) -> Wait:
        return TAKEN

    async def hold_off(self, chat_key: str, seconds: float) -> None:
        return None
