"""The Telegram adapter: python-telegram-bot Updates in, Bot API calls out.

Everything Telegram-specific lives here (Update objects, chat ids, inline keyboards, callback queries);
the rest of the service speaks of employees, counselors, cases, texts and buttons.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from telegram import Bot as TelegramBot
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, BaseUpdateProcessor, ContextTypes, TypeHandler

from hotline import pause
from hotline.bot import inbox
from hotline.bot.bot_api_http import AiohttpRequest
from hotline.bot.console import Console
from hotline.bot.employee_input import EMPLOYEE_COMMANDS, EmployeeInput
from hotline.bot.runner import EmployeeRunner
from hotline.desk import Desk, Outgoing
from hotline.errors import ChatUnavailable, ConfigError
from hotline.flows.vocabulary import Unsupported
from hotline.pacing import NoPacing, Pacer
from hotline.ports import ButtonRow
from hotline.settings import Settings
from hotline.texts import Texts

if TYPE_CHECKING:
    from hotline.bot.aftercare import Aftercare

log = logging.getLogger(__name__)

MAX_RETRY_WAIT = 5.0
MAX_MESSAGE_CHARS = 4000  # Telegram takes 4096 characters a message
TELEGRAM_CHARS = 4096


# ---- outgoing --------------------------------------------------------------------------------------


def split_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """``text`` in pieces Telegram accepts, cut at line ends where possible."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        parts.append(text)
    return parts


def _markup(buttons: Sequence[ButtonRow]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in buttons]
    )


class TelegramGateway:
    """:class:`~hotline.ports.ChatGateway` over the Bot API; maps PTB errors to :class:`ChatUnavailable`.

    Every message sent or edited first waits for its turn under Telegram's flood limits (``pacer``;
    crisis messages first, ``hotline/pacing.py``)."""

    def __init__(self, bot: TelegramBot, pacer: Pacer | None = None) -> None:
        self.bot = bot
        self.pacer = pacer if pacer is not None else Pacer(NoPacing())
        self.retried = 0  # sends tried again after a 429 (for metrics)

    async def _call(self, what: str, chat_id: int, call: Any, *, granted: bool = False) -> Any:
        # Only a 429 is retried: Telegram guarantees the call was not carried out. Any other failure may
        # have been delivered, and sending twice to a person in distress is worse than once.
        for attempt in range(3):
            if not granted or attempt > 0:  # ``granted``: the caller already holds this chat's turn
                await self.pacer.acquire(chat_id)
            try:
                return await call()
            except RetryAfter as exc:
                after = exc.retry_after
                wait = after.total_seconds() if isinstance(after, timedelta) else float(after)
                if attempt == 2 or wait > MAX_RETRY_WAIT:
                    raise ChatUnavailable(f"Telegram asked to slow down ({what})") from exc
                self.retried += 1
                await self.pacer.hold_off(chat_id, wait)  # other senders to this chat wait too
                await asyncio.sleep(wait)
            except Forbidden as exc:
                raise ChatUnavailable(f"Telegram refused {what}: the user blocked the bot") from exc
            except TelegramError as exc:
                raise ChatUnavailable(f"Telegram could not {what}: {exc.message}") from exc
        raise ChatUnavailable(f"Telegram could not {what}")  # pragma: no cover

    async def send(self, chat_id: int, text: str, buttons: Sequence[ButtonRow] = ()) -> str:
        """Send ``text``; a text longer than Telegram takes goes as several messages, in order, the
        buttons on the last (nothing an employee wrote is cut off on the way to a counselor)."""
        parts = split_text(text)
        message: Message | None = None
        for i, part in enumerate(parts):
            markup = _markup(buttons) if i == len(parts) - 1 else None

            def call(part: str = part, markup: InlineKeyboardMarkup | None = markup) -> Awaitable[Message]:
                return self.bot.send_message(chat_id, part, reply_markup=markup)

            message = await self._call("send a message", chat_id, call)
        assert message is not None
        return str(message.message_id)

    async def send_in_turn(
        self, chat_id: int, messages: Callable[[], Sequence[tuple[str, Sequence[ButtonRow]]]]
    ) -> list[str | None]:
        """:class:`~hotline.ports.ChatGateway.send_in_turn`: ``messages()`` is asked once this chat's
        turn has come (crisis messages grouped while they waited, ``hotline/alert_lanes.py``)."""
        await self.pacer.acquire(chat_id)
        refs: list[str | None] = []
        for i, (text, buttons) in enumerate(messages()):
            markup = _markup(buttons)

            def call(text: str = text, markup: InlineKeyboardMarkup | None = markup) -> Awaitable[Message]:
                return self.bot.send_message(chat_id, text[:TELEGRAM_CHARS], reply_markup=markup)

            try:
                message = await self._call("send a message", chat_id, call, granted=i == 0)
                refs.append(str(message.message_id))
            except ChatUnavailable as exc:
                log.warning("send failed: %s", exc)
                refs.append(None)
        return refs

    async def edit(self, chat_id: int, ref: str, text: str, buttons: Sequence[ButtonRow] = ()) -> None:
        def call() -> Awaitable[Any]:
            return self.bot.edit_message_text(
                text, chat_id=chat_id, message_id=int(ref), reply_markup=_markup(buttons)
            )

        try:
            await self._call("edit a message", chat_id, call)
        except ChatUnavailable as exc:
            if "not modified" not in str(exc):
                raise


