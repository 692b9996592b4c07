"""Mail as it really arrives (issue 12): bare-address From lines, bounces, undeclared 8-bit subjects,
other libraries' test messages, and one automatic mail per new thread, flagged or not. Real Dovecot,
real aiosmtpd, the Telegram emulator."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from hotline.sandbox.stage import Stage
from hotline.storage.models import Case, Mail, Message
from tests.servers.dovecot import DovecotServer
from tests.servers.smtpd import SmtpSink
from tests.station.test_station import RECEIVED, STATION, cases, mail, poll
from tests.station.test_station import station as station  # the fixture
from tests.tests_support import COUNSELOR

REALWORLD = Path(__file__).resolve().parents[1] / "mailbox" / "realworld"
DUE_DATE = "2026-11-28"  # reply-by date of a mail received on RECEIVED


def raw_mail(headers: str, body: bytes, charset: str = "") -> bytes:
    ctype = f"Content-Type: text/plain; charset={charset}\r\n" if charset else ""
    head = (
        f"From: worker@agency.example.gov.tw\r\nTo: {STATION}\r\nDate: Wed, 25 Nov 2026 09:29:00 +0800\r\n"
        f"MIME-Version: 1.0\r\n{ctype}Content-Transfer-Encoding: 8bit\r\n"
    )
    return head.encode() + headers.encode("latin-1") + b"\r\n" + body


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def on_duty(station: Stage) -> None:
    await station.say(station.emu.user(COUNSELOR, "Wang"), "/onduty", containing="值班")


async def inbound(station: Stage) -> list[Mail]:
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        return list(
            (await s.scalars(select(Mail).where(Mail.direction == "inbound").order_by(Mail.uid))).all()
        )


# ---- From lines ------------------------------------------------------------------------------------------


async def test_a_from_without_angle_brackets_is_answered_at_its_address(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    raw = mail("想聊聊", "最近壓力很大", message_id="<bare1@x.tw>").replace(
        b"From: worker@agency.example.gov.tw",
        b"From: =?UTF-8?B?546L5bCP5piO?= wang.ming@agency.example.gov.tw",
    )
    imap_server.append(raw, RECEIVED)
    assert await poll(station) == (1, 1)
    [ack] = await smtp_server.wait_for(1)
    assert ack.rcpt_tos == ("wang.ming@agency.example.gov.tw",)
    assert ack.message["To"].addresses[0].addr_spec == "wang.ming@agency.example.gov.tw"


async def test_an_unusable_sender_gets_no_acknowledgement_and_the_counselor_is_told_why(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    await on_duty(station)
    mark = station.emu.mark()
    raw = mail("想聊聊", "最近壓力很大", message_id="<bad1@x.tw>").replace(
        b"From: worker@agency.example.gov.tw", b"From: =?UTF-8?B?546L5bCP5piO?= wang.ming@localhost"
    )
    imap_server.append(raw, RECEIVED)
    assert await poll(station) == (1, 0), "nothing is sent to an address no server would take"
    [row] = await inbound(station)
    assert row.needs_human and row.case_id is not None
    [case] = await cases(station)
    await station.next_message(COUNSELOR, since=mark, containing=f"{case.code} 的寄件地址無法使用")
    assert smtp_server.received == []


# ---- bounces ---------------------------------------------------------------------------------------------


async def test_bounces_are_stored_shown_and_never_answered(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    await on_duty(station)
    imap_server.append(mail("想聊聊", "最近壓力很大", message_id="<first@x.tw>"), RECEIVED)
    assert await poll(station) == (1, 1)
    [ack] = await smtp_server.wait_for(1)
    ours = ack.message["Message-ID"]
    mark = station.emu.mark()
    daemon = mail(
        "Undelivered Mail Returned to Sender", "This is the mail system at host mx.example.\nI'm sorry ...",
        sender="MAILER-DAEMON@mx.agency.example.gov.tw", message_id="<b1@mx.x.tw>", in_reply_to=ours,
    )  # fmt: skip
    null_path = b"Return-Path: <>\r\n" + mail(
        "Delivery Status Notification (Failure)", "Delivery to the following recipient failed.",
        sender="postmaster@relay.example.com", message_id="<b2@relay.x.tw>",
    )  # fmt: skip
    report = (REALWORLD / "mail-parser" / "mail_malformed_2.eml").read_bytes()
    imap_server.append_many([daemon, null_path, report], RECEIVED)
    assert await poll(station) == (3, 0), "no bounce is answered"
    rows = await inbound(station)
    assert len(rows) == 4 and all(r.needs_human and r.raw_enc is not None for r in rows[1:])
    [case] = await cases(station)
    assert rows[1].case_id == case.id, "a bounce of our mail lands in its case"
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        stored = (await s.scalars(select(Message).where(Message.case_id == case.id))).all()
        assert len(stored) == 2
        assert (await s.get(Case, case.id)).message_count == 2  # type: ignore[union-attr]
    await station.next_message(COUNSELOR, since=mark, containing=f"{case.code} 收到退信")
    await station.next_message(COUNSELOR, since=mark, containing="退信（對應不到案件）")
    assert len(smtp_server.received) == 1


# ---- undeclared 8-bit subjects ---------------------------------------------------------------------------


async def test_undeclared_8bit_subjects_use_the_declared_charsets_and_are_quoted_only_when_clean(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    korean = raw_mail(
        "Subject: 회의 일정 문의\r\nMessage-ID: <kr1@x.kr>\r\n".encode("euc-kr").decode("latin-1"),
        "안녕하세요. 상담을 받고 싶습니다.\r\n".encode("euc-kr"), charset="euc-kr",
    )  # fmt: skip
    latin = raw_mail(
        "Subject: Müller: réunion déjà prévue\r\nMessage-ID: <fr1@x.fr>\r\n",
        "Bonjour, je voudrais parler à quelqu'un.\r\n".encode("latin-1"), charset="iso-8859-1",
    )  # fmt: skip
    undeclared = raw_mail(
        "Subject: Müller\r\nMessage-ID: <un1@x.fr>\r\n", b"Hello, I would like to talk.\r\n"
    )
    imap_server.append_many([korean, latin, undeclared], RECEIVED)
    assert await poll(station) == (3, 3)
    acks = {r.message["In-Reply-To"]: str(r.message["Subject"]) for r in await smtp_server.wait_for(3)}
    assert "회의 일정 문의" in acks["<kr1@x.kr>"]
    assert "Müller: réunion déjà prévue" in acks["<fr1@x.fr>"]
    guessed = acks["<un1@x.fr>"]
    assert "HL-" in guessed and "ller" not in guessed, "a guessed subject is not quoted back"


# ---- other libraries' test messages ----------------------------------------------------------------------


async def test_other_libraries_test_messages_are_taken_in_and_only_real_senders_answered(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    files = sorted((REALWORLD / "mail-parser").glob("*.eml"))
    imap_server.append_many([f.read_bytes() for f in files], RECEIVED)
    stored, sent = await poll(station)
    # Not answered: the bounce (mail_malformed_2) and the bulk spam test mail (mail_test_16).
    assert (stored, sent) == (len(files), len(files) - 2)
    rows = await inbound(station)
    assert len(rows) == len(files) and all(r.raw_enc is not None for r in rows)
    to = sorted(a for r in await smtp_server.wait_for(sent) for a in r.rcpt_tos)
    assert "bob@example.com" in to and "alice@example.com" not in to, "the address, not the display name"
    assert "postmaster@netpar.com.br" not in to
    assert await poll(station) == (0, 0)


# ---- one automatic mail per new thread -------------------------------------------------------------------


async def test_a_crisis_in_a_new_thread_gets_one_mail_leading_with_the_crisis_reply(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    imap_server.append_many(
        [
            mail("救命", "我今晚想自殺", sender="a@agency.example.gov.tw", message_id="<c1@x.tw>"),
            mail("好難過", "我想自殺", sender="b@agency.example.gov.tw", message_id="<c2@x.tw>"),
            mail("最近好累", "工作壓力很大", sender="c@agency.example.gov.tw", message_id="<c3@x.tw>"),
        ],
        RECEIVED,
    )
    assert await poll(station) == (3, 3), "one automatic mail per new thread, flagged or not"
    got = {r.rcpt_tos[0]: r.message for r in await smtp_server.wait_for(3)}
    codes = {c.code for c in await cases(station)}
    for who, first in (("a", "110"), ("b", "1925"), ("c", "我們已收到")):
        message = got[f"{who}@agency.example.gov.tw"]
        body = text_of(message)
        code = next(c for c in codes if c in str(message["Subject"]))
        assert code in body and DUE_DATE in body, "the case code and the reply-by date"
        assert body.index(first) < body.index(code), "the crisis reply leads"
        assert message["Auto-Submitted"] == "auto-replied"
        assert message["In-Reply-To"] == f"<c{'abc'.index(who) + 1}@x.tw>"
    assert "119" in text_of(got["a@agency.example.gov.tw"]), "imminent: 110 and 119"
    assert "1925" in text_of(got["b@agency.example.gov.tw"])


async def test_a_later_crisis_mail_in_an_acknowledged_thread_gets_the_crisis_reply(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    imap_server.append(mail("最近好累", "工作壓力很大", message_id="<t1@x.tw>"), RECEIVED)
    assert await poll(station) == (1, 1)
    [ack] = await smtp_server.wait_for(1)
    imap_server.append(
        mail("Re: 最近好累", "我今晚想自殺", message_id="<t2@x.tw>", in_reply_to=ack.message["Message-ID"]),
        RECEIVED,
    )
    assert await poll(station) == (1, 1)
    [_, crisis] = await smtp_server.wait_for(2)
    assert "110" in text_of(crisis.message) and "1925" in text_of(crisis.message)
    assert crisis.message["In-Reply-To"] == "<t2@x.tw>"
    assert len(await cases(station)) == 1
