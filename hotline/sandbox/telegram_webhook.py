"""Webhook delivery as Telegram's Bot API server does it (tdlib/telegram-bot-api, ``WebhookActor.cpp``).

What the real server does, and so this emulator:

- **One queue per chat.** Each update carries a queue id: a message (or an edit, a channel post) its
  chat's id; a button press (``callback_query``) the id of the *user who pressed*, in a queue of its
  own, apart from that user's messages (``Client.cpp``: ``user_id + (3 << 33)``); inline queries, chosen
  inline results and payment queries likewise per user, each kind apart; a poll and its answers their
  poll's id; anything else a queue of its own. **At most one update of a queue is in flight**, and
  the next one goes only once the webhook answered 2xx for it: the order inside a queue holds.
  Between queues there is no order: a press and the message typed right after it may arrive together.
- **Up to ``max_connections`` at once** (``setWebhook``, 1-100, default 40): one request per
  connection, so never more than that many deliveries in flight for a bot. At most ``2 x
  max_connections`` pending updates are loaded into the queues at a time, oldest first.
- **Connections are ramped up.** While no delivery succeeded in the last 10 s, the server keeps to
  one new connection (a new one at most every ~4 s); after a success it opens up to one per queue
  with updates, about ten at once and then ten a second (``FloodControlFast`` limits 1 per 2 s and 10
  per 0.5 s, each overrun waiting twice the window). A connection unused for 60 s is closed; one whose
  request failed to connect or broke is closed too.
- **A failure is retried, its queue held, the others going on.** An answer other than 2xx, or no
  answer, is recorded in ``getWebhookInfo`` (``last_error_date``/``last_error_message``) and the update
  is sent again: at once after its first failure, then after ``2 x retry_delay``, ``4 x``, ... at most
  ``max_retry_delay`` (Telegram: 1 s doubling, capped between 60 and 120 s at random); a
  ``Retry-After: N`` header on the answer waits N seconds instead (0-3600).

Left out: updates expiring (Telegram keeps an update about a day), closing the webhook after 23 h of
410 answers, methods sent back in a webhook answer's body, IP and certificate checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass

from aiohttp import ClientError, ClientSession, ClientTimeout

from .telegram_model import JSON
from .telegram_state import BotState, PendingUpdate, Webhook

RETRY_DELAY = 1.0  # seconds: the first back-off unit (Telegram's initial ``delay_``)
MAX_RETRY_DELAY = 60.0  # the longest wait between two attempts (Telegram: 60-120 s at random)
MAX_RETRY_AFTER = 3600  # a webhook's Retry-After is clamped to this (seconds)
ACTIVE_FOR = 10.0  # seconds after the last success during which connections are opened quickly
IDLE_TIMEOUT = 60.0  # seconds an unused connection stays open
RESPONSE_TIMEOUT = 30.0  # seconds to wait for the webhook's answer
LOADED_PER_CONNECTION = 2  # updates loaded into the queues per allowed connection

_PER_USER_KINDS = {
    "inline_query": 1,
    "chosen_inline_result": 2,
    "callback_query": 3,
    "shipping_query": 4,
    "pre_checkout_query": 4,
}
_CHAT_KINDS = (
    "message", "edited_message", "channel_post", "edited_channel_post", "business_message",
    "edited_business_message", "my_chat_member", "chat_member", "chat_join_request",
    "message_reaction", "message_reaction_count", "chat_boost", "removed_chat_boost",
)  # fmt: skip


def queue_key(payload: JSON) -> Hashable:
    """The delivery queue an update goes in (see the module docstring); ``("own", update_id)`` alone."""
    kind = next((k for k in payload if k != "update_id"), "")
    body = payload.get(kind)
    if not isinstance(body, dict):
        return ("own", payload.get("update_id"))
    if kind in _PER_USER_KINDS:
        user = (body.get("from") or {}).get("id")
        if isinstance(user, int):
            return ("user", _PER_USER_KINDS[kind], user)
    elif kind in _CHAT_KINDS:
        chat = (body.get("chat") or {}).get("id")
        if isinstance(chat, int):
            return chat
    elif kind in ("poll", "poll_answer"):
        poll = body.get("id") if kind == "poll" else body.get("poll_id")
        if poll is not None:
            return ("poll", str(poll))
    return ("own", payload.get("update_id"))


class _Flood:
    """At most ``count`` events in ``window`` seconds; an event over that waits ``2 x window``."""

    def __init__(self, window: float, count: int) -> None:
        self.window, self.count = window, count
        self._events: deque[float] = deque()
        self.wakeup_at = 0.0

    def add(self, now: float) -> None:
        self._events.append(now)
        while self._events and self._events[0] <= now - self.window:
            self._events.popleft()
        if len(self._events) > self.count:
            self.wakeup_at = max(self.wakeup_at, now + 2 * self.window)


@dataclass(slots=True)
class _Entry:
    update: PendingUpdate
    delay: float  # the back-off unit, doubled on each failure after the first
    fails: int = 0


@dataclass(frozen=True, slots=True)
class WebhookStats:
    """What a bot's webhook delivery has done so far (``TelegramEmulator.webhook_stats``)."""

    in_flight: int  # requests awaiting the webhook's answer now
    max_in_flight: int  # the most at once since the start (or the last ``reset_max``)
    connections: int  # connections open now
    delivered: int  # updates the webhook answered 2xx for
    failed: int  # attempts that failed (each is retried)


