"""State of one emulated bot: pending updates, chats and their messages, webhook, commands, faults.

The long-polling rules of ``getUpdates`` live here (offset confirmation, limit, timeout, one poller at
a time); the method handlers are in ``telegram_methods`` and the HTTP surface in ``telegram_http``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .telegram_limits import FloodGate
from .telegram_model import JSON, ApiError, BotIdentity, ChatUser, Fault, InjectedUpdate

DEFAULT_MAX_CONNECTIONS = 40  # setWebhook's max_connections when not given
MAX_CONNECTIONS_LIMIT = 100  # and its largest value (1-100)
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
_CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


@dataclass(slots=True)
class Webhook:
    url: str
    secret_token: str | None = None
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    allowed_updates: list[str] | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass(slots=True)
class Chat:
    """A private chat between the bot and one user; message ids are shared by both sides."""

    user: ChatUser
    next_message_id: int = 1
    messages: dict[int, JSON] = field(default_factory=dict)
    bot_message_ids: list[int] = field(default_factory=list)

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass(slots=True)
class PendingUpdate:
    """An update not yet confirmed by the bot; ``gone`` once it left ``BotState.pending`` (delivered,
    confirmed by ``getUpdates``, dropped), so a webhook delivery holding it knows."""

    update_id: int
    payload: JSON
    record: InjectedUpdate
    gone: bool = False


class BotState:
    """Everything one bot token sees. Single-threaded: touched only from the emulator's event loop."""

    def __init__(
        self,
        identity: BotIdentity,
        clock: Callable[[], float],
        users: dict[int, ChatUser],
        flood: FloodGate | None = None,
    ) -> None:
        self.identity = identity
        self.flood = flood  # Telegram's flood limits (None: off)
        self.clock = clock
        self.users = users  # emulator-wide registry of known users (shared by all bots)
        self.pending: deque[PendingUpdate] = deque()
        self.next_update_id = 1
        self.allowed_updates: list[str] | None = None
        self.webhook: Webhook | None = None
        self.chats: dict[int, Chat] = {}
        self.started: set[int] = set()  # chats in which the user has written to the bot
        self.blocked: set[int] = set()
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.callback_queries: dict[str, bool] = {}  # id -> answered
        self.faults: dict[str, deque[Fault]] = {}
        self.next_callback_id = 1
        self.closed = False
        self._poll_generation = 0
        self.polls_waiting = 0
        self._poll_watchers: list[asyncio.Future[None]] = []
        self._changed: asyncio.Future[None] | None = None

    # -- change notification -------------------------------------------------------------------
    def changed(self) -> asyncio.Future[None]:
        """A future resolved at the next state change that pollers or the webhook care about."""
        if self._changed is None or self._changed.done():
            self._changed = asyncio.get_running_loop().create_future()
        return self._changed

    def wake(self) -> None:
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)

    def now(self) -> int:
        return int(self.clock())

    # -- chats ---------------------------------------------------------------------------------
    def chat_for(self, user: ChatUser) -> Chat:
        chat = self.chats.get(user.id)
        if chat is None:
            chat = self.chats[user.id] = Chat(user)
        return chat

    def writable_chat(self, chat_id: Any) -> Chat:
        """The chat a bot may send to, or the Telegram error for it."""
        if not isinstance(chat_id, int):
            if chat_id is None or chat_id == "":
                raise ApiError(400, "Bad Request: chat_id is empty")
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        user = self.users.get(chat_id)
        if user is None or chat_id not in self.started:
            raise ApiError(400, "Bad Request: chat not found")
        return self.chat_for(user)

    def find_message(self, chat_id: Any, message_id: Any) -> JSON | None:
        chat = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None or not isinstance(message_id, int):
            return None
        return chat.messages.get(message_id)

    # -- updates -------------------------------------------------------------------------------
    def enqueue(self, kind: str, body: JSON, user: ChatUser, mark: int) -> InjectedUpdate:
        update_id = self.next_update_id
        self.next_update_id += 1
        payload = {"update_id": update_id, kind: body}
        record = InjectedUpdate(update_id, self.identity.id, user.id, kind, payload, time.monotonic(), mark)
        self.pending.append(PendingUpdate(update_id, payload, record))
        self.started.add(user.id)
        self.wake()
        return record

    def confirm(self, offset: int) -> None:
        """Forget updates below ``offset`` (negative: keep only the last ``-offset``)."""
        if offset < 0:
            while len(self.pending) > -offset:
                self.pending.popleft().gone = True
            return
        while self.pending and self.pending[0].update_id < offset:
            self.pending.popleft().gone = True

    def drop_pending(self) -> None:
        for update in self.pending:
            update.gone = True
        self.pending.clear()

    def forget(self, update: PendingUpdate) -> None:
        """The bot has this update (its webhook answered 2xx): it is no longer pending."""
        if not update.gone:
            update.gone = True
            if self.pending and self.pending[0] is update:
                self.pending.popleft()
            else:
                self.pending.remove(update)

    def _is_allowed(self, update: PendingUpdate, allowed: list[str] | None) -> bool:
        kind = next(k for k in update.payload if k != "update_id")
        if allowed:
            return kind in allowed
        return kind not in DEFAULT_EXCLUDED_UPDATES

    def drop_unwanted(self, allowed: list[str] | None) -> None:
        """Drop pending updates of kinds the bot did not subscribe to."""
        unwanted = [u for u in self.pending if not self._is_allowed(u, allowed)]
        if unwanted:
            for update in unwanted:
                update.gone = True
            self.pending = deque(u for u in self.pending if not u.gone)

    def deliverable(self, limit: int, allowed: list[str] | None) -> list[PendingUpdate]:
        """Up to ``limit`` pending updates, dropping kinds the bot did not subscribe to."""
        self.drop_unwanted(allowed)
        return list(self.pending)[:limit]

    async def get_updates(self, params: JSON) -> list[JSON]:
        """``getUpdates`` with long polling; a newer call ends an older one with 409 Conflict."""
        if self.webhook is not None:
            raise ApiError(409, _CONFLICT_WEBHOOK)
        offset, limit, timeout = params.get("offset"), params.get("limit"), params.get("timeout")
        if isinstance(offset, int) and offset != 0:
            self.confirm(offset)
        limit = max(1, min(100, limit)) if isinstance(limit, int) else 100
        wait = float(timeout) if isinstance(timeout, int | float) and timeout > 0 else 0.0
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = [str(a) for a in allowed] or None
        self._poll_generation += 1
        generation = self._poll_generation
        self.wake()  # ends an older poll still waiting (with a conflict)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            batch = self.deliverable(limit, self.allowed_updates)
            if batch or self.closed:
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            changed = self.changed()
            self.polls_waiting += 1
            for watcher in self._poll_watchers:
                if not watcher.done():
                    watcher.set_result(None)
            self._poll_watchers.clear()
            try:
                await asyncio.wait_for(asyncio.shield(changed), remaining)
            except TimeoutError:
                break
            finally:
                self.polls_waiting -= 1
            if generation != self._poll_generation:
                raise ApiError(409, _CONFLICT_POLL)
        now = time.monotonic()
        for update in batch:
            if update.record.delivered_at is None:
                update.record.delivered_at = now
        return [u.payload for u in batch]

    async def wait_polling(self) -> None:
        """Return once a ``getUpdates`` long poll is waiting (at once if one is)."""
        if self.polls_waiting:
            return
        watcher = asyncio.get_running_loop().create_future()
        self._poll_watchers.append(watcher)
        await watcher

    # -- faults --------------------------------------------------------------------------------
    def add_fault(self, method: str, fault: Fault, times: int) -> None:
        self.faults.setdefault(method, deque()).extend([fault] * times)

    def take_fault(self, method: str, params: JSON) -> Fault | None:
        """The first fault queued for ``method`` that applies to this call (its chat), taken."""
        queue = self.faults.get(method) or deque()
        for fault in queue:
            if fault.applies_to(params):
                queue.remove(fault)
                return fault
        return None
