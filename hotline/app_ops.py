"""The operations part of the wiring (``app.py``): one listener serving ``/healthz`` and ``/metrics``
(``hotline/ops.py``) and, in webhook mode, Telegram's webhook; and the timer kinds' handlers."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from hotline.bot.aftercare import Aftercare
from hotline.bot.console import Console
from hotline.desk import Desk
from hotline.ops import Health, WorkerCounters, render_metrics
from hotline.ports import Clock
from hotline.screening_service import ScreeningService
from hotline.settings import Settings
from hotline.station import reminders
from hotline.station.sink import MailStation
from hotline.storage import inbound, line_repo, repo
from hotline.storage.leases import Locks
from hotline.storage.repo import Store
from hotline.timer_kinds import TimerKind
from hotline.timers import Handler, TimerService

if TYPE_CHECKING:
    from hotline.app_telegram import TelegramWiring

log = logging.getLogger(__name__)

LINE_EVENT_IDS_KEPT = timedelta(days=7)  # ids of LINE events carried out, kept against redelivery


def next_night(now: datetime, zone: ZoneInfo) -> datetime:
    """The next 03:00 local time, when the line is quiet."""
    local = now.astimezone(zone)
    night = local.replace(hour=3, minute=0, second=0, microsecond=0)
    return night if night > local else night + timedelta(days=1)


async def start_listener(
    stack: AsyncExitStack,
    *,
    settings: Settings,
    store: Store,
    locks: Locks,
    desk: Desk,
    clock: Clock,
    timers: TimerService,
    loops: dict[str, Callable[[], bool]],
    telegram: TelegramWiring | None,
    screening: ScreeningService | None = None,
) -> None:
    """``/healthz`` and ``/metrics`` and, in webhook mode, Telegram's webhook, on one listener: the
    webhook's ``_LISTEN`` address, or ``HOTLINE_OPS_LISTEN`` when polling. The webhook answers 403 to any
    request without our secret token in the ``X-Telegram-Bot-Api-Secret-Token`` header (set with the
    webhook)."""
    webhook = telegram is not None and telegram.webhook
    listen = settings.telegram_webhook_listen if webhook else settings.ops_listen
    if listen is None:
        return
    from hotline.bot.webhook import Listener  # aiohttp: only a service that listens needs it

    counters = WorkerCounters(
        updates=telegram.updates if telegram is not None else lambda: 0,
        paced=telegram.paced if telegram is not None else lambda: 0,
        retried=telegram.retried if telegram is not None else lambda: 0,
        timers_fired=lambda: timers.fired,
    )
    if screening is not None:
        counters.screening_late = lambda: screening.late
        counters.screening_late_found = lambda: screening.late_found
    if telegram is not None:
        loops = {"Telegram": telegram.running(), **loops}
    health = Health(store, loops)
    listener = Listener(listen, health, functools.partial(render_metrics, store, clock, counters))
    secret = ""
    if webhook:
        assert telegram is not None and settings.telegram_webhook_url and settings.telegram_webhook_secret
        secret = settings.telegram_webhook_secret.get_secret_value()
        inbox = telegram.webhook_inbox(stack, store, locks, desk, clock)
        listener.add_webhook(urlsplit(settings.telegram_webhook_url).path, secret, inbox.accept)
    await listener.start()
    stack.push_async_callback(listener.stop)
    if webhook:
        assert telegram is not None
        await telegram.set_webhook(secret)


def timer_handlers(
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
            await repo.schedule(s, TimerKind.DAILY, next_night(now, desk.hours.zone), now)

    return {
        TimerKind.DAILY: daily,
        TimerKind.SESSION_REMIND: remind,
        TimerKind.CASE_OFFER: offer,
        TimerKind.CRISIS_ESCALATE: escalate,
        TimerKind.CRISIS_RESEND: resend,
        TimerKind.EMAIL_REMIND: mail_remind,
        TimerKind.EMAIL_ESCALATE: mail_overdue,
    }


__all__ = ["LINE_EVENT_IDS_KEPT", "next_night", "start_listener", "timer_handlers"]
