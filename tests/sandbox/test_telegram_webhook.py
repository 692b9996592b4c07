"""The emulator's webhook delivery behaves like Telegram's Bot API server (``telegram_webhook``): one queue
per chat in order, chats in parallel up to ``max_connections``, a failing chat backed off while the
others go on, a clean stop with requests in flight. A tiny aiohttp receiver on 127.0.0.1 records what
arrives and how many requests it holds at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from hotline.sandbox import ChatUser, TelegramEmulator
from hotline.sandbox.telegram_webhook import queue_key

Answer = Callable[[dict[str, Any]], Awaitable[web.Response]]
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("同意", callback_data="accept")]])


async def ok(_update: dict[str, Any]) -> web.Response:
    return web.Response()


@dataclass
class Attempt:
    update_id: int
    chat: int | None
    at: float
    status: int = 0
    answered_at: float = 0.0


@dataclass
class Receiver:
    """The bot's webhook: each request is answered by ``answer`` (default 200 at once)."""

    answer: Answer = ok
    attempts: list[Attempt] = field(default_factory=list)
    in_flight: int = 0
    most: int = 0
    url: str = ""
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        update = await request.json()
        body = next(v for k, v in update.items() if k != "update_id")
        chat = (body.get("chat") or body.get("message", {}).get("chat") or {}).get("id")
        attempt = Attempt(update["update_id"], chat, time.monotonic())
        self.attempts.append(attempt)
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        self._poke()
        try:
            response = await self.answer(update)
        finally:
            self.in_flight -= 1
        attempt.status, attempt.answered_at = response.status, time.monotonic()
        self._poke()
        return response

    def _poke(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        async def wait() -> None:
            while not condition():
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)

    def delivered(self) -> list[Attempt]:
        return [a for a in self.attempts if 200 <= a.status < 300]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield hook
    await runner.cleanup()


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(token="123:ABC", webhook_retry_delay=0.05, limits=None) as emulator:
        yield emulator


async def set_webhook(emu: TelegramEmulator, url: str, **params: Any) -> None:
    async with Bot(emu.token, base_url=emu.base_url) as bot:
        assert await bot.set_webhook(url, **params)


async def warm_up(emu: TelegramEmulator, receiver: Receiver) -> None:
    """One delivery answered 200: Telegram opens connections quickly only after a recent success."""
    before = len(receiver.delivered())
    await emu.send_text(emu.user(1, "暖身"), "hi")
    await receiver.until(lambda: len(receiver.delivered()) > before)


def by_chat(attempts: list[Attempt]) -> dict[int | None, list[int]]:
    chats: dict[int | None, list[int]] = {}
    for attempt in attempts:
        chats.setdefault(attempt.chat, []).append(attempt.update_id)
    return chats


async def test_per_chat_order_and_exactly_once_under_parallel_delivery(
    emu: TelegramEmulator, receiver: Receiver
) -> None:
    """Updates stored before setWebhook and updates arriving meanwhile each go out once, in order per
    chat, while several chats are delivered at once."""
    gate = asyncio.Event()

    async def slow(_update: dict[str, Any]) -> web.Response:
        await gate.wait()
        return web.Response()

    users = [emu.user(2000 + i, f"員工{i}") for i in range(12)]
    injected: dict[int, list[int]] = {u.id: [] for u in users}

    async def write(round_: int) -> None:
        for user in users:
            injected[user.id].append((await emu.send_text(user, f"第{round_}則")).update_id)

    await write(0)  # before the webhook is set
    await set_webhook(emu, receiver.url)
    await warm_up(emu, receiver)
    receiver.answer = slow
    await write(1)
    await receiver.until(lambda: receiver.in_flight >= 4)  # several chats at once
    await write(2)  # while deliveries are under way
    gate.set()
    await receiver.until(lambda: len(receiver.delivered()) == 1 + 3 * len(users))

    chats = by_chat(receiver.delivered())
    assert all(chats[u.id] == injected[u.id] for u in users)  # each once, in order
    assert receiver.most >= 4 and emu.pending_update_count() == 0
    assert emu.webhook_info()["pending_update_count"] == 0
    assert all(u.delivered_at is not None for u in emu.updates)


