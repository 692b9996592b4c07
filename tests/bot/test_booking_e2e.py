"""Face-to-face booking end to end (issue 7): the real PTB Application on the emulator, SQLite and
PostgreSQL, a clock the tests move by hand."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from hotline.privacy.audit import audit_log
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import TAIPEI, Stage
from hotline.storage import booking_repo
from hotline.storage.models import BookingRow, Case, SlotRow
from tests.bot.booking_support import (
    add_slot,
    booking_id_of,
    booking_row,
    frozen_stage,
    refer_face_to_face,
    request_slot,
    served_case,
    set_clock,
    slot_button,
)
from tests.tests_support import COUNSELOR, OTHER, SUPERVISOR

EMPLOYEE = 777000333
FRIDAY_10 = datetime(2026, 11, 27, 10, 0, tzinfo=TAIPEI)  # two days after the stage's Wednesday
FRIDAY_EVENING = datetime(2026, 11, 27, 18, 30, tzinfo=TAIPEI)  # after hours: allowed


async def confirmed_booking(stage: Stage, slot_spec: str) -> tuple[int, str]:
    """A referred employee with a confirmed booking of a new slot; returns (booking id, booking code)."""
    emu = stage.emu
    mei, wang = emu.user(EMPLOYEE, "小美", username="mei_private"), emu.user(COUNSELOR, "Wang")
    code = await served_case(stage, mei, wang)
    booking_code = await refer_face_to_face(stage, wang, mei, code)
    slot_id = await add_slot(stage, wang, slot_spec)
    request = await request_slot(stage, mei, booking_code, slot_id)
    confirm = next(d for d in request.button_data if d.startswith("bk:confirm:"))
    await stage.press(wang, request, confirm, expect=EMPLOYEE, containing="預約已確認")
    return booking_id_of(request), booking_code


async def test_referral_booking_and_confirmation_reveal_the_identity_to_that_counselor_only(
    emu: TelegramEmulator, db_url: str
) -> None:
    async with frozen_stage(emu, db_url) as stage:
        mei, wang = emu.user(EMPLOYEE, "小美", username="mei_private"), emu.user(COUNSELOR, "Wang")
        chen = emu.user(OTHER, "Chen")
        await stage.say(chen, "/onduty")
        code = await served_case(stage, mei, wang)
        booking_code = await refer_face_to_face(stage, wang, mei, code)
        assert any("目前沒有可預約的時段" in t for t in stage.texts_to(EMPLOYEE)), "no slots yet: said so"

        slot_id = await add_slot(stage, wang, "2026-11-27 18:30 60 online")
        listing = await stage.say(wang, "/slots", containing="#")
        assert f"#{slot_id}" in (listing.text or "") and "開放中" in (listing.text or "")
        request = await request_slot(stage, mei, booking_code, slot_id)
        assert code in (request.text or ""), "the counselor sees the case code"
        assert str(EMPLOYEE) not in "".join(stage.texts_to(COUNSELOR)), "no identity before confirmation"

        mark = emu.mark()
        confirm = next(d for d in request.button_data if d.startswith("bk:confirm:"))
        confirmed = await stage.press(wang, request, confirm, expect=EMPLOYEE, containing="預約已確認")
        assert "不錄音" in (confirmed.text or ""), "no recording without consent, in the confirmation"
        identity = await stage.next_message(COUNSELOR, since=mark, containing="tg://user?id=")
        assert str(EMPLOYEE) in (identity.text or "")
        for other in (OTHER, SUPERVISOR):
            assert all(str(EMPLOYEE) not in t for t in stage.texts_to(other)), "nobody else learns who"

        booking_id = booking_id_of(request)
        async with stage.running.store.unit() as s:  # type: ignore[union-attr]
            case = await s.scalar(select(Case).where(Case.code == code))
            assert case is not None
            entries = (await s.execute(select(audit_log).where(audit_log.c.case_id == case.id))).all()
            reveal = [e for e in entries if e.action == "reveal_identity"]
            assert len(reveal) == 1 and reveal[0].reason == "booking consent"
            assert reveal[0].actor_id == str(COUNSELOR) and reveal[0].detail["booking"] == booking_id
        row = await booking_row(stage, booking_id)
        assert row.state == "confirmed" and row.consent_at is not None

        taken = await stage.say(chen, "/slots")
        assert "沒有未來的時段" in (taken.text or ""), "slots are per counselor"


async def test_quota_edge_exactly_four_hours_is_free_more_is_self_paid(
    emu: TelegramEmulator, db_url: str
) -> None:
    async with frozen_stage(emu, db_url) as stage:
        mei, wang = emu.user(EMPLOYEE, "小美"), emu.user(COUNSELOR, "Wang")
        code = await served_case(stage, mei, wang)
        booking_code = await refer_face_to_face(stage, wang, mei, code)
        # Three hours already attended this year (sessions earlier in 2026).
        async with stage.running.store.unit() as s:  # type: ignore[union-attr]
            first = await booking_repo.latest_by_code(s, booking_code)
            assert first is not None
            for day in (3, 10, 17):
                start = datetime(2026, 11, day, 10, 0, tzinfo=TAIPEI)
                slot = await booking_repo.add_slot(s, COUNSELOR, start, 60, "online", start)
                done = await booking_repo.add_booking(
                    s,
                    code=booking_code,
                    employee_id=first.employee_id,
                    case_id=first.case_id,
                    area=None,
                    now=start,
                )
                done.state, done.slot_id, slot.booking_id = "attended", slot.id, done.id
        hour = await add_slot(stage, wang, "2026-11-27 10:00 60 online")
        longer = await add_slot(stage, wang, "2026-11-27 14:00 90 總院區B棟3樓諮商室")

        offer = await stage.say(mei, f"/book {booking_code}", containing="時段")
        at_four = await stage.press(mei, offer, slot_button(offer, hour))
        assert "心理師確認預約時" in (at_four.text or ""), "3 h + 1 h = exactly the free 4 h: no self-pay"
        refuse = next(d for d in at_four.button_data if d.startswith("bk:consent:no:"))
        again = await stage.press(mei, at_four, refuse, containing="時段")
        over = await stage.press(mei, again, slot_button(again, longer), containing="自行付費")
        assert "0.5 小時超過免費時數" in (over.text or "") and "今年已使用（含已預約）3 小時" in (
            over.text or ""
        )
        accept = next(d for d in over.button_data if d.startswith("bk:pay:yes:"))
        consent = await stage.press(mei, over, accept, containing="同意")
        yes = next(d for d in consent.button_data if d.startswith("bk:consent:yes:"))
        assert consent.message_id is not None
        mark = emu.mark()
        await emu.press_button(mei, consent.message_id, yes)
        request = await stage.next_message(COUNSELOR, since=mark, containing="自費時數：0.5")
        assert (await booking_row(stage, booking_id_of(request))).paid_minutes == 30


async def test_cancel_at_24_hours_is_free_at_23_hours_59_minutes_refused(
    emu: TelegramEmulator, db_url: str
) -> None:
    async with frozen_stage(emu, db_url, booking={"office_phone": "03-332-2101"}) as stage:
        mei, wang = emu.user(EMPLOYEE, "小美"), emu.user(COUNSELOR, "Wang")
        first_id, booking_code = await confirmed_booking(stage, "2026-11-27 10:00 60 online")
        set_clock(stage, FRIDAY_10 - timedelta(hours=24))
        status = await stage.say(mei, "/mybooking", containing="已確認")
        cancel = next(d for d in status.button_data if d.startswith("bk:cancel:"))
        mark = emu.mark()
        done = await stage.press(mei, status, cancel, containing="已取消")
        assert "已取消" in (done.text or "")
        await stage.next_message(COUNSELOR, since=mark, containing="當事人取消")
        assert (await booking_row(stage, first_id)).state == "cancelled_by_employee"

        later = await add_slot(stage, wang, "2026-11-27 12:00 60 online")
        request = await request_slot(stage, mei, booking_code, later)
        confirm = next(d for d in request.button_data if d.startswith("bk:confirm:"))
        await stage.press(wang, request, confirm, expect=EMPLOYEE, containing="預約已確認")
        set_clock(stage, FRIDAY_10 + timedelta(hours=2) - timedelta(hours=23, minutes=59))
        status = await stage.say(mei, "/mybooking", containing="已確認")
        cancel = next(d for d in status.button_data if d.startswith("bk:cancel:"))
        refused = await stage.press(mei, status, cancel, containing="無法線上取消")
        assert "03-332-2101" in (refused.text or ""), "who to call instead"
        assert (await booking_row(stage, booking_id_of(request))).state == "confirmed"


async def test_decline_keeps_the_reason_private_and_offers_other_slots(
    emu: TelegramEmulator, db_url: str
) -> None:
    async with frozen_stage(emu, db_url) as stage:
        mei, wang = emu.user(EMPLOYEE, "小美"), emu.user(COUNSELOR, "Wang")
        code = await served_case(stage, mei, wang)
        booking_code = await refer_face_to_face(stage, wang, mei, code)
        slot_id = await add_slot(stage, wang, "2026-11-27 18:30 60 online")
        await add_slot(stage, wang, "2026-11-30 09:00 60 online")
        request = await request_slot(stage, mei, booking_code, slot_id)
        decline = next(d for d in request.button_data if d.startswith("bk:decline:"))
        booking_id = booking_id_of(request)
        how = await stage.press(wang, request, decline, containing="/decline")
        assert f"/decline {booking_id}" in (how.text or "")
        mark = emu.mark()
        await emu.send_text(wang, f"/decline {booking_id} 與當事人是同單位舊識，利益衝突")
        told = await stage.next_message(EMPLOYEE, since=mark, containing="無法安排")
        offer = await stage.next_message(EMPLOYEE, since=mark, containing="可預約的面談時段")
        assert all(not d.endswith(f":{slot_id}") for d in offer.button_data), (
            "the declined slot is not offered again"
        )
        assert all("利益衝突" not in t for t in stage.texts_to(EMPLOYEE)), "the reason is never shown"
        assert told.text is not None
        row = await booking_row(stage, booking_id)
        assert row.state == "declined" and row.private_reason_enc is not None
        assert "利益衝突" in stage.running.store.open(row.private_reason_enc)  # type: ignore[union-attr]
        # the declined booking let go of the slot: its counselor can take it back
        await stage.say(wang, f"/slots remove {slot_id}", containing=f"已刪除時段 #{slot_id}")
        assert (await booking_row(stage, booking_id)).slot_id is None


async def test_counselor_cancel_tells_the_employee_at_once(emu: TelegramEmulator, db_url: str) -> None:
    async with frozen_stage(emu, db_url) as stage:
        wang = emu.user(COUNSELOR, "Wang")
        booking_id, _ = await confirmed_booking(stage, "2026-11-27 10:00 60 online")
        told = await stage.say(
            wang, f"/cancelbooking {booking_id} 臨時公出", expect=EMPLOYEE, containing="必須取消"
        )
        assert "臨時公出" not in (told.text or "")
        assert (await booking_row(stage, booking_id)).state == "cancelled_by_counselor"
        stale = await stage.say(wang, f"/decline {booking_id}", containing="無法使用")
        assert stale.text


async def test_reminder_the_day_before_then_no_show_is_recorded(emu: TelegramEmulator, db_url: str) -> None:
    async with frozen_stage(emu, db_url) as stage:
        wang = emu.user(COUNSELOR, "Wang")
        booking_id, _ = await confirmed_booking(stage, "2026-11-27 18:30 60 online")
        service = stage.running
        assert service.timers is not None
        set_clock(stage, FRIDAY_EVENING - timedelta(days=1, minutes=1))
        assert await service.timers.run_due() == 0, "not yet"
        stage.clock.advance(minutes=1)
        mark = emu.mark()
        assert await service.timers.run_due() == 1
        await stage.next_message(EMPLOYEE, since=mark, containing="提醒您：")
        reminder = await stage.next_message(COUNSELOR, since=mark, containing="提醒：")
        second = emu.mark()
        assert service.aftercare is not None
        await service.aftercare.bookings.reminder(booking_id)  # the timer run a second time
        assert not [c for c in emu.calls[second:] if c.method == "sendMessage"], "reminded once only"
        no_show = next(d for d in reminder.button_data if d.startswith("bk:ns:"))
        early = await stage.press(wang, reminder, no_show, containing="尚未開始")
        assert early.text
        set_clock(stage, FRIDAY_EVENING + timedelta(minutes=20))
        await stage.press(wang, reminder, no_show, expect=EMPLOYEE, containing="沒有出席")
        row = await booking_row(stage, booking_id)
        assert row.state == "no_show"
        async with service.store.unit() as s:  # type: ignore[union-attr]
            again = await s.scalar(select(BookingRow.survey_invited).where(BookingRow.id == booking_id))
        assert again is False, "no survey for a session that did not happen"


async def test_attended_session_invites_the_survey(emu: TelegramEmulator, db_url: str) -> None:
    async with frozen_stage(emu, db_url) as stage:
        wang = emu.user(COUNSELOR, "Wang")
        booking_id, _ = await confirmed_booking(stage, "2026-11-27 10:00 60 online")
        set_clock(stage, FRIDAY_10 + timedelta(minutes=50))
        status = await stage.say(wang, "/slots")
        assert "已確認" in (status.text or "")
        card = next(c for c in emu.calls_to(COUNSELOR) if any(d.startswith("bk:att:") for d in c.button_data))
        attended = next(d for d in card.button_data if d.startswith("bk:att:"))
        invite = await stage.press(wang, card, attended, expect=EMPLOYEE, containing="匿名滿意度問卷")
        assert any(d.startswith("sv:rate:5:") for d in invite.button_data)
        assert (await booking_row(stage, booking_id)).state == "attended"


async def test_forget_detaches_the_bookings(emu: TelegramEmulator, db_url: str) -> None:
    async with frozen_stage(emu, db_url) as stage:
        mei = emu.user(EMPLOYEE, "小美")
        booking_id, _ = await confirmed_booking(stage, "2026-11-27 10:00 60 online")
        explain = await stage.say(mei, "/forget")
        mark = emu.mark()
        await stage.press(mei, explain, "forget:confirm")
        told = await stage.next_message(COUNSELOR, since=mark, containing="要求刪除自己的資料")
        assert "時段已重新開放" in (told.text or "")
        row = await booking_row(stage, booking_id)
        assert row.employee_id is None and row.state == "cancelled_by_employee"
        async with stage.running.store.unit() as s:  # type: ignore[union-attr]
            slot = await s.get(SlotRow, row.slot_id)
            assert slot is not None and slot.booking_id is None, "the slot can be booked again"


async def test_odd_digits_get_the_usage_not_an_error(emu: TelegramEmulator, db_url: str) -> None:
    async with frozen_stage(emu, db_url) as stage:
        wang = emu.user(COUNSELOR, "Wang")
        assert "用法" in ((await stage.say(wang, "/decline ²")).text or "")
        assert "用法" in ((await stage.say(wang, "/decline 99999999999999999999 理由")).text or "")
        assert "新增時段" in ((await stage.say(wang, "/slots add 2026-12-01 10:00 ² online")).text or "")


async def test_a_counselor_removes_a_free_slot_of_their_own_not_a_held_one(
    emu: TelegramEmulator, db_url: str
) -> None:
    async with frozen_stage(emu, db_url) as stage:
        booking_id, _ = await confirmed_booking(stage, "2026-11-27 18:30 60 online")
        wang, lin = emu.user(COUNSELOR, "Wang"), emu.user(OTHER, "Lin")
        free = await add_slot(stage, wang, "2026-11-28 10:00 60 online")
        async with stage.running.store.unit() as s:  # type: ignore[union-attr]
            booking = await s.get(BookingRow, booking_id)
            assert booking is not None and booking.slot_id is not None
            held = booking.slot_id
        await stage.say(wang, f"/slots remove {held}", containing=f"/decline {booking_id}")
        await stage.say(lin, f"/slots remove {free}", containing="找不到您的時段")
        await stage.say(wang, f"/slots remove #{free}", containing=f"已刪除時段 #{free}")
        await stage.say(wang, f"/slots remove {free}", containing="找不到您的時段")
        await stage.say(wang, "/slots remove x", containing="刪除時段：/slots remove")
        async with stage.running.store.unit() as s:  # type: ignore[union-attr]
            assert await s.get(SlotRow, free) is None
            assert await s.get(SlotRow, held) is not None, "a held slot stays until its booking is handled"
