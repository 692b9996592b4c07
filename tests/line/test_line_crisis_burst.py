"""A burst of crises from LINE to one on-duty counselor under Telegram's limit of about one message a
second per chat: the alerts queue for the counselor's chat, and meanwhile other LINE users are answered.
An event lets go of its inbox slot once what it decided is settled, not once its messages have gone
(hotline/line/ticket.py): before, eight crises holding the two slots while their alerts waited kept the
next user unanswered until the seventh alert was out."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import StageClock
from tests.line.line_support import TOKEN, line_stage
from tests.tests_support import COUNSELOR

JUMP = "我真的撐不下去了，今晚想從頂樓跳下去"
CRISES = 8
SLOTS = 2
CODE = re.compile(r"案件 (HL-[A-Z0-9]+)")


def alerted(tg: TelegramEmulator, since: int) -> Counter[str]:
    """Each case's alerts at the counselor's, alone or in a grouped message."""
    texts = (c.text or "" for c in tg.calls_to(COUNSELOR, "sendMessage", since=since) if c.ok)
    return Counter(m.group(1) for t in texts if "危機通報" in t for m in CODE.finditer(t))


async def test_a_burst_of_crises_does_not_hold_other_users_back(sqlite_url: str, clock: StageClock) -> None:
    async with (
        TelegramEmulator(token=TOKEN) as tg,  # Telegram's flood limits: the service paces
        line_stage(tg, sqlite_url, clock, line={"concurrent_events": SLOTS}) as ls,
    ):
        stage, line = ls.stage, ls.line
        await stage.say(tg.user(COUNSELOR, "Wang"), "/onduty", containing="值班")
        mark = tg.mark()
        for i in range(CRISES):
            line.send_text(line.user(f"員工{i}"), f"{JUMP} #{i}")
        mei = line.user("小美")
        answer = await ls.answer(mei, line.send_text(mei, "你好"), containing="LINE 名稱")
        for _ in range(1200):  # every crisis's alert out (grouped while they wait: hotline/alert_lanes.py)
            if len(alerted(tg, mark)) == CRISES:
                break
            await asyncio.sleep(0.05)
        await ls.idle()
    replied = {c.to for c in line.calls if c.ok and any("1925" in t for t in c.texts) and c.to != mei.user_id}
    assert len(replied) == CRISES, "every crisis got its crisis reply"
    codes = alerted(tg, mark)
    assert len(codes) == CRISES and set(codes.values()) == {1}, "every crisis alerted once"
    assert answer.ok, "the next user was answered"
    # The alerts that waited for the counselor's chat went together (issue 14), so they no longer queue
    # for seconds one by one; the slots are let go at settle either way (hotline/line/ticket.py).