# ---- update processing -----------------------------------------------------------------------------


_UNBOUNDED = 1 << 20


class PerChatOrderedProcessor(BaseUpdateProcessor):
    """Bounded concurrency across chats, strict order within a chat (DESIGN §5b).

    A chat's lock is kept while anyone holds it or waits for it (``_users`` counts them): dropping it
    when it is released would let an update that arrives next, while a woken waiter has not yet taken
    the lock, get a fresh lock and run beside that waiter.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        # The bound is this class's own, taken inside the chat's lock (below); the base class's (taken
        # before it, and private) only keeps PTB processing updates concurrently.
        super().__init__(_UNBOUNDED)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}
        # An update awaiting a late screening verdict lets go of its slot meanwhile (hotline.pause),
        # keeping its chat's lock; the chat's next updates wait for that lock without holding a slot, so
        # taking the slot again never waits on them.
        self.bound = max_concurrent_updates
        self._slots = asyncio.Semaphore(max_concurrent_updates)

    async def _bounded(self, coroutine: Awaitable[Any]) -> None:
        try:
            await self._slots.acquire()
        except BaseException:  # cancelled before its turn (a stop): the update's coroutine never runs
            if inspect.iscoroutine(coroutine):
                coroutine.close()
            raise
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self._slots.release()

        async def take() -> None:
            nonlocal held
            await self._slots.acquire()
            held = True

        try:
            with pause.slot(release, take):
                await coroutine
        finally:
            release()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = 0
        if isinstance(update, Update) and update.effective_chat is not None:
            key = update.effective_chat.id
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                await self._bounded(coroutine)
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


def _media_kind(message: Message) -> str:
    for kind in (
        "sticker",
        "photo",
        "voice",
        "video",
        "video_note",
        "audio",
        "document",
        "animation",
        "location",
        "contact",
    ):
        if getattr(message, kind, None):
            return kind
    return "other"


class TelegramFront:
    """Routes each Update: roster members to the console, everyone else to the employee runner."""

    def __init__(
        self,
        settings: Settings,
        desk: Desk,
        runner: EmployeeRunner,
        console: Console,
        aftercare: Aftercare | None = None,
    ) -> None:
        self.roster = {entry.telegram_id for entry in settings.counselors}
        self.desk = desk
        self.runner = runner
        self.console = console
        self.aftercare = aftercare  # issue 7: booking and survey (the employees' input routes to it too)
        self.input = EmployeeInput(desk, runner, aftercare)
        self.processed = 0  # updates handled by this process (for metrics)

    async def on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        self.processed += 1
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return
        if chat.type != "private":
            log.info("ignored an update from a non-private chat")
            return
        if update.callback_query is not None:
            await self._pressed(update, user.id, chat.id)
            return
        message = update.effective_message
        if message is None:
            return
        if user.id in self.roster:
            await self._from_counselor(message, user.id)
        else:
            await self._from_employee(message, user.id, chat.id)

    async def _pressed(self, update: Update, user_id: int, chat_id: int) -> None:
        query = update.callback_query
        assert query is not None
        data = query.data or ""
        answer = ""
        if user_id in self.roster:
            taken = await self._aftercare_pressed(user_id, data)  # issue 7: "bk:" buttons
            answer = taken if taken is not None else await self.console.button(user_id, data)
        else:
            answer = await self.input.pressed(user_id, chat_id, data)
        try:
            await query.answer(answer[:190] or None)
        except TelegramError as exc:
            log.info("could not answer a button press: %s", exc.__class__.__name__)

    async def _from_employee(self, message: Message, user_id: int, chat_id: int) -> None:
        text = message.text or message.caption
        if text is None:
            await self.runner.handle(user_id, chat_id, Unsupported(_media_kind(message)))
        elif message.text and text.startswith("/"):
            await self.input.command(user_id, chat_id, text)
        else:
            await self.runner.said(user_id, chat_id, text)

    async def _from_counselor(self, message: Message, user_id: int) -> None:
        reply_to = message.reply_to_message
        reply_text = (reply_to.text or reply_to.caption) if reply_to is not None else None
        text = message.text
        if text is None:
            await self.desk.deliver([Outgoing(user_id, self.desk.texts.get("counselor.unsupported"))])
        elif text.startswith("/"):
            head, _, args = text[1:].partition(" ")
            name = head.split("@", 1)[0].lower()
            if self.aftercare is None or not await self.aftercare.counselor_command(user_id, name, args):
                await self.console.command(user_id, name, args, reply_text)
        else:
            await self.console.text(user_id, text, reply_text)

    async def _aftercare_pressed(self, user_id: int, data: str) -> str | None:
        """Issue 7: a counselor's booking buttons; the press's answer, or None when not one of theirs."""
        if self.aftercare is None:
            return None
        return await self.aftercare.counselor_button(user_id, data)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        log.error("update failed: %s", error.__class__.__name__, exc_info=error)
        ticket = inbox.note_failure(error)  # webhook mode: the stored update is kept and tried again
        if ticket is not None and (ticket.attempt > 1 or ticket.lost):
            return  # the employee was told on the first failure; a chat taken over is the other's
        if isinstance(update, Update) and update.effective_chat is not None:
            chat_id = update.effective_chat.id
            await self.desk.deliver([Outgoing(chat_id, self.desk.texts.get("error.generic"))])


def build_application(settings: Settings) -> Application[Any, Any, Any, Any, Any, Any]:
    """A PTB Application pointed at the configured Bot API, without handlers yet."""
    assert settings.telegram_token is not None
    api = settings.telegram_api_url
    proxy = settings.telegram_proxy()
    return (
        ApplicationBuilder()
        .token(settings.telegram_token.get_secret_value())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        # PTB's own pool sizes (256 for calls, 1 for getUpdates) and timeouts, on aiohttp (issue 14)
        .request(AiohttpRequest(connection_pool_size=256, proxy=proxy))
        .get_updates_request(AiohttpRequest(connection_pool_size=1, proxy=proxy))
        .concurrent_updates(PerChatOrderedProcessor(settings.telegram.concurrent_updates))
        .build()
    )


async def initialize(app: Application[Any, Any, Any, Any, Any, Any], api_url: str) -> None:
    """Start PTB (it asks getMe): a refused token or an unreachable Bot API is one clear sentence."""
    try:
        await app.initialize()
    except InvalidToken as exc:
        raise ConfigError(
            "Telegram refused the bot token (HOTLINE_TELEGRAM_TOKEN): get a valid one from @BotFather."
        ) from exc
    except TelegramError as exc:
        raise ChatUnavailable(f"cannot reach the Telegram Bot API at {api_url}: {exc.message}") from exc


def attach(app: Application[Any, Any, Any, Any, Any, Any], front: TelegramFront) -> None:
    app.add_handler(TypeHandler(Update, front.on_update))
    app.add_error_handler(front.on_error)


async def announce_commands(bot: TelegramBot, texts: Texts) -> None:
    """The command menu employees see (descriptions from config/)."""
    commands = [BotCommand(name, texts.get(f"commands.{name}")) for name in EMPLOYEE_COMMANDS]
    try:
        await bot.set_my_commands(commands)
    except TelegramError as exc:
        log.warning("could not set the bot's command list: %s", exc.__class__.__name__)
