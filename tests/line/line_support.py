"""The whole service with LINE on: the Telegram emulator (counselors), the LINE emulator (employees)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from hotline.sandbox import LineEmulator, LineUser, TelegramEmulator
from hotline.sandbox.line_model import LineCall, LineEvent
from hotline.sandbox.stage import Stage, StageClock, stage_settings

TOKEN = "4242:TEST-TOKEN-hotline"


class LineStage:
    """A :class:`Stage` (Telegram side) plus the LINE emulator pointed at the service's LINE webhook."""

    def __init__(self, stage: Stage, line: LineEmulator) -> None:
        self.stage = stage
        self.line = line

    async def restart(self) -> None:
        await self.stage.restart()
        self.hook()

    def hook(self) -> None:
        webhook = self.stage.running.line_webhook
        assert webhook is not None
        self.line.set_webhook(webhook.url)

    async def say(self, user: LineUser, text: str, *, containing: str = "") -> LineCall:
        """``user`` writes ``text``; the next reply or push to them that contains ``containing``."""
        return await self.answer(user, self.line.send_text(user, text), containing=containing)

    async def tap(self, user: LineUser, label: str, *, containing: str = "") -> LineCall:
        return await self.answer(user, self.line.tap(user, label), containing=containing)

    async def answer(self, user: LineUser, event: LineEvent | int, *, containing: str = "") -> LineCall:
        return await self.line.wait_for(
            lambda c: c.ok and c.endpoint in ("reply", "push") and any(containing in t for t in c.texts),
            to=user,
            since=event,
            timeout=10,
        )

    async def settle(self, *events: LineEvent) -> None:
        """Wait until ``events`` were delivered and every stored event carried out."""
        for event in events:
            await self.line.wait_delivered(event)
        await self.idle()

    async def idle(self) -> None:
        inbox = self.stage.running.line_inbox
        assert inbox is not None
        await inbox.idle()


@asynccontextmanager
async def line_stage(
    tg: TelegramEmulator, database: str, clock: StageClock, **overrides: Any
) -> AsyncIterator[LineStage]:
    async with LineEmulator(reply_token_lifetime=60, redelivery_delay=0.05) as line:
        settings = stage_settings(
            tg.api_url,
            TOKEN,
            database,
            line_channel_secret=line.channel_secret,
            line_channel_access_token=line.access_token,
            line_api_url=line.api_url,
            line_webhook_listen="127.0.0.1:0",
            **overrides,
        )
        async with Stage(tg, settings, clock, background_timers=False) as stage:
            running = LineStage(stage, line)
            running.hook()
            yield running
