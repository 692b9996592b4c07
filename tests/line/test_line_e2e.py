"""LINE end to end (issue 15): the real line-bot-sdk in the service against the LINE emulator, the
counselors on the Telegram emulator, SQLite on disk."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from hotline.privacy.audit import audit_log
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import Stage, StageClock
from hotline.storage.models import Case, Employee, LineEvent
from tests.line.line_support import LineStage, line_stage
from tests.test_cli import clean_env, run_cli
from tests.tests_support import COUNSELOR, SUPERVISOR, assert_no_identity, counselor_texts


@pytest.fixture
async def ls(emu: TelegramEmulator, sqlite_url: str, clock: StageClock) -> AsyncIterator[LineStage]:
    async with line_stage(emu, sqlite_url, clock, crisis={"ack_timeout_seconds": 2}) as running:
        yield running


@pytest.fixture
async def ls_db(emu: TelegramEmulator, db_url: str, clock: StageClock) -> AsyncIterator[LineStage]:
    """On SQLite and on PostgreSQL (the deduplication is the database's: INSERT ... ON CONFLICT)."""
    async with line_stage(emu, db_url, clock) as running:
        yield running


async def cases_json(stage: Stage) -> list[dict[str, object]]:
    """``hotline cases --json`` as an operator runs it, on the service's database."""
    env = clean_env(HOTLINE_DATABASE_URL=stage.settings.database_url)
    code, out, err = await run_cli("cases", "--json", env=env)
    assert code == 0, err
    rows = json.loads(out)
    assert isinstance(rows, list)
    return rows


async def on_duty(stage: Stage) -> None:
    wang = stage.emu.user(COUNSELOR, "Wang", username="wang_private_acct")
    await stage.say(wang, "/onduty", containing="已開始值班")


async def test_whole_intake_and_relay_both_ways_without_identity(ls: LineStage) -> None:
    stage, line = ls.stage, ls.line
    await on_duty(stage)
    wang = stage.emu.user(COUNSELOR, "Wang")
    mei = line.user("林小美")

    notice = await ls.say(mei, "你好", containing="LINE 名稱")
    assert notice.endpoint == "reply", "the first answer uses the event's reply token"
    [shown] = notice.messages
    labels = [item["action"]["label"] for item in shown["quickReply"]["items"]]
    assert labels == ["我了解，開始諮詢", "先不用了"]
    assert all(item["action"]["type"] == "postback" for item in shown["quickReply"]["items"])
    areas = await ls.tap(mei, "我了解，開始諮詢", containing="領域")
    assert len(areas.messages[-1]["quickReply"]["items"]) == 8
    await ls.tap(mei, "家庭關係", containing="")
    mark = stage.emu.mark()
    queued = await ls.say(mei, "我跟先生最近常吵架，孩子也受影響。", containing="HL-")
    card = await stage.next_message(COUNSELOR, since=mark, containing="家庭關係")
    assert "LINE" in (card.text or "") and card.button_data[0].startswith("claim:HL-")
    code = card.button_data[0].removeprefix("claim:")
    assert code in queued.texts[0]

    claimed = line.mark()
    await stage.emu.press_button(wang, card.message_id or 0, card.button_data[0])
    await ls.answer(mei, claimed, containing="接手")
    sent = line.mark()
    await stage.emu.send_text(wang, "您好，我在。可以多說一點嗎？")
    relay = await ls.answer(mei, sent, containing="心理師")
    assert relay.texts == ["💬 心理師：您好，我在。可以多說一點嗎？"] and relay.endpoint == "push"
    mark = stage.emu.mark()
    line.send_text(mei, "他上週又摔東西。")
    back = await stage.next_message(COUNSELOR, since=mark, containing="摔東西")
    assert back.text == f"【{code}】他上週又摔東西。"

    await stage.say(wang, f"/view {code}", containing=code)
    mark = stage.emu.mark()
    line.unfollow(mei)  # she blocks the account mid-conversation: the counselor is told, nothing is sent
    await stage.next_message(COUNSELOR, since=mark, containing="封鎖")
    failed = await stage.say(wang, "您還在嗎？")  # kept in the case, not delivered: the counselor is told
    assert code in (failed.text or "")
    await ls.answer(mei, line.follow(mei, unblocked=True), containing="心理師對談")
    assert not any("您還在嗎" in t for t in line.texts(mei))
    await stage.next_message(COUNSELOR, since=mark, containing="重新加入")
    assert_no_identity(counselor_texts(stage), mei.user_id, "林小美", "小美")
    assert_no_identity(line.texts(mei), "Wang", "wang_private_acct", str(COUNSELOR), "王心理師")
    await ls.idle()
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        case = await s.scalar(select(Case).where(Case.code == code))
        assert case is not None and case.channel == "line" and case.message_count == 2
        employee = await s.get(Employee, case.employee_id)
        assert employee is not None and employee.channel == "line"
        assert mei.user_id not in employee.pseudonym and employee.contact_enc is not None
        assert mei.user_id.encode() not in employee.contact_enc
        stored = (await s.scalars(select(LineEvent))).all()
        assert stored and all(e.done_at is not None and e.payload_enc is None for e in stored)


JUMP = "我真的撐不下去了，今晚想從頂樓跳下去"


async def test_crisis_from_line_reply_first_alert_on_duty_and_escalation(
    ls: LineStage, clock: StageClock
) -> None:
    stage, line = ls.stage, ls.line
    await on_duty(stage)
    lin = stage.emu.user(SUPERVISOR, "Lin", started=True)
    jie = line.user("張阿傑")
    mark = stage.emu.mark()
    said = line.send_text(jie, JUMP)  # before any consent: the crisis path in every state
    reply = await ls.answer(jie, said, containing="1925")
    assert reply.endpoint == "reply" and "110" in reply.texts[0]
    alert = await stage.next_message(COUNSELOR, since=mark, containing="危機通報")
    assert "LINE" in (alert.text or "") and JUMP in (alert.text or "")
    assert alert.button_data[0].startswith("ack:HL-")
    code = alert.button_data[0].removeprefix("ack:")
    assert reply.at <= alert.at, "the crisis reply goes out before the alert"

    clock.advance(seconds=3)  # nobody acknowledges within the (test's) 2 s
    mark = stage.emu.mark()
    assert await stage.running.timers.run_due() == 1  # type: ignore[union-attr]
    escalation = await stage.next_message(SUPERVISOR, since=mark, containing="無人確認")
    assert code in (escalation.text or "") and "LINE" in (escalation.text or "")
    assert_no_identity(counselor_texts(stage), jie.user_id, "張阿傑", "阿傑")
    wang = stage.emu.user(COUNSELOR, "Wang")
    assert "僅限督導" in ((await stage.say(wang, f"/reveal {code} 擔心安全")).text or "")
    revealed = await stage.say(lin, f"/reveal {code} 當事人表示有立即危險，需通報", containing="🔐")
    assert "LINE 使用者" in (revealed.text or "") and jie.user_id in (revealed.text or "")
    assert "張阿傑" not in (revealed.text or ""), "the display name is never known to the service"
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        rows = (await s.execute(select(audit_log.c.action, audit_log.c.actor_id, audit_log.c.reason))).all()
    assert ("reveal_identity", str(SUPERVISOR), "當事人表示有立即危險，需通報") in rows
    assert ("access_denied", str(COUNSELOR), None) in rows
    out = await cases_json(stage)
    assert [(c["code"], c["channel"]) for c in out] == [(code, "line")]


async def stored_events(stage: Stage) -> int:
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        return int(await s.scalar(select(func.count()).select_from(LineEvent)) or 0)


async def test_forged_or_unsigned_requests_are_refused_and_nothing_is_stored(
    ls: LineStage, caplog: pytest.LogCaptureFixture
) -> None:
    line, mei = ls.line, ls.line.user("小美")
    body = json.dumps(
        {
            "destination": "Ubot",
            "events": [
                {
                    "type": "message",
                    "mode": "active",
                    "timestamp": 1,
                    "webhookEventId": "01FORGEDFORGEDFORGEDFORGED",
                    "deliveryContext": {"isRedelivery": False},
                    "replyToken": "x" * 32,
                    "source": {"type": "user", "userId": mei.user_id},
                    "message": {"id": "1", "type": "text", "text": "我想自殺", "quoteToken": "q"},
                }
            ],
        }
    ).encode()
    forged = ls.line.sign(body)[:-4] + "AAA="
    assert await line.post_raw(body, forged) == 401
    assert await line.post_raw(body, None) == 400
    assert await line.post_raw(b"not json", line.sign(b"not json")) == 400
    refusals = [r for r in caplog.records if r.name == "hotline.line.webhook"]
    assert len(refusals) == 3 and all(r.levelname == "WARNING" for r in refusals)
    assert all(mei.user_id not in r.getMessage() for r in refusals)
    assert await stored_events(ls.stage) == 0 and line.received(mei) == []
    assert await line.post_raw(body, line.sign(body)) == 200  # the same body, signed: taken
    await ls.idle()
    assert await stored_events(ls.stage) == 1


async def test_a_redelivered_event_is_processed_once(ls_db: LineStage) -> None:
    ls = ls_db
    stage, line = ls.stage, ls.line
    await on_duty(stage)
    mei = line.user("小美")
    await ls.say(mei, "你好", containing="LINE 名稱")
    await ls.tap(mei, "我了解，開始諮詢", containing="領域")
    await ls.tap(mei, "工作壓力")
    event = line.send_text(mei, "最近加班很多，睡不好。")
    await ls.answer(mei, event, containing="HL-")
    await ls.idle()
    before = (len(line.received(mei)), len(stage.emu.calls))
    attempt = await line.redeliver(event)  # LINE did not hear our 200 and sends it again
    assert attempt.status == 200
    await ls.idle()
    assert (len(line.received(mei)), len(stage.emu.calls)) == before
    assert await stored_events(stage) == 4, "the redelivery was not stored again"
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        [case] = (await s.scalars(select(Case))).all()
        assert case.message_count == 1


async def test_an_expired_reply_token_falls_back_to_push(ls: LineStage) -> None:
    line, mei = ls.line, ls.line.user("小美")
    line.drop_deliveries(1)  # the delivery is late: by the time it arrives, its reply token has expired
    event = line.send_text(mei, "你好")
    line.expire_reply_tokens()
    await line.redeliver(event)
    answer = await ls.answer(mei, event, containing="LINE 名稱")
    assert answer.endpoint == "push"
    refused = [c for c in line.calls if c.endpoint == "reply"]
    assert [c.status for c in refused] == [400], "the reply was tried, LINE refused the token"


async def test_a_restart_mid_conversation_continues_from_the_database(ls_db: LineStage) -> None:
    ls = ls_db
    stage, line = ls.stage, ls.line
    await on_duty(stage)
    mei = line.user("小美")
    await ls.say(mei, "你好", containing="LINE 名稱")
    await ls.tap(mei, "我了解，開始諮詢", containing="領域")
    await ls.tap(mei, "財務問題")
    # The process dies after storing an event and answering 200, before carrying it out.
    inbox = stage.running.line_inbox
    assert inbox is not None
    inbox.accepting = False
    event = line.send_text(mei, "卡債越來越多，不知道怎麼辦。")
    assert (await line.wait_delivered(event)).status == 200
    assert await stored_events(stage) == 4
    # Marked before the restart: the restarted inbox may carry the event out (and the counselor's card go)
    # before the restart returns, which waits for the bot's first poll.
    mark = stage.emu.mark()
    await ls.restart()
    queued = await ls.answer(mei, event, containing="HL-")
    assert queued.endpoint == "reply"  # still within the token's lifetime
    card = await stage.next_message(COUNSELOR, since=mark, containing="卡債")
    assert "財務問題" in (card.text or "")
    later = line.send_text(mei, "還有房貸。")
    await ls.settle(later)
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        [case] = (await s.scalars(select(Case))).all()
        assert case.category == "finance" and case.message_count == 2 and case.channel == "line"
    assert later.attempts[0].status == 200
