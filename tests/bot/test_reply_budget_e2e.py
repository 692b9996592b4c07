"""The reply budget (DESIGN §4 "never silence"): an employee's reply does not wait for a learned verdict
past ``[screening] reply_budget_ms``; a verdict that comes later and finds a crisis takes the crisis path
for that same message (crisis reply, alert, escalation, the case marked), without keeping or relaying the
text twice. The real PTB Application on the emulator; the learned layer is a gate the test opens."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import select

import hotline.app
from hotline.domain import Risk
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import Stage, StageClock, stage_settings
from hotline.screening_loader import load_screener
from hotline.screening_service import ScreeningService
from hotline.storage import repo
from hotline.storage.models import Case, Message, Timer
from hotline.timer_kinds import TimerKind
from tests.learned_gate import FAREWELL, WORN_OUT, Gate
from tests.tests_support import COUNSELOR, consent_and_area

TOKEN = "4242:TEST-TOKEN-hotline"
DEBT = "卡債越來越多，不知道怎麼辦。"
CRISIS_REPLY = "通知值班心理師"  # in both crisis replies (the notice names 1925 too)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    layer = Gate()
    monkeypatch.setattr(hotline.app, "load_learned_layer", lambda settings: layer)
    return layer


@asynccontextmanager
async def staged(
    emu: TelegramEmulator, url: str, clock: StageClock, gate: Gate, budget_ms: int
) -> AsyncIterator[Stage]:
    settings = stage_settings(
        emu.api_url, TOKEN, url, crisis={"ack_timeout_seconds": 2}, screening={"reply_budget_ms": budget_ms}
    )
    async with Stage(emu, settings, clock, background_timers=False) as stage:
        try:
            yield stage
        finally:
            gate.open()  # nothing left waiting on the gate while the service stops


def screening_of(stage: Stage) -> ScreeningService:
    runner = stage.running.runner
    assert runner is not None
    return runner.screening


async def the_case(stage: Stage) -> tuple[Case, list[Message], list[tuple[str, str]]]:
    store = stage.running.store
    assert store is not None
    async with store.unit() as s:
        [case] = (await s.scalars(select(Case))).all()
        rows = list((await s.scalars(select(Message).where(Message.case_id == case.id))).all())
        return case, rows, await repo.messages_of(s, store, case.id)


def test_the_lexicon_alone_lets_these_through() -> None:
    lexicon = load_screener()
    assert not any(lexicon.screen(text).risk.rank for text in (FAREWELL, WORN_OUT, DEBT))


async def test_a_late_crisis_on_a_first_message_notice_first_then_crisis_reply_and_alert(
    emu: TelegramEmulator, sqlite_url: str, clock: StageClock, gate: Gate
) -> None:
    async with staged(emu, sqlite_url, clock, gate, 0) as stage:
        await stage.say(emu.user(COUNSELOR, "Wang"), "/onduty", containing="值班")
        jie = emu.user(5301, "阿傑")
        mark = emu.mark()
        await stage.say(jie, FAREWELL, containing="7858")  # the notice, on the lexicon's screening
        assert not any(CRISIS_REPLY in text for text in stage.texts_to(jie.id, mark)), "the verdict is held"
        assert not any("危機通報" in text for text in stage.texts_to(COUNSELOR, mark))
        gate.open()
        await stage.next_message(jie.id, since=mark, containing=CRISIS_REPLY)
        alert = await stage.next_message(COUNSELOR, since=mark, containing="危機通報")
        assert FAREWELL in (alert.text or "") and "模型判讀" in (alert.text or "")
        texts = stage.texts_to(jie.id, mark)
        assert len(texts) == 2 and "7858" in texts[0] and CRISIS_REPLY in texts[1], (
            "notice, then crisis reply"
        )
        case, rows, messages = await the_case(stage)
        assert case.risk == Risk.ELEVATED.value and case.message_count == 1
        assert messages == [("inbound", FAREWELL)], "the case opened with the text, once"
        assert rows[0].risk == Risk.ELEVATED.value and rows[0].cues == ["learned.farewell"]
        store = stage.running.store
        assert store is not None
        async with store.unit() as s:
            timer = await s.scalar(select(Timer).where(Timer.kind == TimerKind.CRISIS_ESCALATE))
            assert timer is not None and timer.case_id == case.id, "the alert escalates if unacknowledged"
        assert (screening_of(stage).late, screening_of(stage).late_found) == (1, 1)


async def test_a_late_crisis_inside_an_open_case_is_neither_kept_nor_relayed_twice(
    emu: TelegramEmulator, sqlite_url: str, clock: StageClock, gate: Gate
) -> None:
    async with staged(emu, sqlite_url, clock, gate, 0) as stage:
        wang = emu.user(COUNSELOR, "Wang")
        await stage.say(wang, "/onduty", containing="值班")
        mei = emu.user(5302, "小美")
        await consent_and_area(stage, mei, "area:finance")
        mark = emu.mark()
        await stage.say(mei, DEBT, containing="HL-")  # answered before its (quick, empty) verdict
        card = await stage.next_message(COUNSELOR, since=mark, containing="財務")
        code = card.button_data[0].removeprefix("claim:")
        await stage.press(wang, card, card.button_data[0], expect=mei.id, containing="接手")
        mark = emu.mark()
        relay = f"【{code}】{FAREWELL}"
        await stage.say(mei, FAREWELL, expect=COUNSELOR, containing=relay)  # relayed at once
        gate.open()
        await stage.next_message(mei.id, since=mark, containing=CRISIS_REPLY)
        alert = await stage.next_message(COUNSELOR, since=mark, containing="危機通報")
        assert code in (alert.text or "") and "模型判讀" in (alert.text or "")
        assert stage.texts_to(COUNSELOR, mark).count(relay) == 1, "relayed once"
        case, rows, messages = await the_case(stage)
        assert messages == [("inbound", DEBT), ("inbound", FAREWELL)] and case.message_count == 2
        assert case.risk == Risk.ELEVATED.value
        assert [(m.risk, m.cues) for m in rows] == [("none", []), ("elevated", ["learned.farewell"])]


async def test_a_verdict_within_the_budget_puts_the_crisis_reply_first_as_ever(
    emu: TelegramEmulator, sqlite_url: str, clock: StageClock, gate: Gate
) -> None:
    gate.open()
    async with staged(emu, sqlite_url, clock, gate, 10_000) as stage:
        await stage.say(emu.user(COUNSELOR, "Wang"), "/onduty", containing="值班")
        jie = emu.user(5303, "阿傑")
        mark = emu.mark()
        first = await stage.say(jie, FAREWELL)
        assert CRISIS_REPLY in (first.text or ""), "the crisis reply is the first answer"
        await stage.next_message(COUNSELOR, since=mark, containing="危機通報")
        assert not any("7858" in text for text in stage.texts_to(jie.id, mark)), "no notice before it"
        assert screening_of(stage).late == 0


@pytest.mark.parametrize("fail", [False, True], ids=["nothing found", "the learned layer failed"])
async def test_a_late_verdict_that_finds_nothing_sends_nothing_more(
    emu: TelegramEmulator, sqlite_url: str, clock: StageClock, gate: Gate, fail: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    gate.held = {DEBT}
    async with staged(emu, sqlite_url, clock, gate, 0) as stage:
        await stage.say(emu.user(COUNSELOR, "Wang"), "/onduty", containing="值班")
        jie = emu.user(5304, "阿傑")
        mark = emu.mark()
        await stage.say(jie, DEBT, containing="7858")
        with caplog.at_level(logging.INFO, logger="hotline"):
            gate.open(fail=fail)
            # The chat's next update is carried out after the late verdict (the same per-chat turn).
            await stage.say(jie, "/help", containing="/start")
        texts = stage.texts_to(jie.id, mark)
        assert len(texts) == 2 and not any(CRISIS_REPLY in text for text in texts)
        assert not any("危機通報" in text for text in stage.texts_to(COUNSELOR, mark))
        assert (screening_of(stage).late, screening_of(stage).late_found) == (1, 0)
        failed = [r for r in caplog.records if "learned screening layer failed" in r.getMessage()]
        assert bool(failed) == fail, "a failure is logged; the lexicon's result stands"
        assert not any(DEBT in r.getMessage() for r in caplog.records), "no message text in the log"


async def test_late_heavy_distress_raises_the_case_without_a_second_copy(
    emu: TelegramEmulator, sqlite_url: str, clock: StageClock, gate: Gate
) -> None:
    async with staged(emu, sqlite_url, clock, gate, 0) as stage:
        mei = emu.user(5305, "小美")
        await consent_and_area(stage, mei, "area:work_stress")
        mark = emu.mark()
        await stage.say(mei, WORN_OUT, containing="HL-")
        gate.open()
        await stage.say(mei, "/help", containing="/start")  # after the late verdict, in this chat's turn
        assert not any(CRISIS_REPLY in text for text in stage.texts_to(mei.id, mark))
        case, rows, messages = await the_case(stage)
        assert case.risk == Risk.DISTRESS.value, "the case goes first in the queue"
        assert messages == [("inbound", WORN_OUT)] and case.message_count == 1
        assert rows[0].cues == ["learned.distress"]
