"""LINE on several workers (issue 15), PostgreSQL: the hardening Telegram's inbox has (issue 14).

An event that always fails is set aside after :data:`MAX_STARTS` starts, kept sealed as stored (never
pruned or purged) and every supervisor is told at once without its content. A worker whose lock
connection is dropped (``pg_terminate_backend``) while it carries out an event finds, when it settles
or finishes it, that the event is no longer its own: its transaction is rolled back and it leaves the
user alone. A worker whose oldest waiting users are all held by other workers still finds the next. A
two-part event ("/help 我不想活了") is settled by its last part only: a stop between loses no crisis.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from linebot.v3.webhooks import Event, MessageEvent, TextMessageContent

from hotline.bot.runner import EmployeeRunner
from hotline.crypto import Vault
from hotline.desk import Outgoing
from hotline.dispatch import Dispatch
from hotline.flows.vocabulary import Said
from hotline.line import ticket
from hotline.line.shared import MAX_STARTS, NO_USER, SharedLineInbox
from hotline.privacy.purge import purge
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import DEMO_SECRET, StageClock
from hotline.settings import RetentionSection
from hotline.storage import db, line_repo, repo
from hotline.storage.leases import Locks
from hotline.storage.models import LineEvent, Timer
from hotline.storage.repo import Store
from hotline.timer_kinds import TimerKind
from tests.line.test_line_workers import line_emulator, post, url_of, worker
from tests.scale.test_lock_lost import drop_lock_connection
from tests.tests_support import SUPERVISOR

SECRET = "line-hardening-secret-0123456789abcdef"
CRISIS = "我今晚要從頂樓跳下去"
WAIT = 20.0
Process = Callable[[Event], Awaitable[None]]


def now() -> datetime:
    return datetime.now(UTC)


def user(n: int) -> str:
    return f"U{n:032x}"


def text_event(event_id: str, user_id: str, text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "mode": "active",
        "timestamp": 1_700_000_000_000,
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": False},
        "replyToken": f"token-{event_id}",
        "message": {"id": event_id, "type": "text", "quoteToken": "q", "text": text},
    }


def said(event: Event) -> str:
    assert isinstance(event, MessageEvent) and isinstance(event.message, TextMessageContent)
    return str(event.message.text)


@asynccontextmanager
async def line_worker(
    url: str, name: str, process: Process, concurrency: int = 4
) -> AsyncIterator[SharedLineInbox]:
    """One worker's LINE inbox (its dispatcher not started): its own engine, lock connection and owner."""
    store = Store(url, Vault(SECRET))
    locks = Locks(store.engine, f"hotline:test:{name}:line")

    async def deliver(items: Sequence[Outgoing]) -> None:
        return None

    box = SharedLineInbox(
        store, locks, process, lambda u: store.vault.pseudonym("line", u), deliver, now, concurrency
    )
    box.accepting = False  # stored only, until the test starts the dispatcher
    try:
        yield box
    finally:
        await box.close(grace=1.0)
        await locks.close()
        await store.close()


def start(box: SharedLineInbox) -> None:
    box.accepting = True
    box._loop.start()


async def decide(box: SharedLineInbox, wait: asyncio.Event | None = None) -> None:
    """What the runner does: write what the event decided and settle it in one transaction (a timer row
    stands for the decision), waiting for ``wait`` inside the transaction when given."""
    async with box.store.unit() as s:
        await repo.schedule(s, TimerKind.DAILY, now(), now())
        if wait is not None:
            await wait.wait()
        await ticket.settle(s, Dispatch())


async def let_go(box: SharedLineInbox) -> None:
    """Until the inbox works on no user."""
    for _ in range(int(WAIT / 0.02)):
        if not box._drains:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the worker did not let the user go")


async def rows(box: SharedLineInbox) -> list[LineEvent]:
    async with box.store.unit() as s:
        return list((await s.execute(sa.select(LineEvent).order_by(LineEvent.seq))).scalars())


