"""Wiring: the one place that knows every part. Resources are entered in order and closed in reverse."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from telegram import Update
from telegram.ext import Application

from hotline.bot import telegram as tg
from hotline.bot.console import Console
from hotline.bot.desk import Desk
from hotline.bot.runner import EmployeeRunner
from hotline.crypto import Vault
from hotline.domain import Channel, Screening
from hotline.hours import ServiceHours
from hotline.ports import Clock
from hotline.settings import Settings
from hotline.storage import db, repo
from hotline.storage.repo import Store
from hotline.texts import Texts
from hotline.timers import TimerService

log = logging.getLogger(__name__)


def system_clock() -> datetime:
    return datetime.now(UTC)


def default_screen(settings: Settings) -> Callable[[str], Screening]:
    from hotline.screening_loader import load_screener
    from hotline.settings import DEFAULT_CONFIG_DIR

    # The default lexicon is built once per process (it takes a few hundred milliseconds).
    return load_screener(None if settings.config_dir == DEFAULT_CONFIG_DIR else settings.config_dir).screen


class Service:
    """The running help line: storage, Telegram polling and timers.

    ``async with Service(settings) as service:`` applies migrations, syncs the roster, starts polling
    (when a token is configured) and the timer loop; leaving the block stops them in reverse order.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        screen: Callable[[str], Screening] | None = None,
        poll: bool = True,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.poll = poll
        self._screen = screen
        self._stack = AsyncExitStack()
        self.store: Store | None = None
        self.telegram: Application[Any, Any, Any, Any, Any, Any] | None = None
        self.timers: TimerService | None = None
        self.desk: Desk | None = None
        self.console: Console | None = None
        self.runner: EmployeeRunner | None = None

    async def __aenter__(self) -> Service:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        settings = self.settings
        vault = Vault(settings.require_secret_key())
        await db.upgrade(settings.database_url)
        store = Store(settings.database_url, vault)
        self._stack.push_async_callback(store.close)
        async with store.unit() as s:
            await repo.sync_roster(s, settings.counselors)
        self.store = store
        texts = Texts.load(settings.config_dir, ServiceHours(settings.hours).zone)
        screen = self._screen or default_screen(settings)
        if not settings.telegram_enabled:
            return
        app = tg.build_application(settings)
        self.telegram = app
        desk = Desk(
            settings=settings,
            store=store,
            texts=texts,
            gateway=tg.TelegramGateway(app.bot),
            hours=ServiceHours(settings.hours),
            clock=self.clock,
        )
        known = None if store.locking else await repo.pseudonyms(store, Channel.TELEGRAM)
        runner = EmployeeRunner(desk, screen, known)
        console = Console(desk, runner)
        timers = TimerService(
            store,
            self.clock,
            {
                "session.remind": lambda case_id, _p: console.remind(case_id) if case_id else _nothing(),
                "case.offer": lambda case_id, _p: _offer(desk, case_id),
                "crisis.escalate": lambda case_id, _p: desk.escalate(case_id) if case_id else _nothing(),
            },
        )
        desk.wake_timers = timers.wake
        tg.attach(app, tg.TelegramFront(settings, desk, runner, console))
        self.desk, self.runner, self.console, self.timers = desk, runner, console, timers

        await app.initialize()
        self._stack.push_async_callback(app.shutdown)
        await tg.announce_commands(app.bot, texts)
        await app.start()
        self._stack.push_async_callback(app.stop)
        if self.poll:
            assert app.updater is not None
            await app.updater.start_polling(
                poll_interval=0.0,
                timeout=settings.telegram.poll_timeout_seconds,
                allowed_updates=Update.ALL_TYPES,
                drop_pending_updates=False,  # messages sent while we were down must not be lost
            )
            self._stack.push_async_callback(app.updater.stop)
        timers.start()
        self._stack.push_async_callback(timers.stop)
        log.info("hotline is running: Telegram polling, %d people on the roster", len(settings.counselors))


async def _nothing() -> None:
    return None


async def _offer(desk: Desk, case_id: int | None) -> None:
    if case_id is not None:
        await desk.offer(case_id)
