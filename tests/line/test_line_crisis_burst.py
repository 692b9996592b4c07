"""A burst of crises from LINE to one on-duty counselor under Telegram's limit of about one message a
second per chat: the alerts queue for the counselor's chat, and meanwhile other LINE users are answered.
An event lets go of its inbox slot once what it decided is settled, not once its messages have gone
(hotline/line/ticket.py): before, eight crises holding the two slots while their alerts waited kept the
next user unanswered until the seventh alert was out."""

from __future__ import annotations

from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import StageClock
from tests.line.line_support import TOKEN, line_stage
from tests.tests_support import COUNSELOR

JUMP = "我真的撐不下去了，今晚想從頂樓跳下去"
CRISES = 8
SLOTS = 2


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
        alerts = await tg.wait_for_all(
            lambda c: c.ok and "危機通報" in (c.text or ""), CRISES, chat_id=COUNSELOR, since=mark, timeout=60
        )
        await ls.idle()
    replied = {c.to for c in line.calls if c.ok and any("1925" in t for t in c.texts) and c.to != mei.user_id}
    assert len(replied) == CRISES, "every crisis got its crisis reply"
    # With the slots held until each alert was out, she could only be answered after the 7th alert.
    assert answer.at < alerts[CRISES - 3].at, "answered while the alerts still queued for the counselor"
