"""Wiring: the one place that knows every part. Resources are entered in order and closed in reverse.

Split by job: the core here (storage, the desk, the runner, the console, the e-mail station, timers);
Telegram in ``app_telegram``, LINE in ``app_line`` (each imported only when configured), the ops
listener and the timer kinds' handlers in ``app_ops``."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import uuid
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hotline import recent
from hotline.app_ops import next_night, start_listener, timer_handlers
from hotline.bot.aftercare import Aftercare
from hotline.bot.console import Console
from hotline.bot.inbox import Inbox
from hotline.bot.runner import EmployeeRunner
from hotline.bot.telegram_employees import TelegramEmployees
from hotline.channels import EmployeeChannels
from hotline.crypto import Vault
from hotline.desk import Desk
from hotline.domain import Channel, Screening
from hotline.errors import ChatUnavailable, ConfigError
from hotline.hours import ServiceHours
from hotline.mailbox.fetcher import HelperPoller
from hotline.mailbox.imap import ImapConfig, ImapPoller
from hotline.mailbox.smtp import SmtpConfig
from hotline.ports import ButtonRow, ChatGateway, Clock
from hotline.privacy.rekey_mail import rekey_dedup_keys, rekey_thread_keys, stale_mail_keys
from hotline.screening_loader import load_lexicon as load_lexicon
from hotline.screening_service import ScreeningService
from hotline.settings import DEFAULT_CONFIG_DIR, Settings
from hotline.station.outbox import Outbox
from hotline.station.sink import MailStation
from hotline.storage import db, repo
from hotline.storage.leases import MAIL_POLLER, STARTUP, Locks, lead, serialise
from hotline.storage.repo import Store
from hotline.texts import Texts
from hotline.timer_kinds import TimerKind
from hotline.timers import TimerService

if TYPE_CHECKING:  # imported when configured (python-telegram-bot and the LINE SDK are heavy imports)
    from telegram.ext import Application

    from hotline.app_telegram import TelegramWiring
    from hotline.line.inbox import LineInbox
    from hotline.line.webhook import LineWebhook
    from hotline.screening.learned import LearnedLayer  # numpy: imported with the learned layer, if on

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"tls": (993, 465), "starttls": (143, 587), "none": (143, 25)}


def system_clock() -> datetime:
    return datetime.now(UTC)


def default_screen(settings: Settings) -> Callable[[str], Screening]:
    return load_lexicon(settings).screen


def load_learned_layer(settings: Settings) -> LearnedLayer | None:
    """The learned screening layer when the settings ask for it and it loads; otherwise None, said
    once at CRITICAL (the lexicon screens alone, and every alert it raises still goes out)."""
    if not settings.screening.learned:
        return None
    from hotline.learned_loader import HEAD_FILE, LearnedUnavailable, cached_learned

    try:
        return cached_learned(settings.screening.head_file or HEAD_FILE)
    except LearnedUnavailable as exc:
        _warn_learned_missing(str(exc))
        return None


@functools.lru_cache(maxsize=1)
def _warn_learned_missing(reason: str) -> None:
    log.critical("crisis screening runs on the lexicon alone: %s", reason)


def screening_service(
    settings: Settings, lexicon: Callable[[str], Screening] | None = None
) -> ScreeningService:
    budget = settings.screening.reply_budget_ms / 1000  # chat replies wait this long for the learned verdict
    return ScreeningService(lexicon or default_screen(settings), load_learned_layer(settings), budget)


class NoChat:
    """The chat gateway when Telegram is not configured: counselors cannot be reached."""

    async def send(self, chat_id: int, text: str, buttons: Sequence[ButtonRow] = ()) -> str:
        raise ChatUnavailable("Telegram is not configured, so counselors cannot be notified")

    async def edit(self, chat_id: int, ref: str, text: str, buttons: Sequence[ButtonRow] = ()) -> None:
        raise ChatUnavailable("Telegram is not configured")

    async def send_in_turn(
        self, chat_id: int, messages: Callable[[], Sequence[tuple[str, Sequence[ButtonRow]]]]
    ) -> list[str | None]:
        raise ChatUnavailable("Telegram is not configured, so counselors cannot be notified")


def imap_config(settings: Settings) -> ImapConfig:
    assert settings.imap_host is not None
    if not settings.imap_user or settings.imap_password is None:
        raise ConfigError(
            "HOTLINE_IMAP_USER and HOTLINE_IMAP_PASSWORD are required when HOTLINE_IMAP_HOST is set."
        )
    return ImapConfig(
        host=settings.imap_host,
        port=settings.imap_port or DEFAULT_PORTS[settings.imap_security][0],
        user=settings.imap_user,
        password=settings.imap_password.get_secret_value(),
        security=settings.imap_security,
        mailbox=settings.imap_mailbox,
        poll_interval=settings.email.poll_seconds,
    )


def smtp_config(settings: Settings) -> SmtpConfig | None:
    if settings.smtp_host is None:
        return None
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port or DEFAULT_PORTS[settings.smtp_security][1],
        user=settings.smtp_user,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        security=settings.smtp_security,
    )


def mail_from(settings: Settings) -> str:
    if not settings.mail_from or "@" not in settings.mail_from:
        raise ConfigError("HOTLINE_MAIL_FROM (the service's own address) is required for the e-mail station.")
    return settings.mail_from


class Service:
    """The running help line: storage, Telegram, the e-mail station and timers.

    ``async with Service(settings) as service:`` applies migrations, syncs the roster, starts polling
    (when a token is configured), the mail poller and outbox (when IMAP is configured) and the timer loop;
    leaving the block stops them in reverse order. ``poll=False`` starts nothing that runs on its own
    (used by ``hotline mail poll --once``); ``background_mail=False`` leaves the mail poller and the outbox
    to be driven by hand, ``background_timers=False`` the timers (tests that move the clock).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        screen: Callable[[str], Screening] | None = None,
        poll: bool = True,
        background_mail: bool = True,
        background_timers: bool = True,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.poll = poll
        self.background_mail = poll and background_mail
        self.background_timers = poll and background_timers
        self._screen = screen
        self._stack = AsyncExitStack()
        self.store: Store | None = None
        self.telegram: Application[Any, Any, Any, Any, Any, Any] | None = None
        self.telegram_wiring: TelegramWiring | None = None
        self.timers: TimerService | None = None
        self.desk: Desk | None = None
        self.flood: recent.Flood | None = None  # the flood limit, shared by the employees' channels
        self.console: Console | None = None
        self.aftercare: Aftercare | None = None
        self.runner: EmployeeRunner | None = None
        self.station: MailStation | None = None
        self.outbox: Outbox | None = None
        self.poller: ImapPoller | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.inbox: Inbox | None = None
        self.locks: Locks | None = None
        # Who this worker is, in leases and in pg_stat_activity.application_name (host, pid, a nonce).
        self.owner = f"hotline:{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.line_webhook: LineWebhook | None = None  # issue 15: LINE, when its secret and token are set
        self.line_inbox: LineInbox | None = None
        self.line_runner: EmployeeRunner | None = None

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
        secret, older = settings.vault_keys()
        mail_settings = (imap_config(settings), mail_from(settings)) if settings.mail_enabled else None
        await db.upgrade(settings.database_url)
        store = Store(settings.database_url, Vault(secret, older))
        self._stack.push_async_callback(store.close)
        self.locks = locks = Locks(store.engine, self.owner)
        self._stack.push_async_callback(locks.close)
        async with store.unit() as s:
            await serialise(s, STARTUP)  # workers started together take turns
            await repo.sync_roster(s, settings.counselors)
            stale = sum((await stale_mail_keys(s, store.vault)).values())
        if stale:  # kept Message-IDs from before an upgrade, or under a key being rotated
            log.warning("re-keying %d kept Message-IDs under the current key", stale)
            await rekey_dedup_keys(store)
            await rekey_thread_keys(store)
        self.store = store
        hours = ServiceHours(settings.hours)
        texts = Texts.load(settings.config_dir, hours.zone, fallback=DEFAULT_CONFIG_DIR)
        screening = screening_service(settings, self._screen)
        self._stack.push_async_callback(screening.close)
        # The screening window and the flood limit: in memory on SQLite, shared by the workers on PostgreSQL.
        window, flood = recent.for_workers(settings, store, self.clock)
        if isinstance(window, recent.StoredRecent):
            window.start()
            self._stack.push_async_callback(window.stop)

        # Built in dependency order. Telegram (when configured) first: counselors are reached through its
        # gateway. Its wiring, and python-telegram-bot with it, is imported only then.
        telegram: TelegramWiring | None = None
        if settings.telegram_enabled:
            from hotline.app_telegram import TelegramWiring

            telegram = TelegramWiring(settings, store)
        self.telegram_wiring = telegram
        self.telegram = telegram.app if telegram is not None else None
        gateway: ChatGateway = telegram.gateway if telegram is not None else NoChat()
        # Employees' channels, one adapter each (LINE registers its own here); counselors stay on Telegram.
        channels = EmployeeChannels(TelegramEmployees(gateway))
        desk = Desk(
            settings=settings,
            store=store,
            texts=texts,
            gateway=gateway,
            channels=channels,
            hours=hours,
            clock=self.clock,
        )
        self._stack.push_async_callback(desk.close)  # before the store closes: what it still records
        known = None if store.locking else await repo.pseudonyms(store, Channel.TELEGRAM)
        outbox = station = None
        if mail_settings is not None:
            outbox = Outbox(desk, smtp_config(settings), mail_settings[1])
            station = MailStation(desk, outbox, screening)
        aftercare = Aftercare(desk, outbox)  # issue 7: booking, survey
        runner = EmployeeRunner(
            desk, screening, known, flood, window=window,
            aside=aftercare.aside, after_end=aftercare.case_ended,
        )  # fmt: skip
        console = Console(
            desk, runner, outbox, booking_code=aftercare.booking_code, after_end=aftercare.case_ended
        )
        self.aftercare = aftercare
        handlers = {**timer_handlers(desk, console, station, aftercare), **aftercare.timer_handlers()}
        timers = TimerService(
            store, self.clock, handlers, on_unhandled=desk.alerts.timer_unhandled, owner=self.owner
        )
        # The one link made after construction: the desk wakes the timer loop that needs the desk's
        # handlers (a cycle; the desk wakes nothing until the service runs).
        desk.wake_timers, desk.timer_due = timers.wake, timers.wake_for
        self.desk, self.runner, self.console, self.timers = desk, runner, console, timers
        self.flood = flood
        self.station, self.outbox = station, outbox

        if telegram is not None:
            await telegram.start(
                self._stack, desk=desk, runner=runner, console=console, aftercare=aftercare, texts=texts,
                poll=self.poll,
            )  # fmt: skip
        if settings.line_enabled:
            from hotline.app_line import start_line

            line = await start_line(
                self._stack, desk=desk, screening=screening, window=window, flood=flood,
                aftercare=aftercare, clock=self.clock, poll=self.poll, locks=locks,
            )  # fmt: skip
            self.line_runner, self.line_inbox, self.line_webhook = line.runner, line.inbox, line.webhook
        if station is not None and mail_settings is not None:
            self.poller = ImapPoller(mail_settings[0], station, station)
            self._stack.push_async_callback(self.poller.aclose)
            if self.background_mail:
                poller = self.poller
                self._run_in_background(
                    lambda stop: lead(locks, MAIL_POLLER, poller.run, stop), "mail poller"
                )
        if outbox is not None and self.background_mail:
            outbox.start()
            self._stack.push_async_callback(outbox.stop)
        if self.background_timers:
            # The running service's daily maintenance: the timer books its next run itself; one must exist.
            async with store.unit() as s:
                await serialise(s, STARTUP)
                if not await repo.has_pending_kind(s, TimerKind.DAILY):
                    await repo.schedule(
                        s, TimerKind.DAILY, next_night(self.clock(), hours.zone), self.clock()
                    )
            timers.start()
            self._stack.push_async_callback(timers.stop)
        if self.poll:
            await start_listener(
                self._stack, settings=settings, store=store, locks=locks, desk=desk, clock=self.clock,
                timers=timers, loops=self._loops(), telegram=telegram, screening=screening,
            )  # fmt: skip
            self.inbox = telegram.inbox if telegram is not None else None
        if self.poll and not settings.booking.office_phone:
            log.warning(
                "[booking] office_phone is not set: messages that would give the EAP office's number ask "
                "the employee to write in the chat instead; set it in %s or HOTLINE_BOOKING__OFFICE_PHONE",
                settings.config,
            )
        if self.line_webhook is not None and telegram is None and self.poll:
            log.critical(
                "LINE runs without Telegram: no counselor can answer or be told of a crisis; "
                "set HOTLINE_TELEGRAM_TOKEN"
            )
        if station is not None and telegram is None and self.poll:
            log.critical(
                "the e-mail station runs without Telegram: no counselor can be told of new mail or of a "
                "crisis; set HOTLINE_TELEGRAM_TOKEN"
            )
        log.info(
            "hotline is running: telegram=%s line=%s mail=%s, %d people on the roster",
            "on" if telegram is not None else "off",
            self.line_webhook.url if self.line_webhook is not None and self.poll else "off",
            "on" if station is not None else "off",
            len(settings.counselors),
        )

    def _loops(self) -> dict[str, Callable[[], bool]]:
        """What must be running in this worker (besides Telegram), by the name ``/healthz`` gives it when
        it is not."""
        loops: dict[str, Callable[[], bool]] = {}
        if self.background_timers and self.timers is not None:
            loops["timer"] = lambda: self.timers is not None and self.timers.alive
        if self.background_mail and self.outbox is not None and self.outbox.smtp is not None:
            loops["outbox"] = lambda: self.outbox is not None and self.outbox.alive
        line = self.line_inbox
        if self.poll and line is not None and line.shared:  # LINE's dispatcher (several workers)
            loops["LINE"] = lambda: line.alive
        for name, task in self._tasks.items():
            loops[name] = lambda task=task: not task.done()  # type: ignore[misc]
        return loops

    def _run_in_background(
        self, run: Callable[[asyncio.Event], Coroutine[Any, Any, None]], name: str
    ) -> None:
        stop = asyncio.Event()
        task = asyncio.get_running_loop().create_task(run(stop), name=name)
        self._tasks[name] = task

        async def _stop() -> None:
            stop.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        self._stack.push_async_callback(_stop)


async def mail_poll_once(settings: Settings) -> tuple[int, int]:
    """`hotline mail poll --once`: (mails stored, mails sent). Fetching and parsing run in a helper
    process (`hotline.mailbox.fetcher`), started before the service so that it logs in meanwhile."""
    config = imap_config(settings)
    helper = HelperPoller(config) if HelperPoller.usable(config) else None
    try:
        if helper is not None:
            await helper.start()
        async with Service(settings, poll=False) as service:
            assert service.poller is not None and service.outbox is not None and service.station is not None
            poll = (
                helper.poll_once(service.station, service.station)
                if helper is not None
                else service.poller.poll_once()
            )
            return await service.outbox.send_alongside(poll)
    finally:
        if helper is not None:
            await helper.close()
