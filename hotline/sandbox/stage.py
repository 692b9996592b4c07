"""A stage for the whole service on the sandbox: settings, a clock, and the roster used by the demo,
the tests and the benchmarks. Nothing here reaches the network beyond 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hotline.app import Service
from hotline.domain import Role, Screening
from hotline.sandbox.telegram_api import TelegramEmulator
from hotline.sandbox.telegram_model import BotCall, ChatUser
from hotline.settings import CounselorEntry, PacingSection, Settings

TAIPEI = ZoneInfo("Asia/Taipei")
# A Wednesday inside service hours, not a holiday.
OPEN_HOURS = datetime(2026, 11, 25, 10, 0, tzinfo=TAIPEI)
DEMO_SECRET = "demo-only-secret-key-never-use-in-production-0123456789"

ROSTER = (
    CounselorEntry(telegram_id=9001, name="王心理師", role=Role.COUNSELOR),
    CounselorEntry(telegram_id=9002, name="陳心理師", role=Role.COUNSELOR),
    CounselorEntry(telegram_id=9100, name="林督導", role=Role.SUPERVISOR),
)


@dataclass
class StageClock:
    """Wall time shifted to a chosen start, which tests can also move forward by hand."""

    start: datetime = OPEN_HOURS
    offset: timedelta = field(default_factory=timedelta)
    follow_real_time: bool = True
    _t0: float = field(default_factory=time.monotonic)

    def __call__(self) -> datetime:
        elapsed = timedelta(seconds=time.monotonic() - self._t0) if self.follow_real_time else timedelta()
        return self.start + self.offset + elapsed

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


def stage_settings(api_url: str, token: str, database: Path | str, **overrides: Any) -> Settings:
    """Settings for the service against an emulator at ``api_url`` with a SQLite file or a URL."""
    url = database if isinstance(database, str) else f"sqlite+aiosqlite:///{database}"
    values: dict[str, Any] = {
        "telegram_token": token,
        "telegram_api_url": api_url,
        "database_url": url,
        "secret_key": DEMO_SECRET,
        "counselors": ROSTER,
        "telegram": {"poll_timeout_seconds": 10, "concurrent_updates": 16},
    }
    values.update(overrides)
    return Settings.model_validate(values)


class Stage:
    """The whole service on an emulator, with helpers to play both sides of a conversation.

    On an emulator without flood limits (``limits=None``) the service does not pace its messages.

    ``async with Stage(emu, settings, clock) as stage:`` runs the real PTB Application (long polling
    against the emulator); ``await stage.restart()`` stops and starts it again on the same database.
    """

    def __init__(
        self,
        emulator: TelegramEmulator,
        settings: Settings,
        clock: StageClock | None = None,
        screen: Callable[[str], Screening] | None = None,
        timeout: float = 10.0,
        background_mail: bool = True,
        background_timers: bool = True,
    ) -> None:
        self.background_mail = background_mail
        self.background_timers = background_timers
        self.emu = emulator
        if emulator.limits is None and settings.telegram.pacing.enabled:
            # An emulator without Telegram's flood limits (tests that need speed): nothing to pace for.
            unpaced = settings.telegram.model_copy(update={"pacing": PacingSection(enabled=False)})
            settings = settings.model_copy(update={"telegram": unpaced})
        self.settings = settings
        self.clock = clock or StageClock()
        self.screen = screen
        self.timeout = timeout
        self.service: Service | None = None

    async def __aenter__(self) -> Stage:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self.service = Service(
            self.settings,
            clock=self.clock,
            screen=self.screen,
            background_mail=self.background_mail,
            background_timers=self.background_timers,
        )
        await self.service.__aenter__()
        if not self.settings.telegram_webhook_url:  # with a webhook, the emulator calls us instead
            await self.emu.wait_polling(timeout=self.timeout)

    async def stop(self) -> None:
        if self.service is not None:
            service, self.service = self.service, None
            await service.__aexit__(None, None, None)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    @property
    def running(self) -> Service:
        assert self.service is not None, "the stage is not running"
        return self.service

    async def say(
        self, user: ChatUser, text: str, *, expect: int | None = None, containing: str = ""
    ) -> BotCall:
        """``user`` sends ``text``; return the bot's next message to ``expect`` (default: the user)."""
        update = await self.emu.send_text(user, text)
        return await self.next_message(expect or user.id, since=update.mark, containing=containing)

    async def press(
        self, user: ChatUser, call: BotCall, data: str, *, expect: int | None = None, containing: str = ""
    ) -> BotCall:
        assert call.message_id is not None
        update = await self.emu.press_button(user, call.message_id, data)
        return await self.next_message(expect or user.id, since=update.mark, containing=containing)

    async def next_message(self, chat_id: int, *, since: int, containing: str = "") -> BotCall:
        return await self.emu.wait_for(
            lambda c: c.ok and containing in (c.text or ""),
            method="sendMessage",
            chat_id=chat_id,
            since=since,
            timeout=self.timeout,
        )

    def texts_to(self, chat_id: int, since: int = 0) -> list[str]:
        """Every text the bot sent or edited into a chat (sendMessage and editMessageText)."""
        return [
            c.text or ""
            for c in self.emu.calls_to(chat_id, since=since)
            if c.method in {"sendMessage", "editMessageText"} and c.ok
        ]
