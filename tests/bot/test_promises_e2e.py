"""Issue 17: every promise made to the employee is kept, every number they are asked to call is given, and
a refused command's words reach no one. The real PTB Application on the emulator, SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from hotline.sandbox import BotCall, TelegramEmulator
from hotline.sandbox.stage import TAIPEI, Stage
from hotline.settings import DEFAULT_CONFIG_DIR
from hotline.storage.models import Message
from hotline.texts import Texts
from tests.bot.booking_support import (
    add_slot,
    booking_id_of,
    booking_row,
    frozen_stage,
    refer_face_to_face,
    request_slot,
    served_case,
    set_clock,
)
from tests.tests_support import COUNSELOR

EMPLOYEE = 777000717
PHONE = "03-332-2101"
UNSET_WARNING = "office_phone is not set"


async def confirmed_in(stage: Stage, hours: float) -> tuple[int, datetime, BotCall]:
    """A referred employee's session ``hours`` from now, confirmed now: (booking id, start, confirmation)."""
    emu = stage.emu
    mei, wang = emu.user(EMPLOYEE, "小美"), emu.user(COUNSELOR, "Wang")
    code = await served_case(stage, mei, wang)
    booking_code = await refer_face_to_face(stage, wang, mei, code)
    start = (stage.clock() + timedelta(hours=hours)).astimezone(TAIPEI)
    slot_id = await add_slot(stage, wang, f"{start:%Y-%m-%d %H:%M} 60 online")
    request = await request_slot(stage, mei, booking_code, slot_id)
    confirm = next(d for d in request.button_data if d.startswith("bk:confirm:"))
    confirmation = await stage.press(wang, request, confirm, expect=EMPLOYEE, containing="預約已確認")
    return booking_id_of(request), start, confirmation


async def test_a_session_confirmed_3_hours_ahead_gets_the_reminder_it_was_promised(
    emu: TelegramEmulator, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="hotline.app"):
        async with frozen_stage(emu, db_url, booking={"office_phone": PHONE}) as stage:
            assert not [r for r in caplog.records if UNSET_WARNING in r.getMessage()]
            booking_id, start, confirmation = await confirmed_in(stage, 3)
            promise = confirmation.text or ""
            assert "我們會在" in promise and "面談 2 小時前）傳訊息提醒您" in promise, promise
            assert "前一天" not in promise, "no promise of a day-before reminder that cannot come"
            assert "無法線上取消" in promise and PHONE in promise, "cancelling online is already closed"
            timers = stage.running.timers
            assert timers is not None
            set_clock(stage, start - timedelta(hours=2, minutes=1))
            assert await timers.run_due() == 0, "not yet"
            stage.clock.advance(minutes=1)
            mark = emu.mark()
            assert await timers.run_due() == 1
            reminder = await stage.next_message(EMPLOYEE, since=mark, containing="提醒您")
            assert PHONE in (reminder.text or ""), "the reminder names the number to call"
            await stage.next_message(COUNSELOR, since=mark, containing="提醒：")
            assert (await booking_row(stage, booking_id)).reminded_at is not None


async def test_without_an_office_phone_start_up_warns_and_no_message_has_a_hole(
    emu: TelegramEmulator, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="hotline.app"):
        async with frozen_stage(emu, db_url) as stage:
            assert [r for r in caplog.records if UNSET_WARNING in r.getMessage()], "start-up warning"
            mei = emu.user(EMPLOYEE, "小美")
            _, _, confirmation = await confirmed_in(stage, 30)
            assert "面談 24 小時前）傳訊息提醒您" in (confirmation.text or "")
            set_clock(stage, stage.clock() + timedelta(hours=8))  # 22 hours before: too late to cancel
            status = await stage.say(mei, "/mybooking", containing="已確認")
            cancel = next(d for d in status.button_data if d.startswith("bk:cancel:"))
            refused = await stage.press(mei, status, cancel, containing="無法線上取消")
            text = refused.text or ""
            assert "直接在這個對話留言" in text, text
            assert "專線" not in text and "—" not in text, "no number: no blank where it would be"
            for sent in stage.texts_to(EMPLOYEE):
                assert not re.search(r"(專線|致電)\s*[，。；、]", sent), sent


def test_every_text_that_asks_to_call_names_the_number() -> None:
    """Texts that say 致電 or 撥 give a number in the same text: digits, or the office's {office_phone}.
    The office's number reaches booking texts through {call_office} (a clause with the number, or, when
    none is configured, the advice to write in the chat)."""
    texts = Texts.load(DEFAULT_CONFIG_DIR, TAIPEI)
    keys = texts.keys()
    asking = [k for k in keys if re.search(r"致電|撥", texts.get(k))]
    assert "booking.call.office" in asking and len(asking) > 10, "the check would prove nothing"
    for key in asking:
        text = texts.get(key)
        assert re.search(r"\d{3}|\{office_phone\}", text), f"{key} asks to call without a number: {text}"
    office = texts.render("booking.call.office", {"office_phone": PHONE})
    assert PHONE in office and "{" not in texts.get("booking.call.no_phone")
    users = [k for k in keys if "{call_office}" in texts.get(k)]
    assert "booking.reminder" in users and "booking.cancel_too_late" in users


@pytest.mark.parametrize(
    "command", ["/slots add 2026-12-01 10:00 60 我家住在中和景平路", "/nosuch 我家住在中和景平路"]
)
async def test_a_refused_commands_words_reach_no_one(
    emu: TelegramEmulator, db_url: str, command: str
) -> None:
    async with frozen_stage(emu, db_url) as stage:
        mei, wang = emu.user(EMPLOYEE, "小美"), emu.user(COUNSELOR, "Wang")
        await served_case(stage, mei, wang)
        mark = emu.mark()
        refusal = await stage.say(mei, command)
        assert refusal.text
        # Per-chat order: once the next words arrive, the command has been dealt with.
        await stage.say(mei, "之後的訊息", expect=COUNSELOR, containing="之後的訊息")
        leaked = [t for t in stage.texts_to(COUNSELOR, since=mark) if "景平路" in t]
        assert not leaked, leaked
        assert all("景平路" not in t for t in stage.texts_to(EMPLOYEE, since=mark))
        store = stage.running.store
        assert store is not None
        async with store.unit() as s:
            stored = [store.open(m) for m in await s.scalars(select(Message.content_enc)) if m is not None]
        assert any("之後的訊息" in t for t in stored), "the case's messages are stored (and readable here)"
        assert all("景平路" not in t for t in stored), "nor kept in the case"
