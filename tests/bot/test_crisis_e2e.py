"""Crisis escalation end to end: the real PTB Application on the emulator, durable timers in SQLite."""

from __future__ import annotations

import asyncio
import json
import sys

from sqlalchemy import func, select

from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import Stage, StageClock, stage_settings
from hotline.storage.models import Alert, Case, Timer
from hotline.timer_kinds import TimerKind
from tests.tests_support import COUNSELOR, OTHER, SUPERVISOR, assert_no_identity, counselor_texts

JUMP = "我真的撐不下去了，今晚想從頂樓跳下去"
PASSIVE = "最近常常覺得如果我不在了，大家會比較輕鬆"
TOKEN = "4242:TEST-TOKEN-hotline"


async def alerts(stage: Stage) -> list[Alert]:
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        return list((await s.scalars(select(Alert).order_by(Alert.id))).all())


async def test_alert_escalation_and_acknowledgement(stage: Stage, clock: StageClock) -> None:
    emu = stage.emu
    wang, chen = emu.user(COUNSELOR, "Wang", username="wang_acct"), emu.user(OTHER, "Chen")
    emu.user(SUPERVISOR, "Lin", started=True)
    await stage.say(wang, "/onduty", containing="值班")
    await stage.say(chen, "/onduty", containing="值班")
    jie = emu.user(5101, "阿傑", last_name="張", username="jie_private")

    # 1. a crisis before consent: the employee at once, every on-duty counselor with a button
    mark = emu.mark()
    reply = await stage.say(jie, JUMP, containing="1925")
    assert "119" in (reply.text or "") and "110" in (reply.text or "")
    alert_w = await stage.next_message(COUNSELOR, since=mark, containing="危機通報")
    alert_c = await stage.next_message(OTHER, since=mark, containing="危機通報")
    assert "緊急" in (alert_w.text or "") and JUMP in (alert_w.text or "")
    assert "自殺方法" in (alert_w.text or "") and "今晚" in (alert_w.text or ""), (
        "cues in words counselors read"
    )
    assert alert_w.button_data == alert_c.button_data and alert_w.button_data[0].startswith("ack:HL-")
    code = alert_w.button_data[0].removeprefix("ack:")

    # 2. nobody acknowledges: after the (short) timeout every supervisor is told
    assert await stage.running.timers.run_due() == 0  # type: ignore[union-attr]
    clock.advance(seconds=3)
    mark = emu.mark()
    assert await stage.running.timers.run_due() == 1  # type: ignore[union-attr]
    escalation = await stage.next_message(SUPERVISOR, since=mark, containing="無人確認")
    assert code in (escalation.text or "") and escalation.button_data == [f"ack:{code}"]

    # 3. a second case acknowledged in time: the first to press owns it, the other alert says who took it
    mei = emu.user(5102, "小美", username="mei_private")
    mark = emu.mark()
    await stage.say(mei, PASSIVE, containing="1925")
    alert2 = await stage.next_message(OTHER, since=mark, containing="危機通報")
    assert "偏高" in (alert2.text or "")
    code2 = alert2.button_data[0].removeprefix("ack:")
    mark = emu.mark()
    await stage.press(chen, alert2, alert2.button_data[0], expect=5102, containing="接手")
    edited = await emu.wait_for(
        lambda c: code2 in (c.text or ""), method="editMessageText", chat_id=COUNSELOR, since=mark
    )
    assert "陳心理師" in (edited.text or "") and "處理" in (edited.text or "")
    # the press is answered last (after the edit): wait for it, so the answers below are the next two
    await emu.wait_for(method="answerCallbackQuery", since=mark)
    # pressing again, or after it was taken, is harmless
    mark = emu.mark()
    await emu.press_button(chen, alert2.message_id or 0, alert2.button_data[0])
    await emu.press_button(wang, alert_w.message_id or 0, f"ack:{code2}")
    answers = await emu.wait_for_all(None, 2, method="answerCallbackQuery", since=mark)
    assert {str(a.params.get("text")) for a in answers} == {
        f"目前案件：{code2}。",
        f"案件 {code2} 已由其他心理師接案。",
    }
    clock.advance(seconds=10)
    mark = emu.mark()
    assert await stage.running.timers.run_due() == 0, "the acknowledged alert is not escalated"  # type: ignore[union-attr]
    assert not [t for t in stage.texts_to(SUPERVISOR, since=mark) if code2 in t]

    # 4. recorded for the crisis-response report; nothing identifying reached a counselor
    rows = await alerts(stage)
    assert [(r.risk, r.notified) for r in rows] == [("imminent", 2), ("elevated", 2)]
    assert rows[0].escalated_at is not None and rows[0].acknowledged_at is None
    assert (
        rows[1].acknowledged_by == OTHER
        and rows[1].acknowledged_at is not None
        and rows[1].escalated_at is None
    )
    assert rows[1].acknowledged_at >= rows[1].raised_at
    assert_no_identity(
        counselor_texts(stage), "阿傑", "張", "jie_private", "5101", "小美", "mei_private", "5102"
    )
    assert_no_identity(stage.texts_to(5101) + stage.texts_to(5102), "wang_acct", str(COUNSELOR), str(OTHER))