async def test_chats_in_parallel_up_to_max_connections_and_never_more(
    emu: TelegramEmulator, receiver: Receiver
) -> None:
    gate = asyncio.Event()

    async def held(_update: dict[str, Any]) -> web.Response:
        await gate.wait()
        return web.Response()

    await set_webhook(emu, receiver.url, max_connections=5)
    await warm_up(emu, receiver)
    receiver.answer = held
    users = [emu.user(3000 + i, f"員工{i}") for i in range(12)]
    for user in users:
        await emu.send_text(user, "一")
        await emu.send_text(user, "二")
    await receiver.until(lambda: receiver.in_flight == 5)
    assert {a.chat for a in receiver.attempts[1:]} <= {u.id for u in users}
    assert len({a.chat for a in receiver.attempts if a.status == 0}) == 5  # five chats, one each
    stats = emu.webhook_stats()
    assert stats.in_flight == 5 and stats.connections == 5
    gate.set()
    await receiver.until(lambda: len(receiver.delivered()) == 1 + 2 * len(users))
    assert receiver.most == 5 and emu.webhook_stats().max_in_flight == 5


async def test_a_failing_chat_is_backed_off_and_holds_back_no_other(
    emu: TelegramEmulator, receiver: Receiver
) -> None:
    """Chat A's update fails until every other chat's updates are in; it is retried (at once, then
    after 2 x and 4 x the back-off unit) and delivered once; its later update follows it in order."""
    alice, others = emu.user(4001, "A"), [emu.user(4100 + i, f"B{i}") for i in range(4)]
    expected = 3 * len(others)

    async def alice_fails_first(update: dict[str, Any]) -> web.Response:
        body = update.get("message", {})
        waiting = len([a for a in receiver.delivered() if a.chat != alice.id]) < expected
        if body.get("chat", {}).get("id") == alice.id and (waiting or alice_attempts() < 4):
            return web.Response(status=500)
        return web.Response()

    def alice_attempts() -> int:
        return len([a for a in receiver.attempts if a.chat == alice.id])

    receiver.answer = alice_fails_first
    await set_webhook(emu, receiver.url)
    first = await emu.send_text(alice, "救命")
    second = await emu.send_text(alice, "還在嗎")
    for n in range(3):
        for user in others:
            await emu.send_text(user, f"第{n}則")
    await receiver.until(lambda: len(receiver.delivered()) == expected + 2)

    tries = [a for a in receiver.attempts if a.chat == alice.id]
    assert [a.update_id for a in tries if a.status == 200] == [first.update_id, second.update_id]
    failed = [a for a in tries if a.status == 500]
    assert len(failed) >= 3 and all(a.update_id == first.update_id for a in failed)
    assert tries[1].at >= failed[0].answered_at  # the first retry goes at once ...
    assert tries[2].at - failed[1].answered_at >= 2 * 0.05  # ... then the wait doubles
    assert tries[3].at - failed[2].answered_at >= 4 * 0.05
    info = emu.webhook_info()
    assert "500" in str(info["last_error_message"]) and info["pending_update_count"] == 0
    assert emu.webhook_stats().failed == len(failed)


async def test_retry_after_from_the_webhook_is_waited_out(emu: TelegramEmulator, receiver: Receiver) -> None:
    answers = [web.Response(status=503, headers={"Retry-After": "1"})]

    async def busy_once(_update: dict[str, Any]) -> web.Response:
        return answers.pop() if answers else web.Response()

    receiver.answer = busy_once
    await set_webhook(emu, receiver.url)
    await emu.send_text(emu.user(5001, "A"), "你好")
    await receiver.until(lambda: len(receiver.delivered()) == 1)
    refused, delivered = receiver.attempts
    assert refused.status == 503 and delivered.at - refused.answered_at >= 1.0


async def test_max_connections_clamped_and_reported(emu: TelegramEmulator, receiver: Receiver) -> None:
    async with Bot(emu.token, base_url=emu.base_url) as bot:
        assert await bot.set_webhook(receiver.url)
        assert (await bot.get_webhook_info()).max_connections == 40
        for given, kept in ((0, 1), (-3, 1), (1, 1), (100, 100), (101, 100), (1000, 100), (17, 17)):
            assert await bot.set_webhook(receiver.url, max_connections=given)
            assert (await bot.get_webhook_info()).max_connections == kept
            assert emu.webhook_info()["max_connections"] == kept


async def test_same_webhook_set_again_keeps_its_last_error(emu: TelegramEmulator, receiver: Receiver) -> None:
    answers = [web.Response(status=502)]

    async def bad_gateway_once(_update: dict[str, Any]) -> web.Response:
        return answers.pop() if answers else web.Response()

    receiver.answer = bad_gateway_once
    await set_webhook(emu, receiver.url, secret_token="s3cret")
    await emu.send_text(emu.user(5101, "A"), "你好")
    await receiver.until(lambda: len(receiver.delivered()) == 1)
    await set_webhook(emu, receiver.url, secret_token="s3cret")  # another worker registers it again
    assert "502" in str(emu.webhook_info().get("last_error_message"))
    await set_webhook(emu, receiver.url, secret_token="s3cret", max_connections=10)  # changed: a new one
    assert "last_error_message" not in emu.webhook_info()


