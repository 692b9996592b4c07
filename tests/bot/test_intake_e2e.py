"""The Telegram line end to end: the real PTB Application on the Bot API emulator, SQLite on disk."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import func, select

from hotline.privacy.audit import audit_log
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import TAIPEI, Stage, StageClock, stage_settings
from hotline.storage.models import Case, ContactEvent, Employee
from tests.tests_support import COUNSELOR, OTHER, assert_no_identity, consent_and_area, counselor_texts

EMPLOYEE_ID = 777000111


async def test_whole_intake_relay_and_end_without_identity_leak(stage: Stage) -> None:
    emu = stage.emu
    mei = emu.user(EMPLOYEE_ID, "小美", last_name="林", username="mei_secret_handle")
    wang = emu.user(COUNSELOR, "Wang", username="wang_private_acct")
    await stage.say(wang, "/onduty", containing="已開始值班")

    await consent_and_area(stage, mei, "area:family")
    mark = emu.mark()
    queued = await stage.say(mei, "我跟先生最近常吵架，孩子也受影響。")
    assert "HL-" in (queued.text or "") and "心理師會盡快回覆" in (queued.text or "")
    card = await stage.next_message(COUNSELOR, since=mark, containing="家庭關係")
    assert card.button_data and card.button_data[0].startswith("claim:HL-")
    code = card.button_data[0].removeprefix("claim:")

    claimed = await stage.press(wang, card, card.button_data[0], expect=EMPLOYEE_ID, containing="接手")
    assert code in (claimed.text or "")
    relay = await stage.say(wang, "您好，我在。可以多說一點嗎？", expect=EMPLOYEE_ID)
    assert relay.text == "💬 心理師：您好，我在。可以多說一點嗎？"
    back = await stage.say(mei, "他上週又摔東西。", expect=COUNSELOR)
    assert back.text == f"【{code}】他上週又摔東西。"
    await stage.say(wang, "/note 家庭衝突，評估轉介面談", containing="已記錄")
    choose = await stage.say(wang, "/end", containing="結案結果")
    ended = await stage.press(wang, choose, f"end:{code}:resolved", expect=EMPLOYEE_ID, containing="已結束")
    assert code in (ended.text or "")

    assert_no_identity(counselor_texts(stage), "小美", "林", "mei_secret_handle", str(EMPLOYEE_ID))
    assert_no_identity(stage.texts_to(EMPLOYEE_ID), "Wang", "wang_private_acct", str(COUNSELOR), "王心理師")
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        case = await s.scalar(select(Case).where(Case.code == code))
        assert case is not None and case.status == "closed" and case.outcome == "resolved"
        assert case.message_count == 2 and case.category == "family"


async def test_two_counselors_press_claim_at_once_exactly_one_wins(stage: Stage) -> None:
    emu = stage.emu
    mei = emu.user(EMPLOYEE_ID, "小美")
    wang, chen = emu.user(COUNSELOR, "Wang"), emu.user(OTHER, "Chen")
    await stage.say(wang, "/onduty")
    await stage.say(chen, "/onduty")
    await consent_and_area(stage, mei, "area:career")
    mark = emu.mark()
    await stage.say(mei, "想換工作但很猶豫")
    card_w = await stage.next_message(COUNSELOR, since=mark, containing="職涯規劃")
    card_c = await stage.next_message(OTHER, since=mark, containing="職涯規劃")
    data = card_w.button_data[0]
    assert card_c.button_data == [data]

    mark = emu.mark()
    assert card_w.message_id is not None and card_c.message_id is not None
    await asyncio.gather(
        emu.press_button(wang, card_w.message_id, data), emu.press_button(chen, card_c.message_id, data)
    )
    await stage.next_message(EMPLOYEE_ID, since=mark, containing="接手")
    answers = await emu.wait_for_all(None, 2, method="answerCallbackQuery", since=mark)
    wins = [a for a in answers if "目前案件" in str(a.params.get("text"))]
    losses = [a for a in answers if "其他心理師" in str(a.params.get("text"))]
    assert len(wins) == 1 and len(losses) == 1
    edit = await emu.wait_for(lambda c: "已由" in (c.text or ""), method="editMessageText", since=mark)
    assert edit.chat_id in {COUNSELOR, OTHER}
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        case = await s.scalar(select(Case))
        assert case is not None and case.status == "active" and case.counselor_id in {COUNSELOR, OTHER}
    claimed_notices = [t for t in stage.texts_to(EMPLOYEE_ID) if "接手" in t]
    assert len(claimed_notices) == 1, "the employee is told once"


async def test_restart_mid_conversation_continues_from_the_database(stage: Stage) -> None:
    emu = stage.emu
    mei = emu.user(EMPLOYEE_ID, "小美")
    notice = await stage.say(mei, "/start")
    areas = await stage.press(mei, notice, "consent:accept")
    await stage.restart()
    prompt = await stage.press(mei, areas, "area:finance")
    assert "財務問題" in (prompt.text or "")
    await stage.restart()
    queued = await stage.say(mei, "卡債越來越多")
    assert "案件代號" in (queued.text or "")


async def test_messages_sent_while_down_are_answered_after_restart(stage: Stage) -> None:
    emu = stage.emu
    mei = emu.user(EMPLOYEE_ID, "小美")
    await stage.stop()
    update = await emu.send_text(mei, "/start")
    await stage.start()
    reply = await stage.next_message(EMPLOYEE_ID, since=update.mark)
    assert "7858" in (reply.text or "")


async def test_decline_keeps_nothing_but_the_fact(stage: Stage) -> None:
    mei = stage.emu.user(EMPLOYEE_ID, "小美")
    notice = await stage.say(mei, "/start")
    declined = await stage.press(mei, notice, "consent:decline")
    assert "沒有保存" in (declined.text or "")
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        assert await s.scalar(select(func.count()).select_from(Employee)) == 0
        assert await s.scalar(select(func.count()).select_from(ContactEvent)) == 1


async def test_bad_input_in_each_state_gets_a_short_helpful_reply(stage: Stage) -> None:
    emu = stage.emu
    mei = emu.user(EMPLOYEE_ID, "小美")

    async def replied(update_mark: int, containing: str) -> None:
        await stage.next_message(EMPLOYEE_ID, since=update_mark, containing=containing)

    await replied((await emu.send_sticker(mei)).mark, "只能讀取文字")
    notice = await stage.say(mei, "/start", containing="7858")
    await stage.say(mei, "好", containing="7858")  # text before consent: the notice again, with its buttons
    await replied((await emu.send_photo(mei)).mark, "只能讀取文字")
    areas = await stage.press(mei, notice, "consent:accept", containing="領域")
    await stage.say(mei, "/whatever", containing="不認得這個指令")
    await stage.say(mei, "/help", containing="1925")
    await stage.say(mei, "/onduty", containing="僅限諮詢團隊")
    await stage.press(mei, notice, "consent:accept", containing="按鈕已經失效")
    await stage.press(mei, areas, "area:medical", containing="醫療保健")
    await replied((await emu.send_voice(mei)).mark, "只能讀取文字")
    mark = emu.mark()
    assert notice.message_id is not None
    await emu.press_button(mei, notice.message_id, "claim:HL-AAAAAA")  # a forged console button
    answer = await emu.wait_for(method="answerCallbackQuery", since=mark)
    assert "僅限諮詢團隊" in str(answer.params.get("text"))
    await stage.say(mei, "/cancel", containing="已取消")
    await stage.say(mei, "/cancel", containing="沒有進行中")
    errors = [c for c in emu.calls if not c.ok and c.method != "getUpdates"]
    assert errors == [], [c.summary() for c in errors]
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        refused = (
            await s.execute(select(audit_log.c.detail).where(audit_log.c.action == "access_denied"))
        ).all()
    assert [r.detail["wanted"] for r in refused] == ["onduty"], "the attempt outside the role is recorded"


async def test_out_of_hours_on_a_holiday_queues_and_offers_at_opening(
    emu: TelegramEmulator, sqlite_url: str
) -> None:
    clock = StageClock(start=datetime(2026, 2, 17, 11, 0, tzinfo=TAIPEI), follow_real_time=False)  # 春節
    settings = stage_settings(emu.api_url, "4242:TEST-TOKEN-hotline", sqlite_url)
    async with Stage(emu, settings, clock, background_timers=False) as stage:
        mei = emu.user(EMPLOYEE_ID, "小美")
        wang = emu.user(COUNSELOR, "Wang")
        await stage.say(wang, "/onduty", containing="等候中的案件：0")
        await consent_and_area(stage, mei, "area:mental")
        mark = emu.mark()
        queued = await stage.say(mei, "最近心情很低落")
        assert "非服務時間" in (queued.text or "") and "2月23日（週一）09:00" in (queued.text or "")
        queue = await stage.say(wang, "/queue", containing="等候中的案件")
        assert "1 件" in (queue.text or "")
        assert not [
            t for t in stage.texts_to(COUNSELOR, since=mark) if "📋" in t and "接案" in t and t is None
        ]
        clock.advance(days=6)  # Monday 23 February, 11:00
        mark = emu.mark()
        assert await stage.running.timers.run_due() == 1  # type: ignore[union-attr]
        card = await stage.next_message(COUNSELOR, since=mark, containing="心理健康")
        assert card.button_data[0].startswith("claim:")


async def test_make_up_workday_is_open(emu: TelegramEmulator, sqlite_url: str) -> None:
    clock = StageClock(start=datetime(2025, 2, 8, 10, 0, tzinfo=TAIPEI))  # Saturday, 補班
    settings = stage_settings(emu.api_url, "4242:TEST-TOKEN-hotline", sqlite_url)
    async with Stage(emu, settings, clock) as stage:
        mei = emu.user(EMPLOYEE_ID, "小美")
        await consent_and_area(stage, mei, "area:legal")
        queued = await stage.say(mei, "租屋糾紛")
        assert "心理師會盡快回覆" in (queued.text or "")


async def test_session_reminder_after_25_minutes_and_transfer(stage: Stage, clock: StageClock) -> None:
    emu = stage.emu
    mei = emu.user(EMPLOYEE_ID, "小美")
    wang, chen = emu.user(COUNSELOR, "Wang"), emu.user(OTHER, "Chen")
    await stage.say(wang, "/onduty")
    await consent_and_area(stage, mei, "area:work_stress")
    mark = emu.mark()
    await stage.say(mei, "加班太多")
    card = await stage.next_message(COUNSELOR, since=mark, containing="工作壓力")
    await stage.press(wang, card, card.button_data[0], expect=EMPLOYEE_ID, containing="接手")
    clock.advance(minutes=25)
    mark = emu.mark()
    assert await stage.running.timers.run_due() == 1  # type: ignore[union-attr]
    remind = await stage.next_message(COUNSELOR, since=mark, containing="25 分鐘")
    assert "HL-" in (remind.text or "")

    await stage.say(chen, "/onduty")
    mark = emu.mark()
    await stage.say(wang, "/transfer", containing="退回等候區")
    await stage.next_message(EMPLOYEE_ID, since=mark, containing="另一位心理師")
    card2 = await stage.next_message(OTHER, since=mark, containing="工作壓力")
    await stage.press(chen, card2, card2.button_data[0], expect=EMPLOYEE_ID, containing="接手")
    mark = emu.mark()
    await stage.say(mei, "/cancel", containing="已結束這次對談")
    await stage.next_message(OTHER, since=mark, containing="當事人已結束對談")


async def test_crisis_before_consent_takes_the_crisis_path(stage: Stage) -> None:
    emu = stage.emu
    jie = emu.user(EMPLOYEE_ID, "阿傑", username="jie_handle")
    wang = emu.user(COUNSELOR, "Wang")
    await stage.say(wang, "/onduty")
    mark = emu.mark()
    reply = await stage.say(jie, "我真的撐不下去了，今晚想從頂樓跳下去")
    assert "1925" in (reply.text or "") and "119" in (reply.text or "")
    alert = await stage.next_message(COUNSELOR, since=mark, containing="危機通報")
    assert "緊急" in (alert.text or "") and alert.button_data[0].startswith("ack:HL-")
    assert_no_identity(counselor_texts(stage), "阿傑", "jie_handle", str(EMPLOYEE_ID))
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        case = await s.scalar(select(Case))
        assert case is not None and case.risk == "imminent" and case.status == "waiting"


async def test_a_known_employee_is_recognised_after_restart(stage: Stage) -> None:
    mei = stage.emu.user(EMPLOYEE_ID, "小美")
    await consent_and_area(stage, mei, "area:legal")
    await stage.say(mei, "勞健保的問題", containing="案件代號")
    await stage.restart()
    again = await stage.say(mei, "/start", containing="HL-")
    assert "等候心理師回覆" in (again.text or ""), "a waiting case is remembered, not a new notice"
    added = await stage.say(mei, "補充一下細節")
    assert "已加入您的案件" in (added.text or "")


async def test_the_line_on_postgresql(emu: TelegramEmulator, pg_url: str, clock: StageClock) -> None:
    settings = stage_settings(emu.api_url, "4242:TEST-TOKEN-hotline", pg_url)
    async with Stage(emu, settings, clock) as stage:
        mei = emu.user(EMPLOYEE_ID, "小美")
        wang = emu.user(COUNSELOR, "Wang")
        await stage.say(wang, "/onduty")
        await consent_and_area(stage, mei, "area:family")
        mark = emu.mark()
        await stage.say(mei, "家裡的事", containing="案件代號")
        card = await stage.next_message(COUNSELOR, since=mark, containing="家庭關係")
        await stage.press(wang, card, card.button_data[0], expect=EMPLOYEE_ID, containing="接手")
        await stage.restart()
        back = await stage.say(mei, "還在嗎？", expect=COUNSELOR)
        assert back.text is not None and back.text.endswith("還在嗎？")
        assert (await stage.say(mei, "/start")).text is not None


async def test_words_written_while_a_claim_is_under_way_reach_the_counselor(stage: Stage) -> None:
    """The case is already the counselor's, the conversation not yet told: nothing falls in between."""
    from hotline.storage import repo

    emu = stage.emu
    mei = emu.user(EMPLOYEE_ID, "小美")
    emu.user(COUNSELOR, "Wang", started=True)
    await consent_and_area(stage, mei, "area:career")
    await stage.say(mei, "想轉職", containing="案件代號")
    store = stage.running.store
    assert store is not None
    async with store.unit() as s:
        case = await s.scalar(select(Case))
        assert case is not None
        assert await repo.claim(s, case.id, COUNSELOR, stage.clock())  # the claim has committed ...
    relay = await stage.say(mei, "第二句：其實我很猶豫", expect=COUNSELOR)  # ... case_event has not run yet
    assert relay.text is not None and relay.text.endswith("第二句：其實我很猶豫")


async def test_words_after_a_command_inside_a_case_are_kept(stage: Stage) -> None:
    emu = stage.emu
    mei = emu.user(EMPLOYEE_ID, "小美")
    wang = emu.user(COUNSELOR, "Wang")
    await stage.say(wang, "/onduty", containing="值班")
    await consent_and_area(stage, mei, "area:mental")
    mark = emu.mark()
    await stage.say(mei, "心情低落", containing="案件代號")
    card = await stage.next_message(COUNSELOR, since=mark, containing="心理健康")
    await stage.press(wang, card, card.button_data[0], expect=EMPLOYEE_ID, containing="接手")
    relay = await stage.say(mei, "/help 我還在，只是打錯字", expect=COUNSELOR)
    assert relay.text is not None and relay.text.endswith("我還在，只是打錯字")
