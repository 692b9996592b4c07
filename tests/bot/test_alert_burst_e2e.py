"""A crisis burst to one counselor under Telegram's flood limits (issue 14): the alerts that wait for the
counselor's chat go as one message, one acknowledge button per case; each case keeps its own alert,
acknowledgement and escalation. The emulator enforces the limits; no timing is asserted (the number of
messages and what they carry say it all)."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from hotline.alert_lanes import GROUP_BUTTONS, GROUP_CHARS, LaneItem, compose
from hotline.sandbox import BotCall, TelegramEmulator
from hotline.sandbox.stage import Stage, StageClock, stage_settings
from hotline.storage.models import Alert, Case, Timer
from hotline.timer_kinds import TimerKind
from tests.tests_support import COUNSELOR, OTHER, SUPERVISOR

TOKEN = "4242:TEST-TOKEN-hotline"
JUMP = "我真的撐不下去了，今晚想從頂樓跳下去"
CODE = re.compile(r"案件 (HL-[A-Z0-9]+)")
BURST = 20


@pytest.fixture
async def limited(sqlite_url: str, clock: StageClock) -> AsyncIterator[Stage]:
    """The service, pacing on, against an emulator that enforces Telegram's limits (its default)."""
    async with TelegramEmulator(token=TOKEN) as emu:
        settings = stage_settings(emu.api_url, TOKEN, sqlite_url, crisis={"ack_timeout_seconds": 2})
        async with Stage(emu, settings, clock, background_timers=False) as stage:
            yield stage