async def test_a_worker_whose_lock_was_lost_does_not_settle_the_event(pg_url: str) -> None:
    await db.upgrade(pg_url)
    calls: list[str] = []
    a_inside, b_settled = asyncio.Event(), asyncio.Event()

    async def process_a(event: Event) -> None:
        calls.append("A " + said(event))
        a_inside.set()
        await decide(a, wait=b_settled)  # settles after B did

    async def process_b(event: Event) -> None:
        calls.append("B " + said(event))
        await decide(b)
        b_settled.set()

    async with line_worker(pg_url, "a", process_a) as a, line_worker(pg_url, "b", process_b) as b:
        await a.accept([text_event("E1", user(1), "一")])
        start(a)
        await asyncio.wait_for(a_inside.wait(), WAIT)
        await drop_lock_connection(pg_url, a.locks.owner)  # A's lock is gone; A does not know yet
        start(b)
        await asyncio.wait_for(b_settled.wait(), WAIT)
        await let_go(a)
        await let_go(b)
        async with b.store.unit() as s:
            decisions = await s.scalar(sa.select(sa.func.count()).select_from(Timer))
        [row] = await rows(b)
    assert calls == ["A 一", "B 一"]
    assert decisions == 1, "the event was carried out once: A's transaction was rolled back"
    assert row.started_by == b.locks.owner and row.done_at is not None and row.attempts == 2


async def test_a_worker_whose_lock_was_lost_does_not_go_on_with_the_user(pg_url: str) -> None:
    await db.upgrade(pg_url)
    calls: list[str] = []
    a_settled, a_go, b_inside, b_go = asyncio.Event(), asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def process_a(event: Event) -> None:
        calls.append("A " + said(event))
        await decide(a)
        if said(event) == "一":
            a_settled.set()
            await a_go.wait()  # settled, its replies going out; not yet finished

    async def process_b(event: Event) -> None:
        calls.append("B " + said(event))
        b_inside.set()
        await decide(b, wait=b_go)

    async with line_worker(pg_url, "c", process_a) as a, line_worker(pg_url, "d", process_b) as b:
        await a.accept([text_event("E1", user(2), "一"), text_event("E2", user(2), "二")])
        start(a)
        await asyncio.wait_for(a_settled.wait(), WAIT)
        await drop_lock_connection(pg_url, a.locks.owner)
        start(b)  # B finishes event 1 (only its replies remain) and begins event 2
        await asyncio.wait_for(b_inside.wait(), WAIT)
        a_go.set()  # A would now finish event 1 and begin event 2: it is no longer A's user
        await let_go(a)
        b_go.set()
        await let_go(b)
        async with b.store.unit() as s:
            decisions = await s.scalar(sa.select(sa.func.count()).select_from(Timer))
        ledger = [(r.event_id, r.started_by, r.done_at is not None) for r in await rows(b)]
    assert calls == ["A 一", "B 二"], "event 2 was carried out by one worker"
    assert decisions == 2
    assert ledger == [("E1", b.locks.owner, True), ("E2", b.locks.owner, True)]


async def test_a_worker_finds_a_user_past_the_ones_other_workers_hold(pg_url: str) -> None:
    """N users held by another worker, N+1 waiting: the worker (concurrency N) takes the last one."""
    await db.upgrade(pg_url)
    n = 2
    done = asyncio.Event()
    seen: list[str] = []

    async def process(event: Event) -> None:
        seen.append(said(event))
        await decide(box)
        done.set()

    async with line_worker(pg_url, "e", process, concurrency=n) as box:
        other = Locks(box.store.engine, "hotline:test:other:line")
        try:
            await box.accept([text_event(f"E{i}", user(10 + i), f"第{i}位") for i in range(n + 1)])
            for i in range(n):  # the N oldest users are held by another worker
                assert await other.try_chat(box.lock_key(box.pseudonym(user(10 + i))))
            assert box.lock_key(None) == NO_USER
            start(box)
            await asyncio.wait_for(done.wait(), WAIT)
            assert seen == [f"第{n}位"]
        finally:
            await other.close()


