"""LINE on several workers (issue 15), PostgreSQL, two services with their own LINE webhooks, connections
and locks: an event delivered to both at once is carried out once; a user's events spread over both are
carried out in order; what is left stored when workers start (a restart, a dead worker) is carried out
once however many start, one event in a worker's hands is not taken by another; a dead worker's settled
event has only its replies sent; a user blocked on one worker is blocked on every worker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from hotline.bot.inbox import seal_replies
from hotline.crypto import Vault
from hotline.desk import Outgoing
from hotline.errors import ChatUnavailable
from hotline.line.send import LineEmployees, line_recipient
from hotline.sandbox import LineEmulator, TelegramEmulator
from hotline.sandbox.line_model import LineEvent as Emitted
from hotline.sandbox.line_model import dumps
from hotline.sandbox.stage import DEMO_SECRET, Stage, StageClock, stage_settings
from hotline.storage import line_repo
from hotline.storage.models import LineEvent
from hotline.storage.repo import Store
from tests.conftest import TOKEN
from tests.servers.dovecot import free_port

HOOK_SECRET = "line-workers-secret-0123456789abcdef"
NOTICE = "LINE 名稱"  # in the consent notice


@asynccontextmanager
async def line_emulator() -> AsyncIterator[LineEmulator]:
    async with LineEmulator(reply_token_lifetime=60, redelivery_delay=0.05) as line:
        line.set_webhook(None)  # the tests post each delivery themselves, to the worker they choose
        yield line


def worker(emu: TelegramEmulator, line: LineEmulator, pg_url: str, clock: StageClock) -> Stage:
    port = free_port()
    settings = stage_settings(
        emu.api_url, TOKEN, pg_url,
        telegram_webhook_url=f"http://127.0.0.1:{port}/hook", telegram_webhook_secret=HOOK_SECRET,
        telegram_webhook_listen=f"127.0.0.1:{port}",
        line_channel_secret=line.channel_secret, line_channel_access_token=line.access_token,
        line_api_url=line.api_url, line_webhook_listen="127.0.0.1:0",
    )  # fmt: skip
    return Stage(emu, settings, clock, background_timers=False)


def url_of(stage: Stage) -> str:
    webhook = stage.running.line_webhook
    assert webhook is not None
    return webhook.url


async def post(http: aiohttp.ClientSession, line: LineEmulator, url: str, event: Emitted) -> int:
    body = dumps({"destination": line.bot_user_id, "events": [event.to_json(redelivery=False)]})
    headers = {"X-Line-Signature": line.sign(body), "Content-Type": "application/json"}
    async with http.post(url, data=body, headers=headers) as response:
        return response.status


async def idle(*stages: Stage) -> None:
    for _ in range(2):  # one worker's last mark may follow the other's look
        for stage in stages:
            inbox = stage.running.line_inbox
            assert inbox is not None
            await asyncio.wait_for(inbox.idle(), 30)


async def ledger(store: Store | None) -> list[tuple[str, int, bool]]:
    assert store is not None
    async with store.unit() as s:
        rows = (await s.execute(sa.select(LineEvent).order_by(LineEvent.seq))).scalars()
        return [(r.event_id, r.attempts, r.done_at is not None) for r in rows]


async def test_an_event_delivered_to_both_workers_is_carried_out_once_and_a_users_events_in_order(
    emu: TelegramEmulator, pg_url: str, clock: StageClock
) -> None:
    async with line_emulator() as line:
        mei = line.user("小美")
        stages = [worker(emu, line, pg_url, clock), worker(emu, line, pg_url, clock)]
        async with stages[0], stages[1], aiohttp.ClientSession() as http:
            urls = [url_of(stage) for stage in stages]
            events = [line.send_text(mei, text) for text in ("/start", "/help", "/start")]
            for n, event in enumerate(events):  # each to both workers at once, the first alternating
                first, second = urls[n % 2], urls[1 - n % 2]
                both = await asyncio.gather(post(http, line, first, event), post(http, line, second, event))
                assert list(both) == [200, 200]
            assert await post(http, line, urls[1], events[0]) == 200  # and once more, late: a redelivery
            await idle(*stages)
            done = await ledger(stages[0].running.store)
        texts = line.texts(mei)
    assert done == [(e.webhook_event_id, 1, True) for e in events], "each stored once, begun once"
    notice, help_text, prompt, again = texts  # nothing twice, and in order
    assert NOTICE in notice and again == notice
    assert "/start" in help_text and len({notice, help_text, prompt}) == 3


async def store_as_left(pg_url: str, rows: list[tuple[Emitted, str, dict[str, Any]]]) -> None:
    """Line events as a worker that stopped would leave them: ``(event, user, columns)``."""
    vault = Vault(DEMO_SECRET)
    store = Store(pg_url, vault)
    try:
        async with store.unit() as s:
            for event, user, columns in rows:
                sealed = vault.encrypt(
                    json.dumps(event.to_json(redelivery=False)), context=line_repo.EVENT_CONTEXT
                )
                s.add(
                    LineEvent(
                        event_id=event.webhook_event_id,
                        user_key=vault.pseudonym("line", user),
                        received_at=datetime.now(UTC),
                        **({"payload_enc": sealed} | columns),
                    )
                )
    finally:
        await store.close()


async def test_events_left_stored_are_carried_out_once_by_workers_starting_together(
    emu: TelegramEmulator, pg_url: str, clock: StageClock
) -> None:
    async with line_emulator() as line:
        mei, jie, ann = line.user("小美"), line.user("阿傑"), line.user("安安")
        waiting, begun, settled = (line.send_text(u, "/start") for u in (mei, jie, ann))
        replies = seal_replies(
            Vault(DEMO_SECRET), [Outgoing(line_recipient(ann.user_id), "已經決定好的回覆")]
        )
        dead = {"attempts": 1, "started_by": "hotline:dead:1:x"}
        await store_as_left(
            pg_url,
            [
                (waiting, mei.user_id, {}),  # stored, never begun (the service stopped)
                (begun, jie.user_id, dead),  # begun by a worker that died
                (
                    settled,
                    ann.user_id,
                    dead | {"payload_enc": None, "replies_enc": replies},
                ),  # replies unsent
            ],
        )
        hold = line.hold_next("reply", to=mei)  # the first worker keeps mei's event in hand
        first, second = worker(emu, line, pg_url, clock), worker(emu, line, pg_url, clock)
        async with first:
            await asyncio.wait_for(hold.reached.wait(), 30)
            async with second:
                await asyncio.sleep(0.5)  # the second worker looks for users meanwhile: mei is held
                hold.release()
                await idle(first, second)
                done = await ledger(second.running.store)
        texts = {u.display_name: line.texts(u) for u in (mei, jie, ann)}
    assert [t for t in texts["小美"] if NOTICE in t] == texts["小美"] and len(texts["小美"]) == 1, texts
    assert len(texts["阿傑"]) == 1 and NOTICE in texts["阿傑"][0], "the dead worker's event, carried out once"
    assert texts["安安"] == ["已經決定好的回覆"], "a settled event is not carried out again; its reply goes"
    assert done == [
        (waiting.webhook_event_id, 1, True),
        (begun.webhook_event_id, 2, True),
        (settled.webhook_event_id, 2, True),
    ]


async def test_a_user_who_blocked_the_account_on_one_worker_is_blocked_on_every_worker(
    emu: TelegramEmulator, pg_url: str, clock: StageClock
) -> None:
    async with line_emulator() as line:
        mei = line.user("小美")
        stages = [worker(emu, line, pg_url, clock), worker(emu, line, pg_url, clock)]
        async with stages[0], stages[1], aiohttp.ClientSession() as http:
            assert await post(http, line, url_of(stages[0]), line.unfollow(mei)) == 200
            await idle(*stages)
            other = stages[1].running.desk.channels.adapter("line")  # type: ignore[union-attr]
            assert isinstance(other, LineEmployees)
            calls = len(line.calls)
            with pytest.raises(ChatUnavailable, match="blocked"):
                await other.send_text(line_recipient(mei.user_id), "心理師回覆了您")
            assert len(line.calls) == calls, "nothing is sent to someone who blocked the account"
            assert await post(http, line, url_of(stages[0]), line.follow(mei, unblocked=True)) == 200
            await idle(*stages)
            await other.send_text(line_recipient(mei.user_id), "心理師回覆了您")
        assert line.texts(mei)[-1] == "心理師回覆了您"
