"""Baseline for the LINE channel: a bare line-bot-sdk (v3) echo webhook on the LINE emulator.

``EchoWebhook`` is the SDK's aiohttp echo example in v3 form: an aiohttp server whose ``/callback``
checks ``X-Line-Signature`` with ``WebhookParser``, replies to each text message event with its text
through ``AsyncMessagingApi.reply_message`` and then answers 200 (listening with the same backlog as
hotline's webhook, ``hotline.line.webhook.BACKLOG``). ``drive_first_messages`` is the
load harness for any webhook: it works on an emulator whose webhook URL points anywhere (this echo or
the hotline service), sends each of ``n`` new users' first message at once and waits until every one
of them got a reply or push.

Run: ``.venv/bin/python -m benchmarks.line_echo_baseline [n_users]``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from aiohttp import web
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    ReplyMessageRequest,
    TextMessage,
)
from linebot.v3.webhooks import MessageEvent, TextMessageContent

from benchmarks import deadline
from hotline.line.webhook import BACKLOG
from hotline.sandbox import LineCall, LineEmulator

FIRST_MESSAGE = "你好，我想找人聊聊"


class EchoWebhook:
    """The bare echo bot: ``async with EchoWebhook(api_url, secret, token) as hook: ... hook.url``."""

    def __init__(self, api_url: str, channel_secret: str, access_token: str) -> None:
        self._parser = WebhookParser(channel_secret)
        self._client = AsyncApiClient(Configuration(host=api_url, access_token=access_token))
        self._api = AsyncMessagingApi(self._client)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _callback(self, request: web.Request) -> web.Response:
        signature = request.headers.get("X-Line-Signature", "")
        body = await request.text()
        try:
            events = self._parser.parse(body, signature)
        except InvalidSignatureError:
            return web.Response(status=400, text="Invalid signature")
        for event in events:
            if isinstance(event, MessageEvent) and isinstance(event.message, TextMessageContent):
                await self._api.reply_message(
                    ReplyMessageRequest(
                        reply_token=event.reply_token, messages=[TextMessage(text=event.message.text)]
                    )
                )
        return web.Response(text="OK\n")

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/callback", self._callback)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # The listen backlog of hotline's LINE webhook: with aiohttp's default (128) a burst of 300
        # connections overflows it and the dropped ones come back a second later (TCP's retry), a second
        # that both rows would measure instead of their own work.
        await web.TCPSite(self._runner, "127.0.0.1", 0, backlog=BACKLOG).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/callback"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self._client.close()


@dataclass(frozen=True)
class LoadResult:
    users: int
    seconds: float  # first message sent -> the last user's first answer
    latencies: list[float]  # per user: their message made -> their first answer at the emulator
    senders: tuple[str, ...] = ()  # the users' LINE ids: user ``i`` sent ``texts[i]``

    @property
    def throughput(self) -> float:
        return self.users / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    def line(self, label: str) -> str:
        return (
            f"{label:<10} {self.seconds:6.3f} s  {self.throughput:6.0f} users/s  "
            f"p50 {self.pct(0.5) * 1000:5.0f} ms  p99 {self.pct(0.99) * 1000:5.0f} ms"
        )


async def drive_first_messages(
    emu: LineEmulator,
    n_users: int,
    *,
    text: str = FIRST_MESSAGE,
    texts: Sequence[str] | None = None,
    timeout: float = 300,
) -> LoadResult:
    """``n_users`` new LINE users each send their first message at once to ``emu``'s webhook (whatever
    it is): user ``i`` sends ``texts[i]``, or all of them ``text``; returns when every one has a
    successful reply or push (their first only is counted)."""
    if texts is not None and len(texts) < n_users:
        raise ValueError(f"{len(texts)} texts for {n_users} users")
    users = [emu.user(f"員工{i}") for i in range(n_users)]
    waiting = {u.user_id for u in users}

    def first_answer(call: LineCall) -> bool:
        if call.ok and call.endpoint in ("reply", "push") and call.to in waiting:
            waiting.discard(call.to)
            return True
        return False

    deadline.progress(lambda: f"{len(waiting)} of {n_users} users got no reply")
    mark = emu.mark()
    started = time.monotonic()
    events = {u.user_id: emu.send_text(u, text if texts is None else texts[i]) for i, u in enumerate(users)}
    answers = await emu.wait_for_all(first_answer, n_users, since=mark, timeout=timeout)
    latencies = [c.at - events[str(c.to)].at for c in answers]
    senders = tuple(u.user_id for u in users)
    return LoadResult(n_users, max(c.at for c in answers) - started, latencies, senders)


async def measure_echo(n_users: int = 300, texts: Sequence[str] | None = None) -> LoadResult:
    async with LineEmulator() as emu, EchoWebhook(emu.api_url, emu.channel_secret, emu.access_token) as hook:
        emu.set_webhook(hook.url)
        result = await drive_first_messages(emu, n_users, texts=texts)
    if len({c.to for c in emu.calls if c.ok}) != n_users or any(not c.ok for c in emu.calls):
        raise AssertionError("the echo answered some users twice, or a call failed")
    return result


async def _main(n_users: int, rounds: int) -> None:
    figures = [await measure_echo(n_users) for _ in range(rounds)]
    median = statistics.median(f.seconds for f in figures)
    print(f"LINE echo baseline: {n_users} users' first message -> reply, median {median:.3f} s")
    for figure in figures:
        print("  " + figure.line("round"))


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1]) if len(sys.argv) > 1 else 300, rounds=5))
