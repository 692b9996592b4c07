"""Booking and the survey for an employee on LINE (issue 15): the same flows as on Telegram, the choices
as quick replies, the identity revealed to the confirming counselor only and as a LINE id."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import StageClock
from tests.bot.booking_support import BOOKING_CODE, add_slot
from tests.line.line_support import LineStage, line_stage
from tests.tests_support import COUNSELOR, OTHER, assert_no_identity


@pytest.fixture
async def ls(emu: TelegramEmulator, sqlite_url: str, clock: StageClock) -> AsyncIterator[LineStage]:
    async with line_stage(emu, sqlite_url, clock) as running:
        yield running


def postbacks(call: object) -> list[str]:
    messages = getattr(call, "messages")  # noqa: B009
    return [i["action"]["data"] for m in messages for i in m.get("quickReply", {}).get("items", [])]


async def test_referral_booking_and_survey_on_line(ls: LineStage) -> None:
    stage, line = ls.stage, ls.line
    emu = stage.emu
    wang, chen = emu.user(COUNSELOR, "Wang"), emu.user(OTHER, "Chen")
    await stage.say(wang, "/onduty", containing="值班")
    await stage.say(chen, "/onduty", containing="值班")
    mei = line.user("林小美")
    await ls.say(mei, "/start", containing="LINE 名稱")
    await ls.tap(mei, "我了解，開始諮詢", containing="領域")
    await ls.tap(mei, "工作壓力")
    mark = emu.mark()
    await ls.say(mei, "最近壓力很大，睡不著。", containing="HL-")
    card = await stage.next_message(COUNSELOR, since=mark, containing="HL-")
    code = card.button_data[0].removeprefix("claim:")
    taken = line.mark()
    await emu.press_button(wang, card.message_id or 0, card.button_data[0])
    await ls.answer(mei, taken, containing="接手")

    choose = await stage.say(wang, "/end", containing="結案")
    ended = line.mark()
    await emu.press_button(wang, choose.message_id or 0, f"end:{code}:face_to_face")
    referral = await ls.answer(mei, ended, containing="預約代碼")
    survey = await ls.answer(mei, ended, containing="問卷")
    found = BOOKING_CODE.search(referral.texts[0])
    assert found is not None
    booking_code = found.group(0)

    slot_id = await add_slot(stage, wang, "2026-11-27 18:30 60 online")
    offer = await ls.say(mei, f"/book {booking_code}", containing="時段")
    [slot] = [d for d in postbacks(offer) if d.startswith("bk:slot:") and d.endswith(f":{slot_id}")]
    consent = await ls.answer(mei, line.postback(mei, slot), containing="同意")
    mark = emu.mark()
    sent = await ls.tap(mei, "同意，送出預約", containing="已送出預約申請")
    assert sent.endpoint == "reply"
    request = await stage.next_message(COUNSELOR, since=mark, containing="新的面談預約申請")
    assert code in (request.text or "") and consent.texts
    confirm = next(d for d in request.button_data if d.startswith("bk:confirm:"))
    confirmed = line.mark()
    mark = emu.mark()
    await emu.press_button(wang, request.message_id or 0, confirm)
    await ls.answer(mei, confirmed, containing="預約已確認")
    identity = await stage.next_message(COUNSELOR, since=mark, containing="LINE 使用者 ID")
    assert mei.user_id in (identity.text or "") and "林小美" not in (identity.text or "")
    assert_no_identity(stage.texts_to(OTHER), mei.user_id, "林小美")

    ratings = postbacks(survey)
    assert len(ratings) >= 5 and all(d.startswith("sv:") for d in ratings)
    await ls.answer(mei, line.postback(mei, ratings[4]), containing="推薦")  # as the Telegram demo rates
