"""Telegram Bot API emulator: a local stand-in for api.telegram.org with a driver for tests and demos.

The real python-telegram-bot works against it unchanged::

    async with TelegramEmulator(token="123:ABC") as emu:
        app = ApplicationBuilder().token(emu.token).base_url(emu.base_url).build()
        alice = emu.user(1001, first_name="小美", username="mei")
        start = await emu.send_text(alice, "/start")
        reply = await emu.wait_for_reply(alice, since=start)
        await emu.press_button(alice, reply.message_id, "accept")

Calls go to ``{api_url}/bot{token}/{method}``. Every call the bot makes is recorded (``calls``) with
``time.monotonic()`` stamps, as is every injected update (``updates``); ``wait_for`` awaits a call
without polling, ``subscribe``/``events`` follow both sides live, ``fail_next`` injects errors.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Self

from aiohttp import ClientSession, web

from .telegram_content import photo_content, sticker_content, text_content, voice_content
from .telegram_http import BotApiServer
from .telegram_limits import REALISTIC, FloodGate, FloodLimits
from .telegram_log import CallPredicate, EventLog, EventStream, Subscriber
from .telegram_methods import canonical_name, get_my_commands, get_webhook_info
from .telegram_model import (
    JSON,
    BotCall,
    BotIdentity,
    BotMessage,
    ChatUser,
    Fault,
    InjectedUpdate,
    bot_id_of,
    callback_data_of,
    default_fault_description,
    inline_buttons,
)
from .telegram_state import BotState
from .telegram_webhook import RETRY_DELAY, WebhookDelivery, WebhookStats

DEFAULT_TOKEN = "123456789:SANDBOX-token"
_REPLY_METHODS = frozenset({"sendMessage", "copyMessage", "forwardMessage"})

Since = int | InjectedUpdate | None


class TelegramEmulator:
    """An emulated Bot API server on ``host:port`` (port 0 picks a free one) plus its driver.

    ``token`` is the first bot; ``add_bot`` adds more. Telegram's flood limits are enforced (``limits``,
    see ``telegram_limits``: 30 messages/s per bot, 1/s per chat with short bursts, 20/min per group):
    a message over them is refused with 429 and ``retry_after`` and recorded in ``refusals``. Tests and
    benchmarks that measure raw speed pass ``limits=None``. Driver methods take ``bot=<token>`` to address
    another bot than the first. All methods must be used from the event loop the emulator runs on.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "hotline_sandbox_bot",
        bot_name: str = "7858 請幫我吧",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        webhook_retry_delay: float = RETRY_DELAY,
        limits: FloodLimits | None = REALISTIC,
    ) -> None:
        self.token = token
        self.limits = limits
        self._host, self._port = host, port
        self._clock = clock
        self._webhook_retry_delay = webhook_retry_delay
        self._users: dict[int, ChatUser] = {}
        self._started_everywhere: set[int] = set()
        self._bots: dict[str, BotState] = {}
        self._log = EventLog()
        self._server = BotApiServer(self._bots, self._log.record_call, lambda: len(self._log.calls))
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._deliveries: dict[str, WebhookDelivery] = {}
        self.add_bot(token, username=bot_username, first_name=bot_name)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> Self:
        """Start serving; afterwards ``api_url`` is known."""
        runner = web.AppRunner(
            self._server.app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._port = int(runner.addresses[0][1])
        self._session = ClientSession()
        for token in self._bots:
            self._start_delivery(token)
        return self

    async def close(self) -> None:
        """Stop serving: pending long polls return empty, webhook delivery stops, sockets close."""
        for state in self._bots.values():
            state.closed = True
            state.wake()
        for delivery in self._deliveries.values():
            await delivery.stop()
        self._deliveries.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:PORT`` — the Bot API root (``HOTLINE_TELEGRAM_API_URL``)."""
        if self._runner is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        """``{api_url}/bot``, ready for ``ApplicationBuilder().base_url(...)``."""
        return f"{self.api_url}/bot"

    # -- bots and users --------------------------------------------------------------------------
    def add_bot(self, token: str, *, username: str, first_name: str = "Bot") -> BotIdentity:
        """Register another bot token on the same server."""
        bot_id_of(token)  # validates the shape
        identity = BotIdentity(token, username, first_name)
        flood = FloodGate(self.limits) if self.limits is not None else None
        state = self._bots[token] = BotState(identity, self._clock, self._users, flood)
        state.started.update(self._started_everywhere)
        if self._session is not None:
            self._start_delivery(token)
        return identity

    def _start_delivery(self, token: str) -> None:
        assert self._session is not None
        delivery = WebhookDelivery(self._bots[token], self._session, self._webhook_retry_delay)
        delivery.start()
        self._deliveries[token] = delivery

    def bot_identity(self, bot: str | None = None) -> BotIdentity:
        return self._state(bot).identity

    def _state(self, bot: str | None) -> BotState:
        try:
            return self._bots[bot or self.token]
        except KeyError:
            raise KeyError(f"no bot with token {bot!r} on this emulator") from None

    def user(
        self,
        user_id: int,
        first_name: str = "測試",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hant",
        started: bool = False,
    ) -> ChatUser:
        """A user with a private chat. The bot may write first only if ``started`` (or once they wrote)."""
        user = ChatUser(user_id, first_name, last_name, username, language_code)
        self._users[user_id] = user
        if started:
            self._started_everywhere.add(user_id)
            for state in self._bots.values():
                state.started.add(user_id)
        return user

    def block(self, user: ChatUser, *, bot: str | None = None) -> None:
        """The user blocks the bot: sends answer 403 Forbidden until ``unblock``."""
        self._state(bot).blocked.add(user.id)

    def unblock(self, user: ChatUser, *, bot: str | None = None) -> None:
        self._state(bot).blocked.discard(user.id)

    def forget_chat(self, user: ChatUser, *, bot: str | None = None) -> None:
        """Make sends to this user fail with 400 chat not found again (as if they never wrote)."""
        self._state(bot).started.discard(user.id)

    # -- injecting updates -----------------------------------------------------------------------
    def _inject(
        self, user: ChatUser, kind: str, body: JSON, bot: str | None, *, stale: bool = False
    ) -> InjectedUpdate:
        self._users.setdefault(user.id, user)
        update = self._state(bot).enqueue(kind, body, user, mark=len(self._log.calls))
        update.stale_button = stale
        self._log.record_update(update)
        return update

    def _user_message(self, user: ChatUser, bot: str | None, content: JSON, reply_to: int | None) -> JSON:
        state = self._state(bot)
        chat = state.chat_for(user)
        message: JSON = {
            "message_id": chat.take_message_id(),
            "from": user.to_api(),
            "chat": user.private_chat(),
            "date": state.now(),
            **content,
        }
        if reply_to is not None:
            original = chat.messages.get(reply_to)
            if original is None:
                raise LookupError(f"no message {reply_to} in chat {user.id} to reply to")
            message["reply_to_message"] = {k: v for k, v in original.items() if k != "reply_to_message"}
        chat.messages[message["message_id"]] = message
        return message

    async def send_text(
        self, user: ChatUser, text: str, *, reply_to: int | None = None, bot: str | None = None
    ) -> InjectedUpdate:
        """The user sends ``text`` (optionally as a reply); ``/commands`` carry ``bot_command`` entities."""
        return self._inject(user, "message", self._user_message(user, bot, text_content(text), reply_to), bot)

    async def send_sticker(
        self, user: ChatUser, emoji: str = "🙂", *, bot: str | None = None
    ) -> InjectedUpdate:
        return self._inject(user, "message", self._user_message(user, bot, sticker_content(emoji), None), bot)

    async def send_photo(
        self, user: ChatUser, caption: str | None = None, *, bot: str | None = None
    ) -> InjectedUpdate:
        return self._inject(user, "message", self._user_message(user, bot, photo_content(caption), None), bot)

    async def send_voice(
        self, user: ChatUser, duration: int = 5, *, bot: str | None = None
    ) -> InjectedUpdate:
        return self._inject(
            user, "message", self._user_message(user, bot, voice_content(duration), None), bot
        )

    async def edit_text(
        self, user: ChatUser, message_id: int, text: str, *, bot: str | None = None
    ) -> InjectedUpdate:
        """The user edits one of their messages: an ``edited_message`` update."""
        state = self._state(bot)
        message = state.chat_for(user).messages.get(message_id)
        if message is None or message.get("from", {}).get("id") != user.id:
            raise LookupError(f"user {user.id} has no message {message_id}")
        message["text"], message["edit_date"] = text, state.now()
        message.pop("entities", None)
        message.update(text_content(text))
        return self._inject(user, "edited_message", dict(message), bot)

    async def press_button(
        self, user: ChatUser, message_id: int, data: str | None = None, *, label: str | None = None,
        bot: str | None = None,
    ) -> InjectedUpdate:  # fmt: skip
        """The user presses an inline button (by callback ``data`` or by its ``label``).

        Data that is not on the message's current keyboard is still delivered, as Telegram does for
        stale buttons, and the press is recorded in ``stale_presses``.
        """
        state = self._state(bot)
        chat = state.chats.get(user.id)
        message = chat.messages.get(message_id) if chat else None
        if message is None or message.get("from", {}).get("id") != state.identity.id:
            raise LookupError(f"the bot has no message {message_id} in chat {user.id}")
        if label is not None:
            rows = inline_buttons(message.get("reply_markup"))
            match = [b for row in rows for b in row if b.text == label]
            if not match or match[0].callback_data is None:
                raise LookupError(f"no callback button labelled {label!r} on message {message_id}")
            data = match[0].callback_data
        if data is None:
            raise ValueError("press_button needs data or label")
        query_id = f"{state.identity.id}{state.next_callback_id:08d}"
        state.next_callback_id += 1
        state.callback_queries[query_id] = False
        body: JSON = {
            "id": query_id,
            "from": user.to_api(),
            "message": dict(message),
            "chat_instance": str(zlib.crc32(f"{state.identity.id}:{user.id}".encode())),
            "data": data,
        }
        stale = data not in callback_data_of(message.get("reply_markup"))
        return self._inject(user, "callback_query", body, bot, stale=stale)

    async def inject(
        self, user: ChatUser, kind: str, body: JSON, *, bot: str | None = None
    ) -> InjectedUpdate:
        """Escape hatch: enqueue any update ``{kind: body}`` (``update_id`` is assigned)."""
        return self._inject(user, kind, body, bot)

    # -- faults ----------------------------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        *,
        times: int = 1,
        status: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
        bot: str | None = None,
        chat_id: int | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (to ``chat_id`` only, when given) with an error
        (e.g. 429 + ``retry_after``)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        description = description or default_fault_description(status, retry_after)
        fault = Fault(status, description, retry_after, chat_id)
        self._state(bot).add_fault(canonical_name(method) or method, fault, times)

    # -- inspection ------------------------------------------------------------------------------
    @property
    def calls(self) -> Sequence[BotCall]:
        """Every Bot API call answered so far, in order (``getUpdates`` included)."""
        return self._log.calls

    @property
    def refusals(self) -> list[BotCall]:
        """Calls refused by the flood limits (429), in order; injected faults are not among them."""
        return [c for c in self._log.calls if c.limited]

    @property
    def updates(self) -> Sequence[InjectedUpdate]:
        return self._log.updates

    @property
    def stale_presses(self) -> Sequence[InjectedUpdate]:
        """Button presses whose data was not on the message's current keyboard."""
        return self._log.stale_presses

    def mark(self) -> int:
        """A cursor into ``calls``: pass as ``since=`` to look only at later calls."""
        return len(self._log.calls)

    def calls_to(self, chat_id: int, method: str | None = None, *, since: int = 0) -> list[BotCall]:
        return [
            c
            for c in self._log.calls[since:]
            if c.chat_id == chat_id and (method is None or c.method == method)
        ]

    def messages_to(self, chat_id: int, *, bot: str | None = None) -> list[BotMessage]:
        """The bot's messages in a chat, oldest first, as they are now (edits applied, deletions gone)."""
        chat = self._state(bot).chats.get(chat_id)
        if chat is None:
            return []
        return [_snapshot(chat_id, chat.messages[i]) for i in chat.bot_message_ids if i in chat.messages]

    def message(self, chat_id: int, message_id: int, *, bot: str | None = None) -> BotMessage | None:
        found = self._state(bot).find_message(chat_id, message_id)
        return _snapshot(chat_id, found) if found is not None else None

    def commands(
        self, *, scope: JSON | None = None, language_code: str = "", bot: str | None = None
    ) -> list[JSON]:
        return get_my_commands(self._state(bot), {"scope": scope, "language_code": language_code})

    def webhook_info(self, *, bot: str | None = None) -> JSON:
        return get_webhook_info(self._state(bot), {})

    def pending_update_count(self, *, bot: str | None = None) -> int:
        return len(self._state(bot).pending)

    def webhook_stats(self, *, bot: str | None = None, reset_max: bool = False) -> WebhookStats:
        """Webhook deliveries in flight now, the most at once so far, connections, successes and
        failures (``reset_max``: start counting the most at once afresh, after this reading)."""
        delivery = self._deliveries.get(self._state(bot).identity.token)
        if delivery is None:
            return WebhookStats(0, 0, 0, 0, 0)
        stats = delivery.stats()
        if reset_max:
            delivery.reset_max()
        return stats

    # -- waiting and following -------------------------------------------------------------------
    def _since(self, since: Since) -> int:
        if since is None:
            return self._log.last_injection_mark
        return since.mark if isinstance(since, InjectedUpdate) else since

    async def wait_for(
        self,
        predicate: CallPredicate | None = None,
        *,
        method: str | None = None,
        chat_id: int | None = None,
        since: Since = None,
        timeout: float = 5.0,
    ) -> BotCall:
        """The first call after ``since`` matching all of ``predicate``, ``method`` and ``chat_id``.

        ``since`` is a ``mark()``, an injected update (its mark) or None: the mark of the latest
        injected update. Calls that already happened after it count. Raises ``TimeoutError`` listing
        the recent calls.
        """
        return (
            await self.wait_for_all(
                predicate, 1, method=method, chat_id=chat_id, since=since, timeout=timeout
            )
        )[0]

    async def wait_for_all(
        self,
        predicate: CallPredicate | None,
        count: int,
        *,
        method: str | None = None,
        chat_id: int | None = None,
        since: Since = None,
        timeout: float = 5.0,
    ) -> list[BotCall]:
        """The first ``count`` calls after ``since`` matching, as ``wait_for``."""

        def matches(call: BotCall) -> bool:
            return (
                (method is None or call.method == method)
                and (chat_id is None or call.chat_id == chat_id)
                and (predicate is None or predicate(call))
            )

        return await self._log.wait(matches, count, self._since(since), timeout)

    async def wait_for_reply(
        self,
        user: ChatUser,
        *,
        since: Since = None,
        timeout: float = 5.0,
    ) -> BotCall:
        """The next successful message the bot sent to ``user`` (sendMessage, copyMessage, forwardMessage)."""
        return await self.wait_for(
            lambda c: c.ok and c.method in _REPLY_METHODS, chat_id=user.id, since=since, timeout=timeout
        )

    async def wait_polling(self, *, bot: str | None = None, timeout: float = 5.0) -> None:
        """Return once the bot is waiting in a ``getUpdates`` long poll (i.e. it is up and idle)."""
        try:
            await asyncio.wait_for(self._state(bot).wait_polling(), timeout)
        except TimeoutError:
            raise TimeoutError(f"no getUpdates long poll within {timeout:g} s") from None

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every later update and call; returns the unsubscribe function."""
        return self._log.subscribe(callback)

    def events(self) -> EventStream:
        """An async iterator over every later event; use with ``async with``."""
        return EventStream(self._log)


def _snapshot(chat_id: int, message: JSON) -> BotMessage:
    text = message.get("text", message.get("caption"))
    return BotMessage(
        chat_id=chat_id,
        message_id=int(message["message_id"]),
        text=text if isinstance(text, str) else None,
        reply_markup=message.get("reply_markup"),
        date=int(message.get("date", 0)),
        edit_date=message.get("edit_date"),
    )
