"""PTB's HTTP exchange on aiohttp (issue 14): what reaches the Bot API is what PTB's httpx request sent,
and failures are PTB's errors. The service end to end runs on it in every Telegram test."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData
from telegram.request._requestparameter import RequestParameter

from hotline.bot.bot_api_http import AiohttpRequest


@dataclass
class Seen:
    method: str
    path: str
    agent: str
    content_type: str
    fields: dict[str, tuple[str | None, bytes]] = field(default_factory=dict)


@dataclass
class Server:
    url: str
    seen: list[Seen]


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    seen: list[Seen] = []

    async def record(request: web.Request) -> web.Response:
        got = Seen(request.method, request.path, request.headers["User-Agent"], request.content_type)
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                got.fields[part.name or ""] = (part.filename, await part.read())  # type: ignore[union-attr]
        else:
            for name, value in (await request.post()).items():
                got.fields[name] = (None, str(value).encode())
        seen.append(got)
        if request.path.endswith("/slow"):
            await asyncio.sleep(2)
        if request.path.endswith("/busy"):
            body = b'{"ok":false,"error_code":429,"parameters":{"retry_after":3}}'
            return web.Response(status=429, body=body, content_type="application/json")
        return web.Response(body=b'{"ok":true,"result":true}', content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Server(f"http://127.0.0.1:{port}", seen)
    finally:
        await runner.cleanup()


def _data(*, with_file: bool) -> RequestData:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("確認", callback_data="ack:HL-ABC123")]])
    parameters = [
        RequestParameter.from_input("chat_id", 2_000_001),
        RequestParameter.from_input("text", "我真的撐不下去了 & 100% = ?"),
        RequestParameter.from_input("reply_markup", markup),
    ]
    if with_file:
        parameters.append(RequestParameter.from_input("document", InputFile(b"\x00bytes", filename="a.txt")))
    return RequestData(parameters)


async def _exchange(request: BaseRequest, url: str, data: RequestData) -> tuple[int, bytes]:
    await request.initialize()
    try:
        return await request.do_request(url, "POST", data)
    finally:
        await request.shutdown()


@pytest.mark.parametrize("with_file", [False, True], ids=["form", "multipart"])
async def test_the_request_is_the_one_httpx_sends(server: Server, with_file: bool) -> None:
    url = f"{server.url}/bot4242:T/sendMessage"
    ours = await _exchange(AiohttpRequest(connection_pool_size=4), url, _data(with_file=with_file))
    theirs = await _exchange(HTTPXRequest(connection_pool_size=4), url, _data(with_file=with_file))
    assert ours == theirs == (200, b'{"ok":true,"result":true}')
    mine, httpx = server.seen
    assert mine.fields == httpx.fields and len(mine.fields) == (4 if with_file else 3)
    assert (mine.method, mine.path, mine.agent, mine.content_type) == (
        httpx.method,
        httpx.path,
        httpx.agent,
        httpx.content_type,
    )


async def test_an_error_answer_is_handed_to_ptb_as_it_came(server: Server) -> None:
    status, body = await _exchange(
        AiohttpRequest(connection_pool_size=1), f"{server.url}/busy", _data(with_file=False)
    )
    assert status == 429 and b"retry_after" in body


async def test_a_slow_answer_times_out(server: Server) -> None:
    request = AiohttpRequest(connection_pool_size=1)
    await request.initialize()
    try:
        with pytest.raises(TimedOut):
            await request.do_request(f"{server.url}/slow", "POST", _data(with_file=False), read_timeout=0.2)
    finally:
        await request.shutdown()


async def test_an_unreachable_api_is_a_network_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nobody listens there
    request = AiohttpRequest(connection_pool_size=1)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.do_request(f"http://127.0.0.1:{port}/x", "POST", None)
        assert not isinstance(caught.value, TimedOut)
    finally:
        await request.shutdown()


async def test_it_must_be_initialized() -> None:
    with pytest.raises(RuntimeError, match="not initialized"):
        await AiohttpRequest(connection_pool_size=1).do_request("http://127.0.0.1:9/x", "POST")


async def test_the_token_never_reaches_an_error_message() -> None:
    request = AiohttpRequest(connection_pool_size=1)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.do_request("http://127.0.0.1:notaport/bot4242:SECRET/getMe", "POST")
        assert "SECRET" not in str(caught.value)
    finally:
        await request.shutdown()