async def test_nobody_on_duty_reaches_supervisors_at_once(stage: Stage) -> None:
    emu = stage.emu
    emu.user(SUPERVISOR, "Lin", started=True)
    jie = emu.user(5103, "阿傑")
    mark = emu.mark()
    await stage.say(jie, "我想自殺", containing="1925")
    alert = await stage.next_message(SUPERVISOR, since=mark, containing="無人確認")
    assert alert.button_data[0].startswith("ack:HL-")
    [row] = await alerts(stage)
    assert row.notified_supervisors_at_once and row.notified == 1


async def test_a_second_crisis_message_does_not_postpone_the_escalation(
    stage: Stage, clock: StageClock
) -> None:
    emu = stage.emu
    wang = emu.user(COUNSELOR, "Wang")
    emu.user(SUPERVISOR, "Lin", started=True)
    await stage.say(wang, "/onduty", containing="值班")
    jie = emu.user(5104, "阿傑")
    await stage.say(jie, JUMP, containing="1925")
    clock.advance(seconds=1.5)
    await stage.say(jie, "藥已經準備好了", containing="1925")
    clock.advance(seconds=1)
    mark = emu.mark()
    assert await stage.running.timers.run_due() == 1  # type: ignore[union-attr]
    await stage.next_message(SUPERVISOR, since=mark, containing="無人確認")


async def test_escalation_fires_on_time_after_a_restart(emu: TelegramEmulator, sqlite_url: str) -> None:
    """Kill the service after the alert, start it again: the durable timer still fires, by itself."""
    settings = stage_settings(emu.api_url, TOKEN, sqlite_url, crisis={"ack_timeout_seconds": 1.5})
    clock = StageClock()
    stage = Stage(emu, settings, clock)
    await stage.start()
    try:
        wang = emu.user(COUNSELOR, "Wang")
        emu.user(SUPERVISOR, "Lin", started=True)
        await stage.say(wang, "/onduty", containing="值班")
        jie = emu.user(5105, "阿傑")
        mark = emu.mark()
        await stage.say(jie, JUMP, containing="1925")
        await stage.next_message(COUNSELOR, since=mark, containing="危機通報")
        await stage.stop()  # the process goes away with the timer pending
        await stage.start()  # a new process: nothing in memory, the timer is in the database
        escalation = await stage.next_message(SUPERVISOR, since=mark, containing="無人確認")
        assert escalation.at - stage.emu.calls[mark].at >= 1.0, "not before the timeout"
        async with stage.running.store.unit() as s:  # type: ignore[union-attr]
            daily = await s.scalar(
                select(func.count())
                .select_from(Timer)
                .where(Timer.kind == "maintenance.daily", Timer.fired_at.is_(None))
            )
        assert daily == 1, "the running service books its daily maintenance once, restarts or not"
    finally:
        await stage.stop()


