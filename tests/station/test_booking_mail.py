"""An e-mail case referred face to face (issue 7): the referral mail carries a booking code that works
with /book on Telegram; ending the case mails a one-time survey code that works with /survey."""

from __future__ import annotations

import re

from sqlalchemy import select

from hotline.sandbox.stage import Stage
from hotline.storage import repo
from hotline.storage.models import BookingRow, Case, Employee, Outbox
from tests.servers.dovecot import DovecotServer
from tests.servers.smtpd import SmtpSink
from tests.station.test_station import RECEIVED, mail, parsed, poll, station
from tests.tests_support import COUNSELOR

__all__ = ["station"]  # the fixture, shared with test_station.py
TELEGRAM_USER = 777000555


def body_of(raw: bytes) -> str:
    text = parsed(raw).get_body(("plain",))
    assert text is not None
    return str(text.get_content())


async def test_referral_mail_carries_a_booking_code_usable_on_telegram(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    emu = station.emu
    imap_server.append(
        mail("想找人談談", "家裡的事情讓我很困擾。", message_id="<b1@agency.example.gov.tw>"), RECEIVED
    )
    await poll(station)
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        case = await s.scalar(select(Case))
        assert case is not None
    wang = emu.user(COUNSELOR, "Wang")
    await station.say(wang, f"/refer {case.code} face", containing="")
    await poll(station)
    *_, referral = await smtp_server.wait_for(2)
    found = re.search(r"/book (BK-[2-9A-HJKMNP-Z]{8})", body_of(referral.raw))
    assert found is not None, "the referral mail carries the booking code"
    booking_code = found.group(1)

    worker = emu.user(TELEGRAM_USER, "阿明")
    offer = await station.say(worker, f"/book {booking_code}", containing="可預約的")
    assert offer.text
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        row = await s.scalar(select(BookingRow).where(BookingRow.referral_code == booking_code))
        assert row is not None and row.case_id == case.id
        owner = await s.get(Employee, row.employee_id)
        assert owner is not None and owner.channel == "telegram", "the code binds to the Telegram user"
    stranger = emu.user(TELEGRAM_USER + 1, "路人")
    refused = await station.say(stranger, f"/book {booking_code}", containing="找不到")
    assert refused.text, "a used code does not work for someone else"

    choose = await station.say(wang, f"/end {case.code}", containing="結案")
    await station.press(wang, choose, f"end:{case.code}:face_to_face", containing="已結案")
    await poll(station)
    *_, invitation = await smtp_server.wait_for(3)
    token = re.search(r"/survey (\S+)", body_of(invitation.raw))
    assert token is not None
    question = await station.say(worker, f"/survey {token.group(1)}", containing="滿意度")
    assert any(d.startswith("sv:rate:") for d in question.button_data)
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        fresh = await s.get(Case, case.id)
        assert fresh is not None and fresh.survey_invited
        store = station.running.store
        assert store is not None
        said = [text for _, text in await repo.messages_of(s, store, case.id)]
        assert not [t for t in said if token.group(1) in t], "the survey code is not kept with the case"
        kept = (await s.scalars(select(Outbox).where(Outbox.kind == "survey"))).all()
        assert kept == [], "the invitation's outbox row (with the code) is gone once sent"


async def test_ending_a_mail_case_face_to_face_mails_the_booking_code_once(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    imap_server.append(
        mail("想當面談", "可以約時間談嗎？", message_id="<b2@agency.example.gov.tw>"), RECEIVED
    )
    await poll(station)
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        case = await s.scalar(select(Case))
        assert case is not None
    wang = station.emu.user(COUNSELOR, "Wang")
    await station.say(wang, f"/reply {case.code} 可以的，我幫你安排。", containing="已排入寄送")
    choose = await station.say(wang, f"/end {case.code}", containing="結案")
    await station.press(wang, choose, f"end:{case.code}:face_to_face", containing="已結案")
    await poll(station)
    received = await smtp_server.wait_for(4)  # the acknowledgement, the answer, and what /end sends
    bodies = [body_of(sent.raw) for sent in received]
    referrals = [b for b in bodies if re.search(r"/book BK-[2-9A-HJKMNP-Z]{8}", b)]
    assert len(referrals) == 1, "the referral mail, with its booking code, once"
    assert any("/survey " in b for b in bodies), "and the survey invitation"
    assert len(smtp_server.received) == 4