async def test_an_event_that_always_fails_is_set_aside_sealed_and_the_supervisors_told(
    emu: TelegramEmulator, pg_url: str, clock: StageClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu.user(SUPERVISOR, "Lin", started=True)
    calls: list[str] = []

    async def always_fails(self: EmployeeRunner, *args: Any) -> None:
        calls.append("said")
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(EmployeeRunner, "said", always_fails)
    async with line_emulator() as line:
        mei = line.user("小美")
        crisis = line.send_text(mei, CRISIS)
        later = line.send_text(mei, "/start")
        stage = worker(emu, line, pg_url, clock)
        async with stage, aiohttp.ClientSession() as http:
            assert await post(http, line, url_of(stage), crisis) == 200
            alert = await emu.wait_for(
                lambda c: c.ok and "暫停處理" in str(c.params.get("text")), method="sendMessage",
                chat_id=SUPERVISOR, since=0, timeout=30,
            )  # fmt: skip
            assert await post(http, line, url_of(stage), later) == 200  # the user's later events go on
            inbox = stage.running.line_inbox
            assert inbox is not None
            await asyncio.wait_for(inbox.idle(), 30)
        store = Store(pg_url, Vault(DEMO_SECRET))
        try:
            async with store.unit() as s:
                [aside, after] = list(
                    (await s.execute(sa.select(LineEvent).order_by(LineEvent.seq))).scalars()
                )
                assert await line_repo.set_aside_count(s) == 1
                assert await line_repo.prune(s, now() + timedelta(days=365)) == 1, "only the one carried out"
            report = await purge(
                store, RetentionSection(), now=now() + timedelta(days=1), compact_after=False
            )
            async with store.unit() as s:
                kept = await s.get(LineEvent, aside.seq)
            assert report.line_events == 0 and kept is not None and kept.payload_enc == aside.payload_enc
            past = await purge(
                store, RetentionSection(), now=now() + timedelta(days=3650), compact_after=False
            )  # past contact_days: erased like any event never carried out
            async with store.unit() as s:
                erased = await s.get(LineEvent, aside.seq)
            assert past.line_events == 1 and erased is not None
            assert (erased.payload_enc, erased.user_key) == (None, None)
            assert aside.payload_enc is not None
            raw = store.vault.decrypt(aside.payload_enc, context=line_repo.EVENT_CONTEXT)
        finally:
            await store.close()
        texts = line.texts(mei)
    assert len(calls) == MAX_STARTS
    assert aside.attempts == MAX_STARTS + 1 and aside.done_at is not None, "set aside: done, not erased"
    assert aside.user_key == store.vault.pseudonym("line", mei.user_id), "its user kept, to queue it again"
    assert json.loads(raw)["message"]["text"] == CRISIS, "kept sealed as it was stored"
    assert after.done_at is not None and after.payload_enc is None and any("LINE" in t for t in texts)
    text = str(alert.params.get("text"))
    assert f"{aside.seq}" in text and "頂樓" not in text and mei.user_id not in text, (
        "no content, no identity"
    )


async def test_a_crisis_after_a_command_survives_a_stop_between_the_two(
    emu: TelegramEmulator, pg_url: str, clock: StageClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "/help 我今晚要從頂樓跳下去" on LINE: the command is carried out in one transaction, its words in
    the next. A worker that stops between the two (here: the second part fails once) must not have
    settled the event with the first: it is carried out again whole, and the crisis reaches the runner."""
    original = EmployeeRunner.handle
    failed: list[str] = []
    crises: list[str] = []

    async def fails_between(self: EmployeeRunner, user_id: int | str, chat_id: int | str, event: Any) -> None:
        if isinstance(event, Said) and "#2" in event.text:
            if not failed:
                failed.append("after the command, before its words")
                raise RuntimeError("the worker stopped here")
            crises.append(event.text)
        await original(self, user_id, chat_id, event)

    monkeypatch.setattr(EmployeeRunner, "handle", fails_between)
    async with line_emulator() as line:
        mei = line.user("小美")
        first = line.send_text(mei, CRISIS)  # opens a case: the command is carried out in a transaction
        both = line.send_text(mei, f"/help {CRISIS} #2")
        stage = worker(emu, line, pg_url, clock)
        async with stage, aiohttp.ClientSession() as http:
            assert await post(http, line, url_of(stage), first) == 200
            assert await post(http, line, url_of(stage), both) == 200
            inbox = stage.running.line_inbox
            assert inbox is not None
            await asyncio.wait_for(inbox.idle(), 30)
            [_, row] = await rows_of(stage)
    assert failed and crises == [f"{CRISIS} #2"], "the words after the command were carried out, once"
    assert row.attempts == 2 and row.done_at is not None


async def rows_of(stage: Any) -> list[LineEvent]:
    store = stage.running.store
    assert store is not None
    async with store.unit() as s:
        return list((await s.execute(sa.select(LineEvent).order_by(LineEvent.seq))).scalars())
