"""The emulator enforces Telegram's flood limits: per chat, per bot, per group; refusals are recorded.

Rates are chosen slow (a token every 100 s) so that no amount of machine load lets a token come back
during a test: the outcome depends on counts only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from hotline.sandbox import TelegramEmulator
from hotline.sandbox.telegram_limits import REALISTIC, FloodGate, FloodLimits
from hotline.sandbox.telegram_model import ApiError

SLOW = 0.01  # a token every 100 s


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def send(
    http: aiohttp.ClientSession, emu: TelegramEmulator, chat_id: int, text: str
) -> tuple[int, dict]:  # type: ignore[type-arg]
    url = f"{emu.base_url}{emu.token}/sendMessage"
    async with http.post(url, json={"chat_id": chat_id, "text": text}) as response:
        return response.status, await response.json()


async def test_a_chat_takes_a_short_burst_then_429_with_retry_after(http: aiohttp.ClientSession) -> None:
    limits = FloodLimits(per_chat_per_second=SLOW, per_chat_burst=3)
    async with TelegramEmulator(token="123:ABC", limits=limits) as emu:
        emu.user(1001, "小美", started=True)
        emu.user(1002, "阿明", started=True)
        answers = [await send(http, emu, 1001, f"#{i}") for i in range(5)]
        assert [status for status, _ in answers] == [200, 200, 200, 429, 429]
        refused = answers[3][1]
        assert refused["error_code"] == 429 and refused["parameters"]["retry_after"] >= 1
        assert refused["description"].startswith("Too Many Requests: retry after")
        status, _ = await send(http, emu, 1002, "another chat")
        assert status == 200, "the limit is per chat"
        assert [c.params["text"] for c in emu.refusals] == ["#3", "#4"]
        assert all(c.limited and not c.injected for c in emu.refusals)
        assert [m.text for m in emu.messages_to(1001)] == ["#0", "#1", "#2"], "a refused message is not sent"


async def test_the_bot_as_a_whole_is_limited_and_reading_is_not(http: aiohttp.ClientSession) -> None:
    limits = FloodLimits(per_bot_per_second=SLOW, per_bot_burst=2, per_chat_per_second=0)
    async with TelegramEmulator(token="123:ABC", limits=limits) as emu:
        for user_id in (1001, 1002, 1003):
            emu.user(user_id, started=True)
        statuses = [(await send(http, emu, user_id, "hi"))[0] for user_id in (1001, 1002, 1003)]
        assert statuses == [200, 200, 429]
        async with http.post(f"{emu.base_url}{emu.token}/getMe") as response:
            assert response.status == 200
        assert len(emu.refusals) == 1


async def test_injected_429_is_not_a_refusal_and_off_means_off(http: aiohttp.ClientSession) -> None:
    async with TelegramEmulator(token="123:ABC", limits=None) as emu:
        emu.user(1001, started=True)
        emu.fail_next("sendMessage", status=429, retry_after=2)
        statuses = [(await send(http, emu, 1001, f"#{i}"))[0] for i in range(8)]
        assert statuses == [429] + [200] * 7
        assert emu.refusals == [] and emu.calls[0].injected


def test_group_chats_are_limited_per_minute() -> None:
    gate = FloodGate(REALISTIC)
    for _ in range(REALISTIC.per_group_burst):
        gate.admit("sendMessage", -100123, now=0.0)
    with pytest.raises(ApiError) as refused:
        gate.admit("sendMessage", -100123, now=0.0)
    assert refused.value.status == 429 and refused.value.parameters == {"retry_after": 3}
    gate.admit("sendMessage", -100123, now=3.0)  # 20 a minute: one every 3 s
    gate.admit("answerCallbackQuery", -100123, now=3.0)  # not a message
