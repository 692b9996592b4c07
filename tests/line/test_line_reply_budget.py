"""The reply budget on LINE (``[screening] reply_budget_ms``): a LINE user's message is answered before its
learned verdict; a late crisis verdict takes the crisis path for it, before the user's next event; and a
stop between the early reply and the verdict leaves the event stored, to be screened again at the start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import select

import hotline.app
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import StageClock
from hotline.storage import repo
from hotline.storage.models import Case
from tests.learned_gate import FAREWELL, Gate
from tests.line.line_support import LineStage, line_stage
from tests.line.test_line_e2e import on_duty
from tests.tests_support import COUNSELOR

DEBT = "卡債越來越多，不知道怎麼辦。"
CRISIS_REPLY = "通知值班心理師"  # in both crisis replies
NOTICE = "LINE 名稱"


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    layer = Gate()
    monkeypatch.setattr(hotline.app, "load_learned_layer", lambda settings: layer)
    return layer


@asynccontextmanager
async def no_budget(
    emu: TelegramEmulator, url: str, clock: StageClock, gate: Gate
) -> AsyncIterator[LineStage]:
    async with line_stage(emu, url, clock, screening={"reply_budget_ms": 0}) as ls:
        try:
            yield ls
        finally:
            gate.open()  # nothing left waiting on the gate while the service stops


async def case_texts(ls: LineStage) -> list[tuple[str, str]]:
    store = ls.stage.running.store
    assert store is not None
    async with store.unit() as s:
        [case] = (await s.scalars(select(Case))).all()
        return await repo.messages_of(s, store, case.id)


async def test_a_late_crisis_is_answered_before_the_users_next_event(
    emu: TelegramEmulator, sqlite_url: str, clock: StageClock, gate: Gate
) -> None:
    async with no_budget(emu, sqlite_url, clock, gate) as ls:
        stage, line = ls.stage, ls.line
        await on_duty(stage)
        mei = line.user("小美")
        first = line.send_text(mei, FAREWELL)
        notice = await ls.answer(mei, first, containing=NOTICE)  # on the lexicon's screening
        second = line.send_text(mei, DEBT)
        assert (await line.wait_delivered(second)).status == 200  # stored, queued behind the first
        mark = stage.emu.mark()
        gate.open()
        crisis = await ls.answer(mei, first, containing=CRISIS_REPLY)
        received = await ls.answer(mei, second, containing="已加入")  # in the case the crisis opened
        assert notice.index < crisis.index < received.index
        alert = await stage.next_message(COUNSELOR, since=mark, containing="危機通報")
        assert FAREWELL in (alert.text or "") and "模型判讀" in (alert.text or "")
        await ls.settle(second)
        assert await case_texts(ls) == [("inbound", FAREWELL), ("inbound", DEBT)]


async def test_a_stop_before_the_late_verdict_screens_the_event_again_at_the_start(
    emu: TelegramEmulator, db_url: str, clock: StageClock, gate: Gate
) -> None:
    async with no_budget(emu, db_url, clock, gate) as ls:
        stage, line = ls.stage, ls.line
        await on_duty(stage)
        mei = line.user("小美")
        await ls.say(mei, "你好", containing=NOTICE)
        await ls.tap(mei, "我了解，開始諮詢", containing="領域")  # known now: the early reply commits
        event = line.send_text(mei, FAREWELL)
        await ls.answer(mei, event, containing="領域")  # "please use the buttons", on the lexicon's screening
        inbox = stage.running.line_inbox
        assert inbox is not None
        await inbox.close(grace=0)  # the process stops while the verdict is awaited: the event is cut off
        gate.open()  # the verdict comes to nobody
        mark = stage.emu.mark()
        await ls.restart()
        await ls.answer(mei, event, containing=CRISIS_REPLY)
        await stage.next_message(COUNSELOR, since=mark, containing="危機通報")
        await ls.idle()
        assert await case_texts(ls) == [("inbound", FAREWELL)], "kept once"
        early = [c for c in line.calls if c.ok and c.to == mei.user_id and any("按鈕" in t for t in c.texts)]
        assert len(early) == 2, "the early reply went again with the event carried out again"
