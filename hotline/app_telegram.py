"""The Telegram part of the wiring (``app.py``): the Application, the paced gateway counselors are reached
through, the front that turns updates into events, and polling or the webhook's inbox.

Imported by ``app.py`` only when Telegram is configured: python-telegram-bot is a heavy import that
``hotline mail poll --once`` with only mail configured must not pay for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any

from telegram import Update
from telegram.ext import Application

from hotline.bot import telegram as tg
from hotline.bot.aftercare import Aftercare
from hotline.bot.console import Console
from hotline.bot.inbox import MAX_ATTEMPTS, Inbox, chat_id_in
from hotline.bot.runner import EmployeeRunner
from hotline.desk import Desk
from hotline.pacing import Limits, MemoryBudget, NoPacing, Pacer, Rate
from hotline.ports import Clock
from hotline.settings import Settings
from hotline.storage.leases import Locks
from hotline.storage.pacing_repo import DatabaseBudget
from hotline.storage.repo import Store
from hotline.texts import Texts

# Requests Telegram may have in flight to our webhook at once, across chats (one per chat at a time;
# Telegram's default, said explicitly so that a change of default upstream changes nothing here). The
# workers behind nginx take that many updates in at once; each is one short INSERT (docs/deploy.md).
WEBHOOK_MAX_CONNECTIONS = 40


def pacer_for(settings: Settings, store: Store) -> Pacer:
    """Telegram's flood limits: kept in PostgreSQL when several workers may share the bot, in memory
    for the one process on SQLite (``hotline/pacing.py``)."""
    pacing = settings.telegram.pacing
    if not pacing.enabled:
        return Pacer(NoPacing())
    limits = Limits(
        Rate.of(pacing.per_bot_per_second, pacing.per_bot_burst),
        Rate.of(pacing.per_chat_per_second, pacing.per_chat_burst),
    )
    if not store.locking:
        return Pacer(MemoryBudget(limits))
    vault = store.vault
    return Pacer(DatabaseBudget(store, limits), key_of=lambda chat: vault.pseudonym("pacing", str(chat)))


class TelegramWiring:
    """The Telegram Application and its gateway (built first: the desk reaches counselors through the
    gateway); :meth:`start` attaches the front once the desk, runner and console exist."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.app: Application[Any, Any, Any, Any, Any, Any] = tg.build_application(settings)
        self.gateway = tg.TelegramGateway(self.app.bot, pacer_for(settings, store))
        self.front: tg.TelegramFront | None = None
        self.inbox: Inbox | None = None

    async def start(
        self,
        stack: AsyncExitStack,
        *,
        desk: Desk,
        runner: EmployeeRunner,
        console: Console,
        aftercare: Aftercare,
        texts: Texts,
        poll: bool,
    ) -> None:
        settings, app = self.settings, self.app
        front = self.front = tg.TelegramFront(settings, desk, runner, console, aftercare)
        tg.attach(app, front)
        await tg.initialize(app, settings.telegram_api_url)
        stack.push_async_callback(app.shutdown)
        if poll:
            await tg.announce_commands(app.bot, texts)
            await app.start()
            stack.push_async_callback(app.stop)
            if not settings.telegram_webhook_url:  # a webhook is served by the ops listener
                assert app.updater is not None
                await app.updater.start_polling(
                    poll_interval=0.0,
                    timeout=settings.telegram.poll_timeout_seconds,
                    allowed_updates=Update.ALL_TYPES,
                    drop_pending_updates=False,  # messages sent while we were down must not be lost
                )
                stack.push_async_callback(app.updater.stop)

    @property
    def webhook(self) -> bool:
        return self.settings.telegram_webhook_url is not None

    def webhook_inbox(
        self, stack: AsyncExitStack, store: Store, locks: Locks, desk: Desk, clock: Clock
    ) -> Inbox:
        """Webhook mode: each update is stored before it is answered, then processed per chat by whichever
        worker holds the chat (:mod:`hotline.bot.inbox`)."""
        app = self.app

        async def process(payload: Mapping[str, Any]) -> None:
            await app.process_update(Update.de_json(dict(payload), app.bot))

        inbox = Inbox(
            store, locks, process, chat_id_in, desk.deliver,
            concurrency=self.settings.telegram.concurrent_updates, clock=clock,
            set_aside=lambda update_id: desk.alerts.update_set_aside(update_id, MAX_ATTEMPTS),
        )  # fmt: skip
        inbox.start()  # what earlier runs (or a worker that died) left stored is processed first
        stack.push_async_callback(inbox.stop)
        self.inbox = inbox
        return inbox

    async def set_webhook(self, secret: str) -> None:
        assert self.settings.telegram_webhook_url
        await self.app.bot.set_webhook(
            self.settings.telegram_webhook_url,
            secret_token=secret,
            allowed_updates=Update.ALL_TYPES,
            drop_pending_updates=False,
            max_connections=WEBHOOK_MAX_CONNECTIONS,
        )

    def running(self) -> Callable[[], bool]:
        """Whether the Application (and, when polling, its updater) is running, for ``/healthz``."""
        app = self.app
        updater = app.updater if not self.webhook else None
        return lambda: app.running and (updater is None or updater.running)

    def updates(self) -> int:
        return self.front.processed if self.front is not None else 0

    def paced(self) -> int:
        return self.gateway.pacer.waited

    def retried(self) -> int:
        return self.gateway.retried


__all__ = ["WEBHOOK_MAX_CONNECTIONS", "TelegramWiring", "pacer_for"]
