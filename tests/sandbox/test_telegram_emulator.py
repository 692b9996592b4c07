"""The Telegram Bot API emulator driven by the real python-telegram-bot Application (polling and webhook)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from hotline.sandbox import BotCall, EmulatorEvent, InjectedUpdate, TelegramEmulator

Context = ContextTypes.DEFAULT_TYPE
Callback = Callable[[Update, Context], Coroutine[Any, Any, None]]


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(token="123:ABC", webhook_retry_delay=0.01, limits=None) as emulator:
        yield emulator


def build_app(emu: TelegramEmulator) -> Application[Any, Any, Any, Any, Any, Any]:
    return ApplicationBuilder().token(emu.token).base_url(emu.base_url).build()


@contextlib.asynccontextmanager
async def polling(
    app: Application[Any, Any, Any, Any, Any, Any],
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """Run the application's updater like ``run_polling`` would, without blocking or signal handlers."""
    assert app.updater is not None
    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=10)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


async def welcome(update: Update, context: Context) -> None:
    assert update.message is not None
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("我同意", callback_data="accept"),
                InlineKeyboardButton("不要", callback_data="no"),
            ]
        ]
    )
    await update.message.reply_text(
        "<b>歡迎</b>，請先閱讀保密說明。", parse_mode="HTML", reply_markup=keyboard
    )


async def echo(update: Update, context: Context) -> None:
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(f"收到：{update.message.text}")


async def on_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("謝謝")
    await query.edit_message_text(f"你選了 {query.data}")


def echo_app(emu: TelegramEmulator) -> Application[Any, Any, Any, Any, Any, Any]:
    app = build_app(emu)
    app.add_handler(CommandHandler("start", welcome))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(CallbackQueryHandler(on_button))
    return app


