"""Issue 19: a From line is not proof of who wrote. Through a real Dovecot, aiosmtpd and the emulator:

1. a forged 「確認刪除」 erases nothing and the address's owner is told; only the one-time code sent to
   that address erases, once, before it expires;
2. a mail in a case's thread from another address is marked for the counselor (relay, transcript,
   ``cases --json``), never with an address;
3. answers go to the case's own sender, threaded on that sender's latest mail;
4. a Message-ID sent first by someone else neither hides the real mail nor pulls its thread away.
"""

from __future__ import annotations

from sqlalchemy import func, select

from hotline.sandbox.stage import Stage, StageClock
from hotline.station.erasure_code import codes_in, hash_code
from hotline.storage.models import Case, Employee, ForgetToken, Mail, Message
from tests.servers.dovecot import DovecotServer
from tests.servers.smtpd import SmtpSink
from tests.station.test_station import RECEIVED, cases, mail, parsed, poll, station

__all__ = ["station"]  # the fixture, shared with test_station.py
VICTIM = "worker@agency.example.gov.tw"
HOME = "worker.home@example.net"
MALLORY = "mallory@evil.example"
MARK = "寄件人與原案不同"


def text_of(raw: bytes) -> str:
    body = parsed(raw).get_body(("plain",))
    assert body is not None
    return str(body.get_content())


async def held(stage: Stage) -> tuple[int, int, int]:
    """(people with contact data, messages with content, the first mail's bytes kept) the station holds."""
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        people = await s.scalar(
            select(func.count()).select_from(Employee).where(Employee.contact_enc.is_not(None))
        )
        said = await s.scalar(
            select(func.count()).select_from(Message).where(Message.content_enc.is_not(None))
        )
        first = await s.scalar(select(Mail.raw_enc).order_by(Mail.id).limit(1))
    return int(people or 0), int(said or 0), int(first is not None)


async def open_case(stage: Stage, imap: DovecotServer, smtp: SmtpSink) -> str:
    """The victim writes once; return the acknowledgement's Message-ID."""
    imap.append(mail("想聊聊", "最近壓力很大。", message_id="<v1@agency.example.gov.tw>"), RECEIVED)
    assert await poll(stage) == (1, 1)
    [ack] = await smtp.wait_for(1)
    return str(parsed(ack.raw)["Message-ID"])


# ---- 1. erasure needs the code sent to the address -------------------------------------------------


