"""Helpers of the face-to-face booking and survey tests (issue 7): a stage with a frozen clock, and the
steps both sides take."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import select

from hotline.sandbox import BotCall, ChatUser, TelegramEmulator
from hotline.sandbox.stage import OPEN_HOURS, Stage, StageClock, stage_settings
from hotline.storage.models import BookingRow
from tests.tests_support import COUNSELOR, consent_and_area

TOKEN = "4242:TEST-TOKEN-hotline"
BOOKING_CODE = re.compile(r"BK-[2-9A-HJKMNP-Z]{8}")


@asynccontextmanager
async def frozen_stage(emu: TelegramEmulator, db_url: str, **overrides: object) -> AsyncIterator[Stage]:
    """The service on ``db_url`` with a clock that moves only when a test moves it."""
    settings = stage_settings(emu.api_url, TOKEN, db_url, **overrides)
    clock = StageClock(start=OPEN_HOURS, follow_real_time=False)
    async with Stage(emu, settings, clock, background_timers=False) as stage:
        yield stage


def set_clock(stage: Stage, moment: datetime) -> None:
    stage.clock.advance(seconds=(moment - stage.clock()).total_seconds())


async def served_case(
    stage: Stage, employee: ChatUser, counselor: ChatUser, area: str = "area:work_stress"
) -> str:
    """An employee's chat case, claimed by ``counselor``; returns the case code."""
    emu = stage.emu
    await stage.say(counselor, "/onduty", containing="值班")
    await consent_and_area(stage, employee, area)
    mark = emu.mark()
    await stage.say(employee, "最近壓力很大，睡不著。")
    card = await stage.next_message(counselor.id, since=mark, containing="HL-")
    await stage.press(counselor, card, card.button_data[0], expect=employee.id, containing="接手")
    return card.button_data[0].removeprefix("claim:")


async def end_case(stage: Stage, counselor: ChatUser, employee: ChatUser, code: str, outcome: str) -> None:
    choose = await stage.say(counselor, "/end", containing="結案")
    await stage.press(counselor, choose, f"end:{code}:{outcome}", expect=employee.id, containing="")


async def refer_face_to_face(stage: Stage, counselor: ChatUser, employee: ChatUser, code: str) -> str:
    """End the chat case with a face-to-face referral; return the booking code the employee was given."""
    choose = await stage.say(counselor, "/end", containing="結案")
    assert choose.message_id is not None
    update = await stage.emu.press_button(counselor, choose.message_id, f"end:{code}:face_to_face")
    referral = await stage.next_message(employee.id, since=update.mark, containing="預約代碼")
    await stage.next_message(employee.id, since=update.mark, containing="可預約的")  # slots, or none yet
    await stage.next_message(employee.id, since=update.mark, containing="匿名滿意度問卷")  # then the survey
    found = BOOKING_CODE.search(referral.text or "")
    assert found is not None
    return found.group(0)


async def add_slot(stage: Stage, counselor: ChatUser, spec: str) -> int:
    added = await stage.say(counselor, f"/slots add {spec}", containing="新增時段")
    match = re.search(r"#(\d+)", added.text or "")
    assert match is not None, added.text
    return int(match.group(1))


def slot_button(offer: BotCall, slot_id: int) -> str:
    return next(d for d in offer.button_data if d.startswith("bk:slot:") and d.endswith(f":{slot_id}"))


async def request_slot(stage: Stage, employee: ChatUser, booking_code: str, slot_id: int) -> BotCall:
    """``/book CODE``, pick the slot, consent: the counselor's request card (returned)."""
    offer = await stage.say(employee, f"/book {booking_code}", containing="時段")
    consent = await stage.press(employee, offer, slot_button(offer, slot_id), containing="同意")
    consent_data = next(d for d in consent.button_data if d.startswith("bk:consent:yes:"))
    assert consent.message_id is not None
    update = await stage.emu.press_button(employee, consent.message_id, consent_data)
    await stage.next_message(employee.id, since=update.mark, containing="已送出預約申請")
    return await stage.next_message(COUNSELOR, since=update.mark, containing="新的面談預約申請")


async def booking_row(stage: Stage, booking_id: int) -> BookingRow:
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        row = await s.scalar(select(BookingRow).where(BookingRow.id == booking_id))
        assert row is not None
        return row


def booking_id_of(call: BotCall) -> int:
    return int(call.button_data[0].rpartition(":")[2])
