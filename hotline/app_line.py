"""The LINE part of the wiring (``app.py``, issue 15): employees on LINE, on the same flows through their
own runner and adapter; the webhook stores each event before answering and the inbox carries them out
per user in order (on PostgreSQL by whichever worker holds the user's lock: ``line/shared.py``). Imported
only when LINE is configured (the LINE SDK is not needed otherwise).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

from linebot.v3 import WebhookParser
from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, Configuration

from hotline import recent
from hotline.bot.aftercare import Aftercare
from hotline.bot.runner import EmployeeRunner
from hotline.desk import Desk
from hotline.domain import Channel
from hotline.line.front import LineFront
from hotline.line.inbox import LineInbox
from hotline.line.send import LineEmployees
from hotline.line.shared import MAX_STARTS, SharedLineInbox
from hotline.line.webhook import LineWebhook
from hotline.ports import Clock
from hotline.screening_service import ScreeningService
from hotline.storage import line_repo, repo
from hotline.storage.leases import Locks


@dataclass(frozen=True)
class LineParts:
    runner: EmployeeRunner
    inbox: LineInbox
    webhook: LineWebhook


async def start_line(
    stack: AsyncExitStack,
    *,
    desk: Desk,
    screening: ScreeningService,
    window: recent.Window,
    flood: recent.Flood,
    aftercare: Aftercare,
    clock: Clock,
    poll: bool,
    locks: Locks,
) -> LineParts:
    settings, store = desk.settings, desk.store
    assert settings.line_channel_secret is not None and settings.line_channel_access_token is not None
    client = AsyncApiClient(
        Configuration(
            host=settings.line_api_url,
            access_token=settings.line_channel_access_token.get_secret_value(),
        )
    )
    stack.push_async_callback(client.close)

    def pseudonym(user_id: str) -> str:
        return store.vault.pseudonym(Channel.LINE.value, user_id)

    async def is_blocked(key: str) -> bool:  # the database's, not this worker's memory
        async with store.unit() as s:
            return await line_repo.is_blocked(s, key)

    api = AsyncMessagingApi(client)
    employees = LineEmployees(api, pseudonym, settings.line.reply_token_seconds, is_blocked)
    desk.channels.register(employees)
    known = None if store.locking else await repo.pseudonyms(store, Channel.LINE)
    runner = EmployeeRunner(
        desk, screening, known, flood, window=window, channel=Channel.LINE,
        aside=aftercare.aside, after_end=aftercare.case_ended,
    )  # fmt: skip
    front = LineFront(desk, runner, employees, aftercare)
    concurrency = settings.line.concurrent_events
    inbox = (  # several workers on PostgreSQL: per user under an advisory lock; SQLite: one process
        SharedLineInbox(
            store,
            locks,
            front.process,
            pseudonym,
            desk.deliver,
            clock,
            concurrency,
            set_aside=lambda seq: desk.alerts.line_event_set_aside(seq, MAX_STARTS),
        )
        if store.locking
        else LineInbox(store, front.process, pseudonym, clock, concurrency)
    )
    stack.push_async_callback(inbox.close)
    webhook = LineWebhook(
        WebhookParser(settings.line_channel_secret.get_secret_value()),
        inbox,
        settings.line_webhook_listen,
    )
    if poll:
        # Events stored before a restart and not yet carried out go first, before anything new can
        # arrive (the inbox also never queues one event twice; with several workers, each one's
        # dispatcher takes only users it can lock).
        await inbox.resume()
        await webhook.start()
        stack.push_async_callback(webhook.stop)
    return LineParts(runner, inbox, webhook)


__all__ = ["LineParts", "start_line"]
