"""Wiring: the one place that knows every part. Resources are entered in order and closed in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from linebot.v3 import WebhookParser
from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, Configuration
from telegram import Bot, Update
from telegram.ext import Application

from hotline.bot import telegram as tg
from hotline.bot.aftercare import Aftercare
from hotline.bot.console import Console
from hotline.bot.inbox import Inbox, chat_id_in
from hotline.bot.runner import EmployeeRunner
from hotline.bot.telegram_employees import TelegramEmployees
from hotline.bot.webhook import Listener
from hotline.channels import EmployeeChannels
from hotline.crypto import Vault
from hotline.desk import Desk
from hotline.domain import Channel, Screening
from hotline.errors import ChatUnavailable, ConfigError
from hotline.hours import ServiceHours
from hotline.line.front import LineFront
from hotline.line.inbox import LineInbox
from hotline.line.send import LineEmployees
from hotline.line.webhook import LineWebhook
from hotline.mailbox.fetcher import HelperPoller
from hotline.mailbox.imap import ImapConfig, ImapPoller
from hotline.mailbox.smtp import SmtpConfig
from hotline.ops import Health, WorkerCounters, render_metrics
from hotline.pacing import Limits, MemoryBudget, NoPacing, Pacer, Rate
from hotline.ports import ButtonRow, Clock
from hotline.privacy.ratelimit import RateLimiter
from hotline.privacy.rekey_mail import rekey_dedup_keys, rekey_thread_keys, stale_mail_keys
from hotline.screening.learned import LearnedLayer
from hotline.screening_loader import load_lexicon as load_lexicon
from hotline.screening_service import ConversationWindow, ScreeningService
from hotline.settings import DEFAULT_CONFIG_DIR, Settings
from hotline.station import reminders
from hotline.station.outbox import Outbox
from hotline.station.sink import MailStation
from hotline.storage import db, inbound, line_repo, repo
from hotline.storage.leases import MAIL_POLLER, STARTUP, Locks, lead, serialise
from hotline.storage.pacing_repo import DatabaseBudget
from hotline.storage.repo import Store
from hotline.texts import Texts
from hotline.timer_kinds import TimerKind
from hotline.timers import Handler, TimerService

log = logging.getLogger(__name__)

LINE_EVENT_IDS_KEPT = timedelta(days=7)  # ids of LINE events carried out, kept against redelivery
DEFAULT_PORTS = {"tls": (993, 465), "starttls": (143, 587), "none": (143, 25)}


def _next_night(now: datetime, zone: ZoneInfo) -> datetime:
    """The next 03:00 local time, when the line is quiet."""
    local = now.astimezone(zone)
    night = local.replace(hour=3, minute=0, second=0, microsecond=0)
    return night if night > local else night + timedelta(days=1)


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
    return ScreeningService(lexicon or default_screen(settings), load_learned_layer(settings))


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


class NoChat:
    """The chat gateway when Telegram is not configured: counselors cannot be reached."""

    async def send(self, chat_id: int, text: str, buttons: Sequence[ButtonRow] = ()) -> str:
        raise ChatUnavailable("Telegram is not configured, so counselors cannot be notified")

    async def edit(self, chat_id: int, ref: str, text: str, buttons: Sequence[ButtonRow] = ()) -> None:
        raise ChatUnavailable("Telegram is not configured")


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
        self.timers: TimerService | None = None
        self.desk: Desk | None = None
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
        window = ConversationWindow(settings.screening.window_messages, settings.screening.window_minutes)

        app: Application[Any, Any, Any, Any, Any, Any] | None = None
        bot: Bot | None = None
        if settings.telegram_enabled:
            app = tg.build_application(settings)
            bot = app.bot
        self.telegram = app
        gateway = tg.TelegramGateway(bot, pacer_for(settings, store)) if bot is not None else NoChat()
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
        known = None if store.locking else await repo.pseudonyms(store, Channel.TELEGRAM)
        runner = EmployeeRunner(
            desk, screening, known, RateLimiter.from_settings(settings.rate_limit), window=window
        )
        outbox = station = None
        if mail_settings is not None:
            outbox = Outbox(desk, smtp_config(settings), mail_settings[1])
            station = MailStation(desk, outbox, screening)
        console = Console(desk, runner, outbox)
        aftercare = Aftercare(desk, outbox)  # issue 7: booking, survey
        runner.aside, runner.after_end = aftercare.aside, aftercare.case_ended
        console.booking_code, console.after_end = aftercare.booking_code, aftercare.case_ended
        self.aftercare = aftercare
        handlers = {**self._timer_handlers(desk, console, station, aftercare), **aftercare.timer_handlers()}
        timers = TimerService(store, self.clock, handlers, on_unhandled=desk.alerts.timer_unhandled)
        desk.wake_timers, desk.timer_due = timers.wake, timers.wake_for
        timers.owner = self.owner
        self.desk, self.runner, self.console, self.timers = desk, runner, console, timers
        self.station, self.outbox = station, outbox

        front: tg.TelegramFront | None = None
        if app is not None:
            front = tg.TelegramFront(settings, desk, runner, console)
            front.aftercare = aftercare
            tg.attach(app, front)
            await tg.initialize(app, settings.telegram_api_url)
            self._stack.push_async_callback(app.shutdown)
            if self.poll:
                await tg.announce_commands(app.bot, texts)
                await app.start()
                self._stack.push_async_callback(app.stop)
                if not settings.telegram_webhook_url:  # a webhook is served by the listener below
                    assert app.updater is not None
                    await app.updater.start_polling(
                        poll_interval=0.0,
                        timeout=settings.telegram.poll_timeout_seconds,
                        allowed_updates=Update.ALL_TYPES,
                        drop_pending_updates=False,  # messages sent while we were down must not be lost
                    )
                    self._stack.push_async_callback(app.updater.stop)
        if settings.line_enabled:
            await self._start_line(desk, screening, window, aftercare)
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
                        s, TimerKind.DAILY, _next_night(self.clock(), hours.zone), self.clock()
                    )
            timers.start()
            self._stack.push_async_callback(timers.stop)
        if self.poll:
            await self._start_listener(app, front, gateway)
        if self.poll and not settings.booking.office_phone:
            log.warning(
                "[booking] office_phone is not set: messages that would give the EAP office's number ask "
                "the employee to write in the chat instead; set it in %s or HOTLINE_BOOKING__OFFICE_PHONE",
                settings.config,
            )
        if self.line_webhook is not None and app is None and self.poll:
            log.critical(
                "LINE runs without Telegram: no counselor can answer or be told of a crisis; "
                "set HOTLINE_TELEGRAM_TOKEN"
            )
        if station is not None and app is None and self.poll:
            log.critical(
                "the e-mail station runs without Telegram: no counselor can be told of new mail or of a "
                "crisis; set HOTLINE_TELEGRAM_TOKEN"
            )
        log.info(
            "hotline is running: telegram=%s line=%s mail=%s, %d people on the roster",
            "on" if app is not None else "off",
            self.line_webhook.url if self.line_webhook is not None and self.poll else "off",
            "on" if station is not None else "off",
            len(settings.counselors),
        )

    async def _start_line(
        self, desk: Desk, screening: ScreeningService, window: ConversationWindow, aftercare: Aftercare
    ) -> None:
        """Issue 15: employees on LINE, on the same flows through their own runner and adapter; the
        webhook stores each event before answering and the inbox carries them out per user in order."""
        settings, store = self.settings, desk.store
        assert settings.line_channel_secret is not None and settings.line_channel_access_token is not None
        client = AsyncApiClient(
            Configuration(
                host=settings.line_api_url,
                access_token=settings.line_channel_access_token.get_secret_value(),
            )
        )
        self._stack.push_async_callback(client.close)

        def pseudonym(user_id: str) -> str:
            return store.vault.pseudonym(Channel.LINE.value, user_id)

        employees = LineEmployees(AsyncMessagingApi(client), pseudonym, settings.line.reply_token_seconds)
        async with store.unit() as s:
            employees.blocked = await line_repo.blocked(s)
        desk.channels.register(employees)
        known = None if store.locking else await repo.pseudonyms(store, Channel.LINE)
        limiter = RateLimiter.from_settings(settings.rate_limit)
        runner = EmployeeRunner(desk, screening, known, limiter, window=window, channel=Channel.LINE)
        runner.aside, runner.after_end = aftercare.aside, aftercare.case_ended
        front = LineFront(desk, runner, employees)
        front.input.aftercare = aftercare
        inbox = LineInbox(store, front.process, pseudonym, self.clock, settings.line.concurrent_events)
        self._stack.push_async_callback(inbox.close)
        webhook = LineWebhook(
            WebhookParser(settings.line_channel_secret.get_secret_value()),
            inbox,
            settings.line_webhook_listen,
        )
        self.line_runner, self.line_inbox, self.line_webhook = runner, inbox, webhook
        if self.poll:
            # Events stored before a restart and not yet carried out go first, before anything new can
            # arrive (the inbox also never queues one event twice).
            await inbox.resume()
            await webhook.start()
            self._stack.push_async_callback(webhook.stop)

    async def _start_listener(
        self,
        app: Application[Any, Any, Any, Any, Any, Any] | None,
        front: tg.TelegramFront | None,
        gateway: object,
    ) -> None:
        """``/healthz`` and ``/metrics`` (``hotline/ops.py``) and, in webhook mode, Telegram's webhook, on
        one listener: the webhook's ``_LISTEN`` address, or ``HOTLINE_OPS_LISTEN`` when polling. The
        webhook answers 403 to any request without our secret token in the
        ``X-Telegram-Bot-Api-Secret-Token`` header (set with the webhook)."""
        settings = self.settings
        webhook = app is not None and settings.telegram_webhook_url is not None
        listen = settings.telegram_webhook_listen if webhook else settings.ops_listen
        if listen is None:
            return
        assert self.store is not None and self.timers is not None
        timers = self.timers
        counters = WorkerCounters(
            updates=lambda: front.processed if front is not None else 0,
            paced=lambda: gateway.pacer.waited if isinstance(gateway, tg.TelegramGateway) else 0,
            retried=lambda: gateway.retried if isinstance(gateway, tg.TelegramGateway) else 0,
            timers_fired=lambda: timers.fired,
        )
        health = Health(self.store, self._loops(app))
        listener = Listener(
            listen, health, functools.partial(render_metrics, self.store, self.clock, counters)
        )
        if webhook:
            assert app is not None and settings.telegram_webhook_url and settings.telegram_webhook_secret
            secret = settings.telegram_webhook_secret.get_secret_value()
            listener.add_webhook(
                urlsplit(settings.telegram_webhook_url).path, secret, self._inbox(app).accept
            )
        await listener.start()
        self._stack.push_async_callback(listener.stop)
        if webhook:
            assert app is not None and settings.telegram_webhook_url
            await app.bot.set_webhook(
                settings.telegram_webhook_url,
                secret_token=secret,
                allowed_updates=Update.ALL_TYPES,
                drop_pending_updates=False,
            )

    def _inbox(self, app: Application[Any, Any, Any, Any, Any, Any]) -> Inbox:
        """Webhook mode: each update is stored before it is answered, then processed per chat by whichever
        worker holds the chat (:mod:`hotline.bot.inbox`)."""
        assert self.store is not None and self.locks is not None and self.desk is not None

        async def process(payload: Mapping[str, Any]) -> None:
            await app.process_update(Update.de_json(dict(payload), app.bot))

        inbox = Inbox(
            self.store, self.locks, process, chat_id_in, self.desk.deliver,
            concurrency=self.settings.telegram.concurrent_updates, clock=self.clock,
        )  # fmt: skip
        inbox.start()  # what earlier runs (or a worker that died) left stored is processed first
        self._stack.push_async_callback(inbox.stop)
        self.inbox = inbox
        return inbox

    def _loops(self, app: Application[Any, Any, Any, Any, Any, Any] | None) -> dict[str, Callable[[], bool]]:
        """What must be running in this worker, by the name ``/healthz`` gives it when it is not."""
        loops: dict[str, Callable[[], bool]] = {}
        if app is not None:
            updater = app.updater if not self.settings.telegram_webhook_url else None
            loops["Telegram"] = lambda: app.running and (updater is None or updater.running)
        if self.background_timers and self.timers is not None:
            loops["timer"] = lambda: self.timers is not None and self.timers.alive
        if self.background_mail and self.outbox is not None and self.outbox.smtp is not None:
            loops["outbox"] = lambda: self.outbox is not None and self.outbox.alive
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

    @staticmethod
    def _timer_handlers(
        desk: Desk, console: Console, station: MailStation | None, aftercare: Aftercare
    ) -> Mapping[TimerKind, Handler]:
        async def remind(case_id: int | None, _payload: Mapping[str, object]) -> None:
            if case_id is not None:
                await console.remind(case_id)

        async def offer(case_id: int | None, _payload: Mapping[str, object]) -> None:
            if case_id is not None:
                await desk.offer(case_id)

        async def escalate(case_id: int | None, _payload: Mapping[str, object]) -> None:
            if case_id is not None:
                await desk.alerts.escalate(case_id)

        async def resend(case_id: int | None, _payload: Mapping[str, object]) -> None:
            if case_id is not None:
                await desk.alerts.resend_alert(case_id)

        async def mail_remind(case_id: int | None, _payload: Mapping[str, object]) -> None:
            if case_id is not None and station is not None:
                await reminders.remind(desk, case_id, overdue=False)

        async def mail_overdue(case_id: int | None, _payload: Mapping[str, object]) -> None:
            if case_id is not None and station is not None:
                await reminders.remind(desk, case_id, overdue=True)

        async def daily(_case_id: int | None, _payload: Mapping[str, object]) -> None:
            """Once a day: expire survey invitations left open; then book tomorrow's run."""
            swept = await aftercare.surveys.sweep()
            log.info("daily maintenance: %d survey invitations expired", swept)
            now = desk.now()
            async with desk.store.unit() as s:
                await inbound.purge(s, now)  # processed updates' bare rows, past redelivery
                await line_repo.prune(s, now - LINE_EVENT_IDS_KEPT)
                await repo.schedule(s, TimerKind.DAILY, _next_night(now, desk.hours.zone), now)

        return {
            TimerKind.DAILY: daily,
            TimerKind.SESSION_REMIND: remind,
            TimerKind.CASE_OFFER: offer,
            TimerKind.CRISIS_ESCALATE: escalate,
            TimerKind.CRISIS_RESEND: resend,
            TimerKind.EMAIL_REMIND: mail_remind,
            TimerKind.EMAIL_ESCALATE: mail_overdue,
        }


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
