"""The LINE part of the wiring (``app.py``, issue 15): employees on LINE, on the same flows through their
own runner and adapter; the webhook stores each event before answering and the inbox carries them out
per user in order (on PostgreSQL by whichever worker holds the user's lock: ``line/shared.py``). Imported
only when LINE is configured (the LINE SDK is not needed otherwise).
"""

from __future__ import annotations

import ssl
from contextlib import AsyncExitStack
from dataclasses import dataclass

from aiohttp import ClientSession, TCPConnector
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
from hotline.settings import Settings
from hotline.storage import line_repo, repo
from hotline.storage.leases import Locks


@dataclass(frozen=True)
class LineParts:
    runner: EmployeeRunner
    inbox: LineInbox
    webhook: LineWebhook


async def line_client(settings: Settings) -> AsyncApiClient:
    """line-bot-sdk's client for the LINE API, on an HTTP session that does not read the environment.

    The SDK's session trusts the environment, so aiohttp looks up the proxy variables and ``~/.netrc`` in a
    worker thread on every request: two thread hops a reply, on a loop that is busy with a burst (the LINE
    benchmark, lexicon alone, 300 first messages: 0.545 → 0.413 s, the echo 0.35 s). The same session
    without it; the proxy is resolved once (`Settings.line_proxy`) and given to the SDK, which passes it
    with each request. (A ``~/.netrc`` entry for the LINE host would have clashed with the bearer token.)"""
    assert settings.line_channel_access_token is not None
    configuration = Configuration(
        host=settings.line_api_url,
        access_token=settings.line_channel_access_token.get_secret_value(),
    )
    configuration.proxy = settings.line_proxy()  # an attribute, not a constructor argument, in the SDK
    client = AsyncApiClient(configuration)
    rest = client.rest_client
    await rest.pool_manager.close()
    rest.pool_manager = ClientSession(
        connector=TCPConnector(
            limit=configuration.connection_pool_maxsize,
            ssl=ssl.create_default_context(cafile=configuration.ssl_ca_cert),
        ),
        trust_env=False,
    )
    return client


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
    client = await line_client(settings)
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