async def test_a_burst_to_one_counselor_arrives_grouped_each_case_acknowledged_or_escalated(
    limited: Stage, clock: StageClock
) -> None:
    stage, emu = limited, limited.emu
    wang, chen = emu.user(COUNSELOR, "Wang"), emu.user(OTHER, "Chen")
    emu.user(SUPERVISOR, "Lin", started=True)
    await stage.say(wang, "/onduty", containing="值班")
    await stage.say(chen, "/onduty", containing="值班")
    users = [emu.user(7000 + i, f"員工{i}") for i in range(BURST)]
    mark = emu.mark()
    await asyncio.gather(*(emu.send_text(u, f"{JUMP} #{i}") for i, u in enumerate(users)))
    for user in users:  # every employee has the crisis reply
        await stage.next_message(user.id, since=mark, containing="1925")

    def alert_codes(chat: int) -> Counter[str]:
        return Counter(
            m.group(1)
            for c in emu.calls_to(chat, "sendMessage", since=mark)
            if c.ok and "危機通報" in (c.text or "")
            for m in CODE.finditer(c.text or "")
        )

    for _ in range(400):  # the alerts have all arrived (a second a message at most, by the limits)
        if len(alert_codes(COUNSELOR)) == len(alert_codes(OTHER)) == BURST:
            break
        await asyncio.sleep(0.05)

    def alerts_to(chat: int) -> list[BotCall]:
        return [
            c for c in emu.calls_to(chat, "sendMessage", since=mark) if c.ok and "危機通報" in (c.text or "")
        ]

    messages, theirs = alerts_to(COUNSELOR), alerts_to(OTHER)
    codes = alert_codes(COUNSELOR)
    for chat in (COUNSELOR, OTHER):
        assert len(alert_codes(chat)) == BURST and set(alert_codes(chat).values()) == {1}, "each once"
    assert len(messages) <= BURST // 2, f"{len(messages)} messages: the waiting alerts were not grouped"
    assert len(theirs) <= BURST // 2, f"{len(theirs)} messages: the waiting alerts were not grouped"
    assert emu.refusals == [], "nothing was refused by Telegram's limits"
    grouped = [m for m in messages if len(CODE.findall(m.text or "")) > 1]
    assert grouped and all("風險：緊急" in (m.text or "") for m in grouped)
    for m in messages:  # one acknowledge button per case it carries
        assert sorted(m.button_data) == sorted(f"ack:{c}" for c in CODE.findall(m.text or ""))

    # A case acknowledged by its own button, in each message (the first case of each, whichever it is).
    pressed_codes = [CODE.findall(m.text or "")[0] for m in messages]
    taken = emu.mark()
    for code, message in zip(pressed_codes, messages, strict=True):
        pressed = await emu.press_button(wang, message.message_id or 0, f"ack:{code}")
        await emu.wait_for(None, method="answerCallbackQuery", since=pressed.mark, timeout=30)
    # The other counselor's alert that carried only that case says who took it; a grouped one, which
    # carries other cases too, is left as it is (its other buttons still work).
    alone = {
        CODE.findall(m.text or "")[0]: m.message_id for m in theirs if len(CODE.findall(m.text or "")) == 1
    }
    grouped_ids = {m.message_id for m in theirs if len(CODE.findall(m.text or "")) > 1}
    for _ in range(200):
        edits = [c for c in emu.calls_to(OTHER, "editMessageText", since=taken) if c.ok]
        if len(edits) >= len(set(alone) & set(pressed_codes)):
            break
        await asyncio.sleep(0.05)
    assert {c.message_id for c in edits} == {alone[c] for c in pressed_codes if c in alone}
    assert not {c.message_id for c in edits} & grouped_ids
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        alerts = {a.case_id: a for a in (await s.scalars(select(Alert))).all()}
        cases = {c.id: c.code for c in (await s.scalars(select(Case))).all()}
    acknowledged = {cases[a.case_id] for a in alerts.values() if a.acknowledged_at is not None}
    assert len(alerts) == BURST and acknowledged == set(pressed_codes)
    assert all(a.acknowledged_by == COUNSELOR for a in alerts.values() if a.acknowledged_at)

    # Those left unacknowledged are escalated, each once (grouped at the supervisor's too); no other.
    clock.advance(seconds=3)
    mark = emu.mark()
    left = set(codes) - acknowledged
    fired = 0
    while ran := await stage.running.timers.run_due():  # type: ignore[union-attr]
        fired += ran
    assert fired == len(left)

    def escalated() -> Counter[str]:
        return Counter(
            m.group(1)
            for c in emu.calls_to(SUPERVISOR, "sendMessage", since=mark)
            if c.ok and "無人確認" in (c.text or "")
            for m in CODE.finditer(c.text or "")
        )

    for _ in range(400):
        if len(escalated()) == len(left):
            break
        await asyncio.sleep(0.05)
    assert set(escalated()) == left and set(escalated().values()) == {1}
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        kind = TimerKind.CRISIS_ESCALATE
        timers = list((await s.scalars(select(Timer).where(Timer.kind == kind))).all())
    assert len(timers) == BURST and sum(t.fired_at is not None for t in timers) == len(left)


def _item(i: int, risk: int, line_chars: int = 30) -> LaneItem:
    line = f"• 案件 HL-{i:04d}｜" + "字" * line_chars
    return LaneItem(
        "k", f"alone {i}", ((("b", f"ack:HL-{i:04d}"),),), line, ("b", f"ack:HL-{i:04d}"), (risk, -i)
    )


def test_a_group_is_split_within_telegrams_limits_most_imminent_then_newest_first() -> None:
    items = [_item(i, -(i % 2)) for i in range(250)]
    messages = compose(items, lambda kind, n: f"{n} 件")
    assert sum(len(idx) for _, idx in messages) == 250
    assert sorted(i for _, idx in messages for i in idx) == list(range(250)), "each once"
    for (text, rows), idx in messages:
        assert len(text) <= GROUP_CHARS and len(idx) <= GROUP_BUTTONS
        assert sum(len(r) for r in rows) == len(idx)
    order = [i for _, idx in messages for i in idx]
    assert order[:3] == [249, 247, 245], "the riskier first, then the newest"
    long = compose([_item(i, 0, line_chars=900) for i in range(10)], lambda kind, n: "")
    assert len(long) >= 3 and all(len(text) <= GROUP_CHARS for (text, _), _ in long)
    assert compose([items[0]], lambda kind, n: "") == [(("alone 0", items[0].buttons), [0])]