async def test_hotline_screen_command() -> None:
    lines = ["今天好累喔", JUMP, "", "I'm dying to see that movie", "如有自殺念頭請撥1925", "kms"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline.cli", "screen",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate("\n".join(lines).encode() + b"\n"), 60)
    assert proc.returncode == 0, err.decode()
    results = [json.loads(line) for line in out.decode().splitlines()]
    assert len(results) == len(lines)
    assert [r["risk"] for r in results] == ["none", "imminent", "none", "none", "none", "elevated"]
    assert all(set(r) == {"risk", "cues"} for r in results)


async def test_a_crisis_inside_a_case_in_any_state_alerts(stage: Stage) -> None:
    emu = stage.emu
    wang = emu.user(COUNSELOR, "Wang")
    await stage.say(wang, "/onduty", containing="值班")
    mei = emu.user(5106, "小美")
    notice = await stage.say(mei, "/start", containing="7858")
    areas = await stage.press(mei, notice, "consent:accept", containing="領域")
    await stage.press(mei, areas, "area:family", containing="家庭關係")
    mark = emu.mark()
    await stage.say(mei, "他每天喝醉就打我，昨天還掐我脖子，我不敢回家", containing="1925")
    alert = await stage.next_message(COUNSELOR, since=mark, containing="危機通報")
    code = alert.button_data[0].removeprefix("ack:")
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        case = await s.scalar(select(Case).where(Case.code == code))
        assert case is not None and case.category == "family" and case.risk in {"elevated", "imminent"}


async def test_a_crisis_at_the_end_of_a_very_long_message_still_alerts(stage: Stage) -> None:
    emu = stage.emu
    wang = emu.user(COUNSELOR, "Wang")
    await stage.say(wang, "/onduty", containing="值班")
    jie = emu.user(5107, "阿傑")
    long_story = "今天主管又在會議上點名我，報告被退回三次。" * 194 + "我今晚打算自殺。"
    assert 4000 < len(long_story) <= 4096, "as long as Telegram lets an employee write"
    mark = emu.mark()
    await stage.say(jie, long_story, containing="1925")
    alert = await stage.next_message(COUNSELOR, since=mark, containing="危機通報")
    assert alert.button_data[0].startswith("ack:") and "/view" in (alert.text or "")
    code = alert.button_data[0].removeprefix("ack:")
    await stage.press(wang, alert, alert.button_data[0], expect=5107, containing="接手")
    record = "".join(stage.texts_to(COUNSELOR, since=mark))
    assert code in record
    mark = emu.mark()
    await stage.say(wang, f"/view {code}", containing="📁")
    await emu.wait_for(
        lambda c: "我今晚打算自殺" in (c.text or ""), method="sendMessage", chat_id=COUNSELOR, since=mark
    )
    # the relay of a long message arrives whole, in pieces
    mark = emu.mark()
    await emu.send_text(jie, "補充：" + "我真的很累，" * 675 + "最後一句")
    await emu.wait_for(
        lambda c: "最後一句" in (c.text or ""), method="sendMessage", chat_id=COUNSELOR, since=mark
    )
    relayed = "".join(t for t in stage.texts_to(COUNSELOR, since=mark))
    assert relayed.count("我真的很累") == 675


async def test_an_alert_telegram_refused_goes_out_again_from_the_backup_timer(
    emu: TelegramEmulator, db_url: str
) -> None:
    """Telegram refuses the alert (the emulator answers 500 for the counselor's chat): the employee
    still has the crisis reply, and the backup timer sends the alert again; on SQLite and PostgreSQL."""
    settings = stage_settings(emu.api_url, TOKEN, db_url, crisis={"ack_timeout_seconds": 300})
    clock = StageClock()
    async with Stage(emu, settings, clock, background_timers=False) as stage:
        timers = stage.running.timers
        assert timers is not None
        wang = emu.user(COUNSELOR, "Wang")
        await stage.say(wang, "/onduty", containing="值班")
        emu.fail_next("sendMessage", chat_id=COUNSELOR, status=500)
        jie = emu.user(5108, "阿傑")
        mark = emu.mark()
        await stage.say(jie, JUMP, containing="1925")
        refused = await emu.wait_for(
            lambda c: not c.ok, method="sendMessage", chat_id=COUNSELOR, since=mark, timeout=10
        )
        assert refused.injected and "危機通報" in (refused.text or ""), "the alert itself was refused"
        assert not [t for t in stage.texts_to(COUNSELOR, since=mark) if "危機通報" in t]
        assert await timers.run_due() == 0, "the backup is not due yet"

        clock.advance(seconds=16)
        resent_from = emu.mark()
        assert await timers.run_due() == 1
        alert = await stage.next_message(COUNSELOR, since=resent_from, containing="危機通報")
        assert JUMP in (alert.text or "") and alert.button_data[0].startswith("ack:")
        async with stage.running.store.unit() as s:  # type: ignore[union-attr]
            backup = await s.scalar(select(Timer).where(Timer.kind == TimerKind.CRISIS_RESEND))
            assert backup is not None and backup.fired_at is not None

        clock.advance(seconds=60)
        mark = emu.mark()
        assert await timers.run_due() == 0
        assert not [t for t in stage.texts_to(COUNSELOR, since=mark) if "危機通報" in t], (
            "sent once, not again"
        )


async def test_a_crisis_in_a_case_already_offered_updates_every_alert_when_taken(stage: Stage) -> None:
    emu = stage.emu
    wang, chen = emu.user(COUNSELOR, "Wang"), emu.user(OTHER, "Chen")
    await stage.say(wang, "/onduty", containing="值班")
    await stage.say(chen, "/onduty", containing="值班")
    mei = emu.user(5109, "小美")
    notice = await stage.say(mei, "/start", containing="7858")
    areas = await stage.press(mei, notice, "consent:accept", containing="領域")
    await stage.press(mei, areas, "area:family", containing="家庭關係")
    mark = emu.mark()
    await stage.say(mei, "家裡的事", containing="案件代號")
    await stage.next_message(COUNSELOR, since=mark, containing="📋")  # the case card first
    mark = emu.mark()
    await stage.say(mei, "其實我今晚想結束自己的生命", containing="1925")
    alert_w = await stage.next_message(COUNSELOR, since=mark, containing="危機通報")
    alert_c = await stage.next_message(OTHER, since=mark, containing="危機通報")
    mark = emu.mark()
    await stage.press(chen, alert_c, alert_c.button_data[0], expect=5109, containing="接手")
    await emu.wait_for(
        lambda c: c.message_id == alert_w.message_id and "陳心理師" in (c.text or ""),
        method="editMessageText", chat_id=COUNSELOR, since=mark,
    )  # fmt: skip


async def test_an_alert_sent_again_after_its_escalation_does_not_schedule_a_second_one(
    emu: TelegramEmulator, db_url: str
) -> None:
    """Issue 14 (the chaos test's 21st escalation timer for 20 crises): an alert whose backup timer
    fires after the escalation already went out (a worker killed between sending the alert and
    recording it) is the same crisis: it is sent again, and no second escalation is scheduled."""
    settings = stage_settings(emu.api_url, TOKEN, db_url, crisis={"ack_timeout_seconds": 2})
    clock = StageClock()
    async with Stage(emu, settings, clock, background_timers=False) as stage:
        timers = stage.running.timers
        assert timers is not None
        wang = emu.user(COUNSELOR, "Wang")
        emu.user(SUPERVISOR, "Lin", started=True)
        await stage.say(wang, "/onduty", containing="值班")
        emu.fail_next("sendMessage", chat_id=COUNSELOR, status=500)  # the alert is not recorded as shown
        jie = emu.user(5109, "阿傑")
        await stage.say(jie, JUMP, containing="1925")
        await emu.wait_for(lambda c: not c.ok, method="sendMessage", chat_id=COUNSELOR, timeout=10)

        clock.advance(seconds=3)
        mark = emu.mark()
        assert await timers.run_due() == 1, "the escalation"
        await stage.next_message(SUPERVISOR, since=mark, containing="無人確認")
        clock.advance(seconds=16)
        mark = emu.mark()
        assert await timers.run_due() == 1, "the alert's backup"
        await stage.next_message(COUNSELOR, since=mark, containing="危機通報")

        clock.advance(seconds=60)
        mark = emu.mark()
        assert await timers.run_due() == 0
        assert not [t for t in stage.texts_to(SUPERVISOR, since=mark) if "無人確認" in t], "escalated once"
        async with stage.running.store.unit() as s:  # type: ignore[union-attr]
            kinds = (await s.scalars(select(Timer.kind).where(Timer.kind == TimerKind.CRISIS_ESCALATE))).all()
        assert len(kinds) == 1, "one escalation timer per crisis"
