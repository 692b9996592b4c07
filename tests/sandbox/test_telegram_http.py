"""The emulator's raw HTTP surface (JSON, form and multipart bodies, long polling) and its text formatting."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from hotline.sandbox import TelegramEmulator
from hotline.sandbox.telegram_format import parse_formatted
from hotline.sandbox.telegram_model import ApiError

KEYBOARD = {"inline_keyboard": [[{"text": "好", "callback_data": "ok"}]]}


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(token="123:ABC", limits=None) as emulator:
        emulator.user(1001, "小美", started=True)
        yield emulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, url: str, *, json_body: Any = None, data: Any = None
) -> tuple[int, dict[str, Any]]:
    async with http.post(url, json=json_body, data=data) as response:
        return response.status, await response.json()


async def test_json_body_with_objects_or_json_encoded_objects(
    emu: TelegramEmulator, http: aiohttp.ClientSession
) -> None:
    url = f"{emu.base_url}{emu.token}/sendMessage"
    status, body = await call(http, url, json_body={"chat_id": 1001, "text": "123", "reply_markup": KEYBOARD})
    assert status == 200 and body["ok"]
    assert body["result"]["text"] == "123" and body["result"]["reply_markup"] == KEYBOARD
    encoded = {"chat_id": 1001, "text": "再一次", "reply_markup": json.dumps(KEYBOARD)}
    status, body = await call(http, url, json_body=encoded)
    assert status == 200 and body["result"]["reply_markup"] == KEYBOARD
    assert emu.calls[-1].params["reply_markup"] == KEYBOARD and emu.calls[-1].chat_id == 1001


async def test_form_and_multipart_bodies_are_decoded(
    emu: TelegramEmulator, http: aiohttp.ClientSession
) -> None:
    url = f"{emu.base_url}{emu.token}/sendMessage"
    form = {
        "chat_id": "1001",
        "text": "0042",
        "reply_markup": json.dumps(KEYBOARD),
        "disable_notification": "true",
    }
    status, body = await call(http, url, data=form)
    assert status == 200 and body["result"]["text"] == "0042"
    assert emu.calls[-1].params == {
        "chat_id": 1001,
        "text": "0042",
        "reply_markup": KEYBOARD,
        "disable_notification": True,
    }
    multipart = aiohttp.FormData()
    multipart.add_field("chat_id", "1001")
    multipart.add_field("text", "附件")
    multipart.add_field("document", b"%PDF-1.4", filename="a.pdf", content_type="application/pdf")
    status, body = await call(http, url, data=multipart)
    assert status == 200 and body["result"]["text"] == "附件"
    assert emu.calls[-1].params["document"] == {"uploaded_file": "a.pdf", "content_type": "application/pdf"}


async def test_query_string_and_case_insensitive_method(
    emu: TelegramEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{emu.base_url}{emu.token}/getme") as response:
        body = await response.json()
    assert body == {
        "ok": True,
        "result": {
            "id": 123,
            "is_bot": True,
            "first_name": "7858 請幫我吧",
            "username": "hotline_sandbox_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        },
    }
    assert emu.calls[-1].method == "getMe"


@pytest.mark.parametrize(
    ("path", "status", "description"),
    [
        ("/bot123:ABC/noSuchMethod", 404, "Not Found: method not found"),
        ("/bot999:WRONG/getMe", 401, "Unauthorized"),
        ("/botnot-a-token/getMe", 404, "Not Found"),
        ("/somewhere/else", 404, "Not Found"),
    ],
)
async def test_unknown_method_and_bad_tokens(
    emu: TelegramEmulator, http: aiohttp.ClientSession, path: str, status: int, description: str
) -> None:
    got_status, body = await call(http, emu.api_url + path, json_body={})
    assert (got_status, body) == (status, {"ok": False, "error_code": status, "description": description})


async def test_bad_json_and_missing_text(emu: TelegramEmulator, http: aiohttp.ClientSession) -> None:
    url = f"{emu.base_url}{emu.token}/sendMessage"
    async with http.post(url, data=b"{nope", headers={"Content-Type": "application/json"}) as response:
        assert response.status == 400
    status, body = await call(http, url, json_body={"chat_id": 1001})
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")


async def test_injected_429_carries_retry_after(emu: TelegramEmulator, http: aiohttp.ClientSession) -> None:
    emu.fail_next("sendMessage", status=429, retry_after=5)
    status, body = await call(
        http, f"{emu.base_url}{emu.token}/sendMessage", json_body={"chat_id": 1001, "text": "x"}
    )
    assert status == 429
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 5",
        "parameters": {"retry_after": 5},
    }


async def test_long_poll_waits_for_an_update_and_answers_at_once(
    emu: TelegramEmulator, http: aiohttp.ClientSession
) -> None:
    url = f"{emu.base_url}{emu.token}/getUpdates"
    started = time.monotonic()
    assert await call(http, url, json_body={"timeout": 0}) == (200, {"ok": True, "result": []})
    poll = asyncio.create_task(call(http, url, json_body={"timeout": 30}))
    await emu.wait_polling()
    alice = emu.user(1001, "小美")
    update = await emu.send_text(alice, "在嗎")
    status, body = await asyncio.wait_for(poll, 5)
    assert status == 200 and [u["update_id"] for u in body["result"]] == [update.update_id]
    assert time.monotonic() - started < 5
    # not confirmed yet: returned again; then offset confirms it
    assert len((await call(http, url, json_body={"timeout": 0}))[1]["result"]) == 1
    status, body = await call(http, url, json_body={"offset": update.update_id + 1, "timeout": 0})
    assert body["result"] == [] and emu.pending_update_count() == 0


async def test_limit_negative_offset_and_allowed_updates(
    emu: TelegramEmulator, http: aiohttp.ClientSession
) -> None:
    url = f"{emu.base_url}{emu.token}/getUpdates"
    alice = emu.user(1001, "小美")
    sent = [await emu.send_text(alice, str(i)) for i in range(5)]
    _, body = await call(http, url, data={"limit": "2", "timeout": "0"})
    assert [u["message"]["text"] for u in body["result"]] == ["0", "1"]
    _, body = await call(http, url, json_body={"offset": -2, "timeout": 0})
    assert [u["update_id"] for u in body["result"]] == [sent[3].update_id, sent[4].update_id]
    _, body = await call(http, url, json_body={"timeout": 0, "allowed_updates": ["callback_query"]})
    assert body["result"] == [] and emu.pending_update_count() == 0


async def test_a_newer_poll_ends_the_older_with_conflict(
    emu: TelegramEmulator, http: aiohttp.ClientSession
) -> None:
    url = f"{emu.base_url}{emu.token}/getUpdates"
    older = asyncio.create_task(call(http, url, json_body={"timeout": 30}))
    await emu.wait_polling()
    assert await call(http, url, json_body={"timeout": 0}) == (200, {"ok": True, "result": []})
    status, body = await asyncio.wait_for(older, 5)
    assert status == 409 and body["description"].startswith(
        "Conflict: terminated by other getUpdates request"
    )


async def test_close_ends_waiting_polls() -> None:
    async with aiohttp.ClientSession() as http:
        emu = TelegramEmulator(token="123:ABC")
        await emu.start()
        poll = asyncio.create_task(
            call(http, f"{emu.base_url}{emu.token}/getUpdates", json_body={"timeout": 30})
        )
        await emu.wait_polling()
        started = time.monotonic()
        await emu.close()
        assert await asyncio.wait_for(poll, 5) == (200, {"ok": True, "result": []})
        assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("mode", "source", "text", "entities"),
    [
        (None, "<b>x</b>", "<b>x</b>", []),
        ("HTML", "<b>粗</b>與<i>斜</i>", "粗與斜", [{"type": "bold", "offset": 0, "length": 1},
                                                {"type": "italic", "offset": 2, "length": 1}]),
        ("HTML", "😀 <a href='https://1925.tw'>1925</a> &lt;3", "😀 1925 <3",
         [{"type": "text_link", "offset": 3, "length": 4, "url": "https://1925.tw"}]),
        ("HTML", "<b><i>兩</i></b>", "兩", [{"type": "bold", "offset": 0, "length": 1},
                                          {"type": "italic", "offset": 0, "length": 1}]),
        ("MarkdownV2", "*撥* 1925\\.", "撥 1925.", [{"type": "bold", "offset": 0, "length": 1}]),
        ("MarkdownV2", "`a.b` [連結](https://x.tw)", "a.b 連結", [{"type": "code", "offset": 0, "length": 3},
            {"type": "text_link", "offset": 4, "length": 2, "url": "https://x.tw"}]),
        ("Markdown", "*b* 1.5", "b 1.5", [{"type": "bold", "offset": 0, "length": 1}]),
    ],
)  # fmt: skip
def test_parse_modes(mode: str | None, source: str, text: str, entities: list[dict[str, Any]]) -> None:
    assert parse_formatted(source, mode) == (text, entities)


@pytest.mark.parametrize(
    ("mode", "source", "error"),
    [
        ("HTML", "<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("HTML", "<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("HTML", "<b>x</i>", "Unmatched end tag"),
        ("HTML", "1 < 2", "Can't find end of the tag"),
        ("MarkdownV2", "結束.", "Character '.' is reserved"),
        ("MarkdownV2", "*粗", "Can't find end of Bold entity"),
        ("Markdown", "_斜", "Can't find end of Italic entity"),
    ],
)
def test_parse_errors_are_worded_like_telegram(mode: str, source: str, error: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_formatted(source, mode)
    assert raised.value.status == 400
    assert raised.value.description.startswith("Bad Request: can't parse entities: ")
    assert error in raised.value.description
