"""Telegram's flood limits, honoured (issue 14): the emulator enforces them as Telegram does and records
every refusal; the service paces its messages so that none is refused, crisis messages first.

No timing is asserted: the emulator's refusals, the order of arrival and the counts say it all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hotline.app import Service
from hotline.desk import Desk, Outgoing
from hotline.pacing import NoPacing, Pacer, urgent
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import Stage, StageClock, stage_settings
from tests.tests_support import COUNSELOR

TOKEN = "4242:TEST-TOKEN-hotline"
JUMP = "我真的撐不下去了，今晚想從頂樓跳下去"


def texts_to(emu: TelegramEmulator, chat_id: int, since: int) -> list[str]:
    return [c.text or "" for c in emu.calls_to(chat_id, "sendMessage", since=since) if c.ok]


@pytest.fixture
async def paced(sqlite_url: str, clock: StageClock) -> AsyncIterator[Stage]:
    """The service, pacing on, against an emulator that enforces Telegram's limits (its default)."""
    async with (
        TelegramEmulator(token=TOKEN) as emu,
        Stage(emu, stage_settings(emu.api_url, TOKEN, sqlite_url), clock) as stage,
    ):
        yield stage


async def burst(desk: Desk, chat_id: int, texts: list[str]) -> None:
    """Each text sent as its own delivery, all at once (as concurrent updates would)."""
    await asyncio.gather(*(desk.deliver([Outgoing(chat_id, text)]) for text in texts))


async def test_a_burst_to_one_chat_is_spread_nothing_lost_or_twice(paced: Stage) -> None:
    stage, emu = paced, paced.emu
    wang = emu.user(COUNSELOR, "Wang", started=True)
    desk = stage.running.desk
    assert desk is not None
    sent = [f"第 {i} 則" for i in range(6)]
    mark = emu.mark()
    await burst(desk, wang.id, sent)
    assert texts_to(emu, wang.id, mark) == sent, "each once, in the order given"
    assert emu.refusals == [], "no message was refused by Telegram's limits"

    # The same burst without pacing: Telegram refuses (the check above can fail).
    gateway = desk.gateway
    gateway.pacer = Pacer(NoPacing())  # type: ignore[attr-defined]
    await burst(desk, wang.id, [f"無節制 {i}" for i in range(6)])
    assert emu.refusals, "an unpaced burst is refused"


async def test_a_crisis_alert_overtakes_queued_ordinary_messages(paced: Stage) -> None:
    stage, emu = paced, paced.emu
    wang = emu.user(COUNSELOR, "Wang")
    await stage.say(wang, "/onduty", containing="值班")
    desk = stage.running.desk
    assert desk is not None
    queued = [f"一般訊息 {i}" for i in range(6)]
    mark = emu.mark()
    ordinary = asyncio.create_task(burst(desk, wang.id, queued))
    await emu.wait_for(lambda c: c.ok, method="sendMessage", chat_id=wang.id, since=mark)
    before = len(texts_to(emu, wang.id, mark))
    jie = emu.user(5101, "阿傑")
    await emu.send_text(jie, JUMP)
    await ordinary
    await stage.next_message(wang.id, since=mark, containing="危機通報")
    order = texts_to(emu, wang.id, mark)
    alert_at = next(i for i, t in enumerate(order) if "危機通報" in t)
    # At most one ordinary message was already on its way when the alert came.
    assert alert_at <= before + 1 and len(order) - alert_at - 1 >= len(queued) - before - 1
    assert sorted(t for t in order if "危機通報" not in t) == sorted(queued)
    assert emu.refusals == []


async def test_a_429_is_waited_out_and_sent_once_more(paced: Stage) -> None:
    stage, emu = paced, paced.emu
    wang = emu.user(COUNSELOR, "Wang", started=True)
    desk = stage.running.desk
    assert desk is not None
    emu.fail_next("sendMessage", status=429, retry_after=1, chat_id=wang.id)
    mark = emu.mark()
    refs = await desk.deliver([Outgoing(wang.id, "請稍候再送")])
    calls = emu.calls_to(wang.id, "sendMessage", since=mark)
    assert [(c.status, c.injected) for c in calls] == [(429, True), (200, False)]
    assert refs[0] is not None and texts_to(emu, wang.id, mark) == ["請稍候再送"]
    assert desk.gateway.retried == 1  # type: ignore[attr-defined]


async def test_two_workers_on_postgresql_share_the_limits(pg_url: str) -> None:
    """Two services on one database, each bursting to the same counselor: the budget in PostgreSQL
    holds for both (the per-process one would let each send its own burst and be refused)."""
    async with TelegramEmulator(token=TOKEN) as emu:
        wang = emu.user(COUNSELOR, "Wang", started=True)
        settings = stage_settings(emu.api_url, TOKEN, pg_url)
        async with Service(settings, poll=False) as one, Service(settings, poll=False) as two:
            assert one.desk is not None and two.desk is not None
            mark = emu.mark()
            first, second = [f"甲 {i}" for i in range(3)], [f"乙 {i}" for i in range(3)]
            await asyncio.gather(burst(one.desk, wang.id, first), burst(two.desk, wang.id, second))
            got = texts_to(emu, wang.id, mark)
            assert sorted(got) == sorted(first + second), "each once"
            assert [t for t in got if t in first] == first and [t for t in got if t in second] == second
            assert emu.refusals == []


async def test_urgent_marks_only_its_block() -> None:
    from hotline.pacing import is_urgent

    assert not is_urgent()
    with urgent():
        assert is_urgent()
    assert not is_urgent()


async def test_an_alert_takes_a_freed_slot_before_a_crisis_reply_asking_at_the_same_moment() -> None:
    """The bot's slots all taken; when one frees, an alert to a counselor and a crisis reply to an employee
    ask at the same moment: the alert may go, the reply waits a moment (and still goes before anything
    ordinary)."""
    from hotline.pacing import CRISIS_LAG, PRIORITY_LAG, Limits, MemoryBudget, Rate

    now = [100.0]
    budget = MemoryBudget(Limits(bot=Rate.of(30, 1), chat=Rate.of(1, 1)), clock=lambda: now[0])
    assert await budget.take("someone", urgent=False) == 0.0  # the bot's one slot taken
    now[0] += 1 / 30  # it frees now
    reply_wait = await budget.take("employee", urgent=True)
    ordinary_wait = await budget.take("colleague", urgent=False)
    assert reply_wait == pytest.approx(CRISIS_LAG) and ordinary_wait == pytest.approx(PRIORITY_LAG)
    assert await budget.take("counselor", urgent=True, alert=True) == 0.0


async def test_urgent_alert_marks_only_its_block() -> None:
    from hotline.pacing import is_alert, is_urgent

    with urgent():
        assert is_urgent() and not is_alert()
        with urgent(alert=True):
            assert is_urgent() and is_alert()
        assert is_urgent() and not is_alert()
    assert not is_urgent() and not is_alert()
