"""The learned screening layer end to end: messages the lexicon alone lets through reach the on-duty
counselor as alerts with the learned cue (the real PTB Application on the emulator, the real encoder),
heavy distress goes first in the queue without an alert, and a cue split across two chat messages is
read together."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from hotline.domain import Risk
from hotline.learned_loader import load_learned
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import Stage, StageClock, stage_settings
from hotline.screening_loader import load_screener
from hotline.storage.models import Case
from tests.tests_support import COUNSELOR, OTHER, SUPERVISOR

ENGLISH = "I gave my cat to my sister and wrote letters to everyone. This weekend it finally ends for me."
pytestmark = pytest.mark.learned
TOKEN = "4242:TEST-TOKEN-hotline"


@pytest.fixture
async def stage(emu: TelegramEmulator, sqlite_url: str, clock: StageClock) -> AsyncIterator[Stage]:
    """The verdict inside the reply budget whatever the machine's load: these tests are about what the
    learned layer sees (a late verdict has its own: tests/bot/test_reply_budget_e2e.py)."""
    settings = stage_settings(
        emu.api_url,
        TOKEN,
        sqlite_url,
        crisis={"ack_timeout_seconds": 2},
        screening={"reply_budget_ms": 10_000},
    )
    async with Stage(emu, settings, clock, background_timers=False) as running:
        yield running


INDIRECT = "我把存款密碼和保險單都整理好放在桌上了，也跟貓咪好好道別過了，之後大家就不用再為我操心"


def test_the_lexicon_alone_lets_these_through() -> None:
    lexicon = load_screener()
    assert not lexicon.screen(ENGLISH).is_crisis
    assert not lexicon.screen(INDIRECT).is_crisis


async def test_what_only_the_learned_layer_sees_reaches_the_counselor_as_an_alert(stage: Stage) -> None:
    emu = stage.emu
    wang = emu.user(COUNSELOR, "Wang")
    await stage.say(wang, "/onduty", containing="值班")
    for user_id, text in ((5201, ENGLISH), (5202, INDIRECT)):
        employee = emu.user(user_id, "員工")
        mark = emu.mark()
        await stage.say(employee, text, containing="1925")
        alert = await stage.next_message(COUNSELOR, since=mark, containing="危機通報")
        assert "模型判讀" in (alert.text or ""), "the alert says the learned layer saw it, and what"
        assert alert.button_data[0].startswith("ack:HL-")


async def test_a_cue_split_across_two_messages_is_read_together(stage: Stage) -> None:
    emu = stage.emu
    wang = emu.user(COUNSELOR, "Wang")
    await stage.say(wang, "/onduty", containing="值班")
    first, second = "我這個月跑了好幾家藥局，每家都買一點安眠藥", "等這週的報告交完就全部吃掉"
    assert not load_screener().screen(second).is_crisis
    assert not load_learned().screen(second).is_crisis, "alone, the second message says nothing"
    jie = emu.user(5203, "阿傑")
    mark = emu.mark()
    await stage.say(jie, first, containing="1925")
    await stage.next_message(COUNSELOR, since=mark, containing=first)  # the first message's alert
    mark = emu.mark()
    await stage.say(jie, second, containing="1925")  # read with the first, it is a crisis again
    alert = await stage.next_message(COUNSELOR, since=mark, containing="危機通報")
    assert second in (alert.text or "") and "模型判讀" in (alert.text or "")


async def test_heavy_distress_goes_first_in_the_queue_without_an_alert(stage: Stage) -> None:
    emu = stage.emu
    mei = emu.user(5204, "小美")
    notice = await stage.say(mei, "/start", containing="7858")
    areas = await stage.press(mei, notice, "consent:accept", containing="領域")
    await stage.press(mei, areas, "area:family", containing="家庭關係")
    mark = emu.mark()
    reply = await stage.say(mei, "照顧失智的媽媽三年了，每天都在哭，我真的快撐不下去了")
    assert "1925" not in (reply.text or "")
    for staff in (COUNSELOR, OTHER, SUPERVISOR):
        assert not any("危機通報" in text for text in stage.texts_to(staff, mark))
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        case = await s.scalar(select(Case).order_by(Case.id.desc()))
        assert case is not None and case.risk == Risk.DISTRESS.value
