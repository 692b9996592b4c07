"""Issue 19, points 2–4, through a real Dovecot, aiosmtpd and the emulator: another address in a case's
thread is marked and never steers the answers; a Message-ID sent first by someone else neither hides the
real mail nor pulls its thread into another case; a real duplicate is still stored once."""

from __future__ import annotations

from sqlalchemy import func, select

from hotline.sandbox.stage import Stage
from hotline.storage.models import Mail
from hotline.storage.queries import case_summaries
from tests.servers.dovecot import DovecotServer
from tests.servers.smtpd import SmtpSink
from tests.station.test_sender_proof import HOME, MALLORY, MARK, VICTIM, text_of
from tests.station.test_station import RECEIVED, cases, mail, parsed, poll, station
from tests.tests_support import COUNSELOR

__all__ = ["station"]  # the fixture, shared with test_station.py


async def test_another_address_in_the_thread_is_marked_and_never_steers_the_answer(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    emu = station.emu
    wang = emu.user(COUNSELOR, "Wang")
    await station.say(wang, "/onduty", containing="值班")
    mark = emu.mark()
    imap_server.append(mail("睡不著", "最近失眠。", message_id="<a1@agency.example.gov.tw>"), RECEIVED)
    await poll(station)
    card = await station.next_message(COUNSELOR, since=mark, containing="📧")
    [ack] = await smtp_server.wait_for(1)
    ack_id = parsed(ack.raw)["Message-ID"]
    # Someone else answers the acknowledgement (the employee from home — or not the employee at all).
    imap_server.append(
        mail("換個主旨", "我是從家裡寫的。", sender=HOME, message_id="<h1@example.net>", in_reply_to=ack_id),
        RECEIVED,
    )
    await poll(station)
    [case] = await cases(station)
    assert case.message_count == 2, "it joins the case (it may well be the employee)"

    # The transcript shown on claiming marks the other sender's mail, and only that one.
    mark = emu.mark()
    await emu.press_button(wang, card.message_id or 0, card.button_data[0])
    transcript = await station.next_message(COUNSELOR, since=mark, containing="我是從家裡寫的")
    text = transcript.text or ""
    assert text.index("最近失眠") < text.index(MARK) < text.index("我是從家裡寫的")
    assert text.count(MARK) == 1 and "example.net" not in text and "agency" not in text

    # Relayed follow-ups: the other address's marked, the employee's own not.
    mark = emu.mark()
    imap_server.append(
        mail("Re: 換個主旨", "再補充一點。", sender=HOME, message_id="<h2@example.net>", in_reply_to=ack_id),
        RECEIVED,
    )
    await poll(station)
    relayed = await station.next_message(COUNSELOR, since=mark, containing="再補充一點")
    assert MARK in (relayed.text or "") and "example.net" not in (relayed.text or "")
    mark = emu.mark()
    imap_server.append(
        mail("Re: 睡不著", "大概一個月了。", message_id="<a2@agency.example.gov.tw>", in_reply_to=ack_id),
        RECEIVED,
    )
    await poll(station)
    own = await station.next_message(COUNSELOR, since=mark, containing="大概一個月了")
    assert MARK not in (own.text or "")
    imap_server.append(  # the other address again, latest of all
        mail("Re: 換個主旨", "最後一封。", sender=HOME, message_id="<h3@example.net>", in_reply_to=ack_id),
        RECEIVED,
    )
    await poll(station)

    [summary] = await case_summaries(sqlite_url)
    assert summary["other_sender_mails"] == 3 and summary["message_count"] == 5

    # The answer goes to the case's own sender, threaded on that sender's latest mail.
    await station.say(wang, f"/reply {case.code} 謝謝你告訴我。", containing="已排入寄送")
    await station.running.outbox.send_due()  # type: ignore[union-attr]
    answer = (await smtp_server.wait_for(2))[-1]
    message = parsed(answer.raw)
    assert answer.rcpt_tos == (VICTIM,) and message["To"] == VICTIM
    assert message["In-Reply-To"] == "<a2@agency.example.gov.tw>"
    assert message["Subject"] == f"Re: [{case.code}] 睡不著"
    assert "example.net" not in answer.raw.decode(), "no id or address of the other sender rides along"
    assert "謝謝你告訴我" in text_of(answer.raw)


async def test_a_message_id_sent_first_by_someone_else_hides_nothing_and_steals_no_thread(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    predicted, referred = "<20261125.0001@agency.example.gov.tw>", "<20261125.0002@agency.example.gov.tw>"
    imap_server.append_many(
        [
            mail("你好", "先佔用這個編號。", sender=MALLORY, message_id=predicted),
            mail(
                "Re: 你好",
                "先引用那個編號。",
                sender=MALLORY,
                message_id="<m2@evil.example>",
                in_reply_to=referred,
            ),
        ],
        RECEIVED,
    )
    await poll(station)
    taken, referring = await cases(station)
    imap_server.append(mail("求助", "真正的來信。", message_id=predicted), RECEIVED)
    imap_server.append(mail("求助二", "另一封真正的來信。", message_id=referred), RECEIVED)
    await poll(station)
    _, _, *victims = await cases(station)
    assert [c.message_count for c in victims] == [1, 1], "both real mails are kept, each its own case"
    acks = await smtp_server.wait_for(4)
    assert [m.rcpt_tos for m in acks[2:]] == [(VICTIM,), (VICTIM,)]

    # Follow-ups to the victim's own mails join the victim's cases, not the ones that used the ids first;
    # Mallory's follow-up to her own mail still joins hers.
    follow_ups = [
        mail("Re: 求助", "補充。", message_id="<v3@agency.example.gov.tw>", in_reply_to=predicted),
        mail("Re: 求助二", "再補充。", message_id="<v4@agency.example.gov.tw>", references=referred),
        mail("Re: 你好", "我也補充。", sender=MALLORY, message_id="<m3@evil.example>", in_reply_to=predicted),
    ]
    imap_server.append_many(follow_ups, RECEIVED)
    await poll(station)
    counts = {c.id: c.message_count for c in await cases(station)}
    assert counts == {taken.id: 2, referring.id: 1, victims[0].id: 2, victims[1].id: 2}
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        assert await s.scalar(select(func.count()).where(Mail.other_sender.is_(True))) == 0


async def test_a_real_duplicate_is_stored_once(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    raw = mail("重複", "同一封信寄到兩次。", message_id="<d1@agency.example.gov.tw>")
    other_route = b"Received: from relay2.example (relay2.example [192.0.2.7])\r\n" + raw
    imap_server.append_many([raw, raw, other_route], RECEIVED)
    await poll(station)
    imap_server.append(raw, RECEIVED)  # and once more, in a later poll
    await poll(station)
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        assert await s.scalar(select(func.count()).select_from(Mail)) == 1
    [case] = await cases(station)
    assert case.message_count == 1
    assert len(await smtp_server.wait_for(1)) == 1