async def test_dropped_updates_queued_behind_one_in_flight_never_go_out(
    emu: TelegramEmulator, receiver: Receiver
) -> None:
    gate = asyncio.Event()

    async def held(_update: dict[str, Any]) -> web.Response:
        await gate.wait()
        return web.Response()

    receiver.answer = held
    alice = emu.user(6001, "A")
    await set_webhook(emu, receiver.url)
    first = await emu.send_text(alice, "一")
    await receiver.until(lambda: receiver.in_flight == 1)
    await emu.send_text(alice, "二")
    await emu.send_text(alice, "三")
    await set_webhook(emu, receiver.url, drop_pending_updates=True)
    assert emu.pending_update_count() == 0
    later = await emu.send_text(alice, "四")
    gate.set()
    await receiver.until(lambda: len(receiver.delivered()) == 2)
    assert [a.update_id for a in receiver.attempts] == [first.update_id, later.update_id]


async def test_a_press_and_a_message_of_one_user_are_separate_queues(
    emu: TelegramEmulator, receiver: Receiver
) -> None:
    """As on Telegram (``Client.cpp``: callback queries are queued per user, apart from messages), a
    button press and the message typed after it may be in flight together."""
    gate = asyncio.Event()

    async def held(_update: dict[str, Any]) -> web.Response:
        await gate.wait()
        return web.Response()

    alice = emu.user(7001, "A")
    async with Bot(emu.token, base_url=emu.base_url) as bot:
        await emu.send_text(alice, "/start")
        sent = await bot.send_message(alice.id, "同意嗎？", reply_markup=KEYBOARD)
        await bot.get_updates(offset=emu.updates[-1].update_id + 1, timeout=0)
        assert await bot.set_webhook(receiver.url)
    await warm_up(emu, receiver)
    receiver.answer = held
    press = await emu.press_button(alice, sent.message_id, "accept")
    message = await emu.send_text(alice, "我想談談")
    await receiver.until(lambda: receiver.in_flight == 2)
    gate.set()
    await receiver.until(lambda: len(receiver.delivered()) == 3)
    assert {a.update_id for a in receiver.delivered()[1:]} == {press.update_id, message.update_id}


def test_queue_keys_follow_the_bot_api_server() -> None:
    user = {"id": 42, "is_bot": False, "first_name": "A"}
    chat = {"id": 42, "type": "private"}
    assert queue_key({"update_id": 1, "message": {"chat": chat, "from": user}}) == 42
    assert queue_key({"update_id": 2, "edited_message": {"chat": chat}}) == 42
    assert queue_key({"update_id": 3, "callback_query": {"from": user, "message": {"chat": chat}}}) == (
        "user", 3, 42,
    )  # fmt: skip
    assert queue_key({"update_id": 4, "inline_query": {"from": user}}) == ("user", 1, 42)
    assert queue_key({"update_id": 5, "poll": {"id": "p1"}}) == queue_key(
        {"update_id": 6, "poll_answer": {"poll_id": "p1", "user": user}}
    )
    assert queue_key({"update_id": 7, "custom": {}}) != queue_key({"update_id": 8, "custom": {}})


async def test_stop_while_deliveries_are_in_flight(receiver: Receiver) -> None:
    """Closing the emulator cancels its requests cleanly: no task left behind, nothing unclosed (a
    warning would fail the test), the undelivered updates still pending."""
    gate = asyncio.Event()

    async def never(_update: dict[str, Any]) -> web.Response:
        await gate.wait()
        return web.Response()

    emu = TelegramEmulator(token="123:ABC", webhook_retry_delay=0.05, limits=None)
    await emu.start()
    try:
        await set_webhook(emu, receiver.url)
        await warm_up(emu, receiver)
        receiver.answer = never
        users: list[ChatUser] = [emu.user(8000 + i, f"員工{i}") for i in range(4)]
        for user in users:
            await emu.send_text(user, "在嗎")
        await receiver.until(lambda: receiver.in_flight == 4)
    finally:
        await emu.close()
    assert emu.pending_update_count() == 4
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("webhook-delivery")]
    gate.set()