class WebhookDelivery:
    """Pushes one bot's pending updates to its webhook as Telegram does, until stopped.

    ``retry_delay`` is the back-off unit (tests make it short); the emulator's loop only, no threads.
    """

    def __init__(
        self,
        bot: BotState,
        session: ClientSession,
        retry_delay: float = RETRY_DELAY,
        max_retry_delay: float = MAX_RETRY_DELAY,
    ) -> None:
        self._bot = bot
        self._session = session
        self._retry_delay = retry_delay
        self._max_retry_delay = max(max_retry_delay, retry_delay)
        self._task: asyncio.Task[None] | None = None
        self._loaded: dict[int, _Entry] = {}  # update_id -> entry, every update in a queue
        self._queues: dict[Hashable, deque[_Entry]] = {}
        self._ready: list[tuple[float, int, Hashable]] = []  # (wake-up, tie-break, key): heads not in flight
        self._seq = 0
        self._sending: dict[Hashable, asyncio.Task[None]] = {}  # key -> its head's request
        self._connections = 0
        self._last_success = -1e9
        self._last_used = 0.0
        self._active_flood = _Flood(0.5, 10)
        self._quiet_flood = _Flood(2.0, 1)
        self._max_in_flight = 0
        self._delivered = 0
        self._failed = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"webhook-delivery-{self._bot.identity.id}")

    async def stop(self) -> None:
        """Cancel the loop and every request in flight (those updates stay pending)."""
        tasks = [t for t in (self._task, *self._sending.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._sending.clear()
        self._task = None

    def stats(self) -> WebhookStats:
        return WebhookStats(
            len(self._sending), self._max_in_flight, self._connections, self._delivered, self._failed
        )

    def reset_max(self) -> None:
        self._max_in_flight = len(self._sending)

    # -- the loop ----------------------------------------------------------------------------------
    async def _run(self) -> None:
        bot = self._bot
        loop = asyncio.get_running_loop()
        while not bot.closed:
            hook = bot.webhook
            wake_at: float | None = None
            if hook is not None:
                now = loop.time()
                self._load(hook)
                wake_at = _earliest(self._connect(hook, now), self._send(hook, now))
            changed = bot.changed()
            if wake_at is None:
                await asyncio.shield(changed)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(changed), max(0.0, wake_at - loop.time()))

    def _load(self, hook: Webhook) -> None:
        """Bring pending updates, oldest first, into their queues: at most 2 x max_connections loaded."""
        room = LOADED_PER_CONNECTION * hook.max_connections - len(self._loaded)
        if room <= 0:
            return
        bot = self._bot
        bot.drop_unwanted(bot.allowed_updates)
        for update in bot.pending:
            if room <= 0:
                break
            if update.update_id in self._loaded:
                continue
            entry = _Entry(update, self._retry_delay)
            self._loaded[update.update_id] = entry
            key = queue_key(update.payload)
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = deque()
                self._push(key, 0.0)
            queue.append(entry)
            room -= 1

    def _connect(self, hook: Webhook, now: float) -> float | None:
        """Open the connections the queues need, as fast as Telegram would; when to look again."""
        if not self._sending and self._connections and now - self._last_used > IDLE_TIMEOUT:
            self._connections = 0
        need = min(len(self._queues), hook.max_connections)
        if now - self._last_success > ACTIVE_FOR:
            need, flood = min(need, 1), self._quiet_flood
        else:
            need, flood = max(need, 1), self._active_flood
        while self._connections < need:
            if now < flood.wakeup_at:
                return flood.wakeup_at
            flood.add(now)
            self._connections += 1
        return None

    def _send(self, hook: Webhook, now: float) -> float | None:
        """Start a request for each ready queue while a connection is free; the next wake-up time."""
        free = min(self._connections, hook.max_connections) - len(self._sending)
        while self._ready:
            at, _, key = self._ready[0]
            queue = self._queues.get(key)
            if queue is None or key in self._sending:
                heapq.heappop(self._ready)
                continue
            if queue[0].update.gone:  # confirmed or dropped meanwhile
                heapq.heappop(self._ready)
                self._pop_head(key)
                continue
            if at > now:
                return at
            if free <= 0:
                return None
            heapq.heappop(self._ready)
            entry = queue[0]
            self._sending[key] = asyncio.create_task(
                self._deliver(hook, key, entry), name="webhook-delivery-request"
            )
            free -= 1
            self._max_in_flight = max(self._max_in_flight, len(self._sending))
        return None

    # -- one request -------------------------------------------------------------------------------
    async def _deliver(self, hook: Webhook, key: Hashable, entry: _Entry) -> None:
        headers = {"X-Telegram-Bot-Api-Secret-Token": hook.secret_token} if hook.secret_token else {}
        retry_after = 0
        broken = False
        try:
            async with self._session.post(
                hook.url,
                json=entry.update.payload,
                headers=headers,
                timeout=ClientTimeout(total=RESPONSE_TIMEOUT),
            ) as response:
                await response.read()
                failure = (
                    None
                    if 200 <= response.status < 300
                    else f"Wrong response from the webhook: {response.status} {response.reason}"
                )
                if failure is not None:
                    retry_after = _retry_after(response.headers.get("Retry-After"))
        except (ClientError, TimeoutError, OSError) as exc:
            failure, broken = f"Connection failed: {exc.__class__.__name__}", True
        self._done(key, entry, failure, retry_after, broken)

    def _done(
        self, key: Hashable, entry: _Entry, failure: str | None, retry_after: int, broken: bool
    ) -> None:
        bot = self._bot
        now = asyncio.get_running_loop().time()
        del self._sending[key]
        self._last_used = now
        if broken:
            self._connections = max(0, self._connections - 1)
        if failure is None:
            self._delivered += 1
            self._last_success = now
            if entry.update.record.delivered_at is None:
                entry.update.record.delivered_at = time.monotonic()
            bot.forget(entry.update)
            self._pop_head(key)
        else:
            self._failed += 1
            if bot.webhook is not None:
                bot.webhook.last_error_date, bot.webhook.last_error_message = bot.now(), failure
            if retry_after > 0:
                wait = float(retry_after)
            elif entry.fails > 0:
                entry.delay = min(self._max_retry_delay, entry.delay * 2)
                wait = entry.delay
            else:
                wait = 0.0
            entry.fails += 1
            self._push(key, now + wait)
        bot.wake()

    # -- queues ------------------------------------------------------------------------------------
    def _push(self, key: Hashable, at: float) -> None:
        self._seq += 1
        heapq.heappush(self._ready, (at, self._seq, key))

    def _pop_head(self, key: Hashable) -> None:
        """The head of ``key``'s queue is done with; the next one (if any) is ready at once."""
        queue = self._queues[key]
        del self._loaded[queue.popleft().update.update_id]
        if queue:
            self._push(key, 0.0)
        else:
            del self._queues[key]


def _retry_after(value: str | None) -> int:
    if value is None or not value.strip().isdigit():
        return 0
    return min(MAX_RETRY_AFTER, int(value.strip()))


def _earliest(*times: float | None) -> float | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


__all__ = ["MAX_RETRY_DELAY", "RETRY_DELAY", "WebhookDelivery", "WebhookStats", "queue_key"]