async def test_command_and_text_are_answered(emu: TelegramEmulator) -> None:
    alice = emu.user(1001, first_name="小美", username="mei")
    async with polling(echo_app(emu)):
        start = await emu.send_text(alice, "/start")
        welcome_call = await emu.wait_for_reply(alice, since=start)
        hello = await emu.send_text(alice, "你好")
        echo_call = await emu.wait_for(method="sendMessage", chat_id=alice.id, since=hello)

    assert start.payload["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert welcome_call.text == "歡迎，請先閱讀保密說明。"
    assert welcome_call.message is not None
    assert welcome_call.message["entities"] == [{"type": "bold", "offset": 0, "length": 2}]
    assert welcome_call.message["from"]["id"] == 123 and welcome_call.message["from"]["is_bot"]
    assert welcome_call.button_data == ["accept", "no"]
    assert echo_call.text == "收到：你好"
    # user and bot messages share the chat's increasing message ids
    assert [start.message_id, welcome_call.message_id, hello.message_id, echo_call.message_id] == [1, 2, 3, 4]
    assert [m.text for m in emu.messages_to(alice.id)] == ["歡迎，請先閱讀保密說明。", "收到：你好"]
    assert welcome_call.at >= start.at and start.delivered_at is not None


async def test_non_text_messages_reach_their_handlers(emu: TelegramEmulator) -> None:
    seen: list[str] = []

    async def kind(update: Update, context: Context) -> None:
        message = update.message
        assert message is not None
        seen.append("sticker" if message.sticker else "photo" if message.photo else "voice")
        await message.reply_text("請用文字告訴我們")

    app = build_app(emu)
    app.add_handler(MessageHandler(filters.Sticker.ALL | filters.PHOTO | filters.VOICE, kind))
    bob = emu.user(1002, "阿明")
    async with polling(app):
        first = await emu.send_sticker(bob, "😢")
        await emu.send_photo(bob, caption="看這個")
        await emu.send_voice(bob)
        await emu.wait_for_all(None, 3, method="sendMessage", chat_id=bob.id, since=first)
    assert seen == ["sticker", "photo", "voice"]


async def test_inline_keyboard_callback_answer_and_edit(emu: TelegramEmulator) -> None:
    alice = emu.user(1001, "小美")
    async with polling(echo_app(emu)):
        await emu.send_text(alice, "/start")
        keyboard_message = await emu.wait_for_reply(alice)
        assert keyboard_message.message_id is not None
        press = await emu.press_button(alice, keyboard_message.message_id, "accept")
        answer = await emu.wait_for(method="answerCallbackQuery")
        edit = await emu.wait_for(method="editMessageText")
        # the keyboard is gone now; pressing a stale button is still delivered, and recorded
        stale = await emu.press_button(alice, keyboard_message.message_id, "no")
        await emu.wait_for(method="editMessageText", since=stale)

    assert press.payload["callback_query"]["message"]["message_id"] == keyboard_message.message_id
    assert answer.params["callback_query_id"] == press.callback_query_id and answer.params["text"] == "謝謝"
    assert edit.ok and edit.text == "你選了 accept"
    assert not press.stale_button and stale.stale_button
    assert list(emu.stale_presses) == [stale]
    [current] = emu.messages_to(alice.id)
    assert current.text == "你選了 no" and current.reply_markup is None and current.edit_date is not None


async def test_press_button_by_label_and_unknown_message(emu: TelegramEmulator) -> None:
    alice = emu.user(1001, "小美")
    async with polling(echo_app(emu)):
        await emu.send_text(alice, "/start")
        reply = await emu.wait_for_reply(alice)
        assert reply.message_id is not None
        await emu.press_button(alice, reply.message_id, label="不要")
        edit = await emu.wait_for(method="editMessageText")
        with pytest.raises(LookupError):
            await emu.press_button(alice, 999, "accept")
    assert edit.text == "你選了 no"


async def test_offsets_confirm_updates_and_restart_delivers_what_arrived_meanwhile(
    emu: TelegramEmulator,
) -> None:
    handled: list[int] = []

    async def record(update: Update, context: Context) -> None:
        handled.append(update.update_id)
        await echo(update, context)

    def recording_app() -> Application[Any, Any, Any, Any, Any, Any]:
        app = build_app(emu)
        app.add_handler(MessageHandler(filters.TEXT, record))
        return app

    carol = emu.user(1003, "小華")
    async with polling(recording_app()):
        first = await emu.send_text(carol, "一")
        await emu.send_text(carol, "二")
        await emu.send_text(carol, "三")
        await emu.wait_for_all(None, 3, method="sendMessage", since=first)
    assert emu.pending_update_count() == 0  # confirmed by the final getUpdates at stop

    meanwhile = await emu.send_text(carol, "你們還在嗎")  # the bot is down
    assert emu.pending_update_count() == 1
    async with polling(recording_app()):
        reply = await emu.wait_for_reply(carol, since=meanwhile)
        await emu.wait_polling()
    assert reply.text == "收到：你們還在嗎"
    assert handled == [u.update_id for u in emu.updates] and len(set(handled)) == 4


async def test_webhook_delivery_with_secret_retries_and_polling_conflict(emu: TelegramEmulator) -> None:
    received: asyncio.Queue[tuple[dict[str, Any], str | None]] = asyncio.Queue()
    statuses = [500]  # the first delivery fails, later ones succeed

    async def hook(request: web.Request) -> web.Response:
        await received.put((await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        return web.Response(status=statuses.pop() if statuses else 200)

    server = web.Application()
    server.router.add_post("/hook", hook)
    runner = web.AppRunner(server)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    alice = emu.user(1001, "小美")
    try:
        async with Bot(emu.token, base_url=emu.base_url) as bot:
            assert await bot.set_webhook(url, secret_token="s3cret-Token")
            with pytest.raises(Conflict, match="webhook is active"):
                await bot.get_updates(timeout=0)
            first = await emu.send_text(alice, "第一則")
            failed, secret = await asyncio.wait_for(received.get(), 5)
            retried, _ = await asyncio.wait_for(received.get(), 5)
            second = await emu.send_text(alice, "第二則")
            after, _ = await asyncio.wait_for(received.get(), 5)
            info = await bot.get_webhook_info()

            assert secret == "s3cret-Token"
            assert failed["update_id"] == retried["update_id"] == first.update_id
            assert failed["message"]["text"] == "第一則" and after["update_id"] == second.update_id
            assert (
                info.url == url and info.last_error_message is not None and "500" in info.last_error_message
            )
            assert first.delivered_at is not None

            assert await bot.delete_webhook(drop_pending_updates=True)
            assert await bot.get_updates(timeout=0) == ()
            third = await emu.send_text(alice, "第三則")
            [update] = await bot.get_updates(timeout=0)
            assert update.update_id == third.update_id and update.message is not None
            assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
    finally:
        await runner.cleanup()


async def test_bot_api_errors_as_telegram_words_them(emu: TelegramEmulator) -> None:
    alice = emu.user(1001, "小美")
    stranger = emu.user(2002, "陌生人")
    async with Bot(emu.token, base_url=emu.base_url) as bot:
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await bot.send_message(stranger.id, "hi")
        await emu.send_text(alice, "hi")  # now the chat exists
        sent = await bot.send_message(alice.id, "原文")
        with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
            await bot.edit_message_text("x", chat_id=alice.id, message_id=999)
        with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
            await bot.edit_message_text("原文", chat_id=alice.id, message_id=sent.message_id)
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(alice.id, "a <3 b", parse_mode="HTML")
        with pytest.raises(BadRequest, match=r"(?i)reserved"):
            await bot.send_message(alice.id, "1.5", parse_mode="MarkdownV2")
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await bot.answer_callback_query("nope")
        emu.block(alice)
        with pytest.raises(Forbidden, match=r"(?i)blocked"):
            await bot.send_message(alice.id, "hi")


async def test_wrong_token_is_unauthorized(emu: TelegramEmulator) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=emu.base_url):
            pass


@pytest.fixture
def ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt in to PTB 22's timedelta ``retry_after``; otherwise building RetryAfter warns (an error here)."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.mark.usefixtures("ptb_timedelta")
async def test_fault_injection(emu: TelegramEmulator) -> None:
    alice = emu.user(1001, "小美", started=True)
    async with Bot(emu.token, base_url=emu.base_url) as bot:
        emu.fail_next("sendMessage", status=429, retry_after=7)
        with pytest.raises(RetryAfter) as flood:
            await bot.send_message(alice.id, "one")
        assert flood.value.retry_after == dt.timedelta(seconds=7)
        emu.fail_next("sendmessage", times=2, status=500)
        for _ in range(2):
            with pytest.raises(NetworkError, match="Internal Server Error"):
                await bot.send_message(alice.id, "two")
        assert (await bot.send_message(alice.id, "three")).text == "three"
    faults = [c for c in emu.calls if c.injected]
    assert [c.status for c in faults] == [429, 500, 500]


async def test_a_fault_for_one_chat_leaves_the_others_alone(emu: TelegramEmulator) -> None:
    alice, bob = emu.user(1001, "小美", started=True), emu.user(1002, "阿傑", started=True)
    async with Bot(emu.token, base_url=emu.base_url) as bot:
        emu.fail_next("sendMessage", status=500, chat_id=bob.id)
        assert (await bot.send_message(alice.id, "to alice")).text == "to alice"
        with pytest.raises(NetworkError):
            await bot.send_message(bob.id, "to bob")
        assert (await bot.send_message(bob.id, "again")).text == "again"
    assert [(c.chat_id, c.injected) for c in emu.calls if c.method == "sendMessage"] == [
        (alice.id, False),
        (bob.id, True),
        (bob.id, False),
    ]


@pytest.mark.usefixtures("ptb_timedelta")
async def test_handler_errors_reach_the_application_error_handler(emu: TelegramEmulator) -> None:
    errors: asyncio.Queue[object] = asyncio.Queue()

    async def on_error(update: object, context: Context) -> None:
        await errors.put(context.error)

    app = echo_app(emu)
    app.add_error_handler(on_error)
    alice = emu.user(1001, "小美")
    emu.fail_next("sendMessage", status=429, retry_after=3)
    async with polling(app):
        await emu.send_text(alice, "你好")
        error = await asyncio.wait_for(errors.get(), 5)
        await emu.send_text(alice, "再一次")
        reply = await emu.wait_for_reply(alice)
    assert isinstance(error, RetryAfter)
    assert reply.text == "收到：再一次"


async def test_copy_forward_reply_and_commands(emu: TelegramEmulator) -> None:
    alice = emu.user(1001, "小美")
    counselor = emu.user(9001, "王心理師", started=True)
    said = await emu.send_text(alice, "我最近很累")
    assert said.message_id is not None
    async with Bot(emu.token, base_url=emu.base_url) as bot:
        copy_id = await bot.copy_message(counselor.id, from_chat_id=alice.id, message_id=said.message_id)
        forwarded = await bot.forward_message(counselor.id, from_chat_id=alice.id, message_id=said.message_id)
        replied = await bot.send_message(alice.id, "我們在", reply_to_message_id=said.message_id)
        with pytest.raises(BadRequest, match=r"(?i)message to copy not found"):
            await bot.copy_message(counselor.id, from_chat_id=alice.id, message_id=77)
        assert await bot.send_chat_action(alice.id, "typing")
        assert await bot.set_my_commands([("start", "開始"), ("help", "說明")])
        commands = await bot.get_my_commands()
        assert await bot.delete_my_commands()
        assert await bot.get_my_commands() == ()
    assert [m.text for m in emu.messages_to(counselor.id)] == ["我最近很累", "我最近很累"]
    assert copy_id.message_id == 1 and forwarded.forward_origin is not None
    assert replied.reply_to_message is not None and replied.reply_to_message.text == "我最近很累"
    assert [(c.command, c.description) for c in commands] == [("start", "開始"), ("help", "說明")]


async def test_wait_for_times_out_with_the_recent_calls(emu: TelegramEmulator) -> None:
    alice = emu.user(1001, "小美", started=True)
    async with Bot(emu.token, base_url=emu.base_url) as bot:
        await bot.send_message(alice.id, "不是你要的")
    with pytest.raises(TimeoutError, match=r"(?s)within 0.05 s.*sendMessage chat=1001 '不是你要的'"):
        await emu.wait_for(method="editMessageText", since=0, timeout=0.05)


async def test_wait_for_finds_a_call_that_already_happened(emu: TelegramEmulator) -> None:
    alice = emu.user(1001, "小美", started=True)
    before = emu.mark()
    async with Bot(emu.token, base_url=emu.base_url) as bot:
        await bot.send_message(alice.id, "一")
        after_first = emu.mark()
        await bot.send_message(alice.id, "二")
    assert (await emu.wait_for(method="sendMessage", since=before, timeout=0)).text == "一"
    assert (await emu.wait_for(method="sendMessage", since=after_first, timeout=0)).text == "二"
    assert [c.text for c in emu.calls_to(alice.id, "sendMessage")] == ["一", "二"]


async def test_events_show_both_sides_live(emu: TelegramEmulator) -> None:
    alice = emu.user(1001, "小美")
    seen: list[EmulatorEvent] = []
    unsubscribe = emu.subscribe(seen.append)
    async with emu.events() as stream, polling(echo_app(emu)):
        await emu.send_text(alice, "哈囉")
        async for event in stream:
            if isinstance(event, BotCall) and event.method == "sendMessage":
                break
    unsubscribe()
    conversation = [
        e.text
        for e in seen
        if isinstance(e, InjectedUpdate) or (isinstance(e, BotCall) and e.method == "sendMessage")
    ]
    assert conversation == ["哈囉", "收到：哈囉"]


async def test_second_bot_on_the_same_emulator(emu: TelegramEmulator) -> None:
    identity = emu.add_bot("777:SECOND", username="second_bot", first_name="二號")
    alice = emu.user(1001, "小美")
    update = await emu.send_text(alice, "/start", bot=identity.token)
    async with Bot(identity.token, base_url=emu.base_url) as bot:
        me = await bot.get_me()
        [got] = await bot.get_updates(timeout=0)
    assert (me.id, me.username) == (777, "second_bot")
    assert got.update_id == update.update_id and emu.pending_update_count() == 0