async def test_a_forged_confirmation_erases_nothing_and_the_owner_is_told(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    ack_id = await open_case(station, imap_server, smtp_server)
    before = await held(station)
    forged = [  # From: set to the victim's address, by someone who never reads that mailbox
        mail("確認刪除", "確認刪除", message_id="<x1@evil.example>"),
        mail("Re: 想聊聊", "確認刪除 ABCD-EFGH-JKMN", message_id="<x2@evil.example>", in_reply_to=ack_id),
    ]
    for raw in forged:
        imap_server.append(raw, RECEIVED)
    await poll(station)
    assert await held(station) == before, "nothing erased: no contact, message or mail is gone"
    [case] = await cases(station)
    assert case.employee_id is not None and case.status == "waiting"
    told = (await smtp_server.wait_for(3))[1:]
    assert [m.rcpt_tos for m in told] == [(VICTIM,), (VICTIM,)], "the address's owner learns of it"
    for message in told:
        body = text_of(message.raw)
        assert "沒有有效的確認碼" in body and "沒有刪除任何資料" in body and "冒用" in body
        assert len(codes_in(body)) == 1, "with a code of their own, should they want it"


async def test_the_code_erases_once_and_only_for_its_own_address(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    await open_case(station, imap_server, smtp_server)
    imap_server.append(mail("別的事", "我也想聊聊", sender=MALLORY, message_id="<m1@evil.example>"), RECEIVED)
    imap_server.append(
        mail("刪除我的資料", "刪除我的資料", sender=MALLORY, message_id="<m2@evil.example>"), RECEIVED
    )
    imap_server.append(mail("刪除我的資料", "請刪除", message_id="<v2@agency.example.gov.tw>"), RECEIVED)
    await poll(station)
    sent = await smtp_server.wait_for(4)
    [(mallory_code,)] = [
        codes_in(text_of(m.raw)) for m in sent if m.rcpt_tos == (MALLORY,) and "確認碼" in text_of(m.raw)
    ]
    [explain] = [m for m in sent if m.rcpt_tos == (VICTIM,) and "確認碼" in text_of(m.raw)]
    [code] = codes_in(text_of(explain.raw))
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        kept = set((await s.scalars(select(ForgetToken.token_hash))).all())
    assert kept == {hash_code(code), hash_code(mallory_code)}, "only the hashes are stored"

    # Mallory's own code, under the victim's From: nothing.
    imap_server.append(mail("確認刪除", f"確認刪除 {mallory_code}", message_id="<m3@evil.example>"), RECEIVED)
    await poll(station)
    assert (await held(station))[0] == 2

    # The victim replies to the explanation; the code comes back in the quoted mail.
    explain_id = parsed(explain.raw)["Message-ID"]
    quoted = "\n".join(f"> {line}" for line in text_of(explain.raw).splitlines())
    reply = mail(
        "Re: 刪除我的資料",
        f"確認刪除\n\n{quoted}",
        message_id="<v3@agency.example.gov.tw>",
        in_reply_to=explain_id,
    )
    imap_server.append(reply, RECEIVED)
    await poll(station)
    done = (await smtp_server.wait_for(6))[-1]
    assert done.rcpt_tos == (VICTIM,) and "已依您的要求刪除" in text_of(done.raw)
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        first = await s.scalar(select(Case).order_by(Case.id))
        assert first is not None and first.employee_id is None and first.outcome == "withdrawn"
        assert set((await s.scalars(select(ForgetToken.token_hash))).all()) == {hash_code(mallory_code)}

    # They write again later; the old code, sent once more (by anyone), erases nothing.
    imap_server.append(mail("又是我", "還是想聊聊", message_id="<v4@agency.example.gov.tw>"), RECEIVED)
    await poll(station)
    again = await held(station)
    imap_server.append(
        mail("確認刪除", f"確認刪除 {code}", message_id="<v5@agency.example.gov.tw>"), RECEIVED
    )
    await poll(station)
    assert await held(station) == again, "a code is spent by its first use"
    last = (await smtp_server.wait_for(8))[-1]
    assert last.rcpt_tos == (VICTIM,) and "沒有刪除任何資料" in text_of(last.raw)


async def test_an_expired_code_erases_nothing(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink, clock: StageClock
) -> None:
    await open_case(station, imap_server, smtp_server)
    imap_server.append(
        mail("刪除我的資料", "刪除我的資料", message_id="<e2@agency.example.gov.tw>"), RECEIVED
    )
    await poll(station)
    explain = (await smtp_server.wait_for(2))[1]
    body = text_of(explain.raw)
    assert "72 小時內有效" in body
    [code] = codes_in(body)
    before = await held(station)
    clock.advance(hours=72, seconds=1)
    imap_server.append(
        mail("Re: 刪除我的資料", f"確認刪除 {code}", message_id="<e3@agency.example.gov.tw>",
             in_reply_to=parsed(explain.raw)["Message-ID"]),
        RECEIVED,
    )  # fmt: skip
    await poll(station)
    assert await held(station) == before
    answer = text_of((await smtp_server.wait_for(3))[2].raw)
    assert "沒有刪除任何資料" in answer and codes_in(answer) != (code,)
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        kept = set((await s.scalars(select(ForgetToken.token_hash))).all())
    assert kept == {hash_code(c) for c in codes_in(answer)}, "the expired one is gone, a new one holds"
