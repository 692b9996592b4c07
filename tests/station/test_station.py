"""The e-mail station end to end: a real Dovecot, a real aiosmtpd, the Telegram emulator, SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update

from hotline.desk import CARDS_AT_ONCE
from hotline.mailbox.parse import parse_message
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import TAIPEI, Stage, StageClock, stage_settings
from hotline.station.erasure_code import codes_in
from hotline.storage.mail_keys import sender_key, stored_key
from hotline.storage.models import Case, Mail, Message, Outbox, ThreadKey
from tests.privacy.test_at_rest import files_of
from tests.servers.dovecot import DovecotServer
from tests.servers.smtpd import Fault, SmtpSink
from tests.tests_support import COUNSELOR, SUPERVISOR

TOKEN = "4242:TEST-TOKEN-hotline"
STATION = "station@hotline.example"
CORPUS = Path(__file__).resolve().parents[1] / "mailbox" / "corpus"
RECEIVED = datetime(2026, 11, 25, 9, 30, tzinfo=TAIPEI)  # Wednesday


def mail_settings(
    emu: TelegramEmulator, db: str, imap: DovecotServer, smtp: SmtpSink, **extra: object
) -> object:
    return stage_settings(
        emu.api_url,
        TOKEN,
        db,
        imap_host=imap.host,
        imap_port=imap.port,
        imap_user=imap.user,
        imap_password=imap.password,
        imap_security="none",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_security="none",
        mail_from=STATION,
        **extra,
    )


@pytest.fixture
async def station(
    emu: TelegramEmulator,
    sqlite_url: str,
    imap_server: DovecotServer,
    smtp_server: SmtpSink,
    clock: StageClock,
) -> AsyncIterator[Stage]:
    settings = mail_settings(emu, sqlite_url, imap_server, smtp_server)
    async with Stage(emu, settings, clock, background_mail=False, background_timers=False) as stage:  # type: ignore[arg-type]
        yield stage


def kept(stage: Stage, raw: bytes) -> str:
    """A received mail's dedup key as the database holds it (keyed)."""
    store = stage.running.store
    assert store is not None
    return stored_key(store.vault, parse_message(raw).dedup_key)


def their(stage: Stage, message_id: str, sender: str = "worker@agency.example.gov.tw") -> str:
    """A sender's Message-ID as a thread key."""
    store = stage.running.store
    assert store is not None
    return sender_key(store.vault, sender, message_id)


async def poll(stage: Stage) -> tuple[int, int]:
    """What `hotline mail poll --once` does: (mails stored, mails sent)."""
    service = stage.running
    assert service.poller is not None and service.outbox is not None
    return await service.outbox.send_alongside(service.poller.poll_once())


def mail(
    subject: str,
    body: str,
    *,
    sender: str = "worker@agency.example.gov.tw",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = STATION
    msg["Subject"] = subject
    msg["Date"] = "Wed, 25 Nov 2026 09:29:00 +0800"
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes(policy=policy.SMTP)


async def cases(stage: Stage) -> list[Case]:
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        return list((await s.scalars(select(Case).order_by(Case.id))).all())


def parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


async def test_new_mail_opens_a_case_and_gets_one_threaded_acknowledgement(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    imap_server.append(
        mail("最近好累", "工作壓力很大，想找人聊聊。", message_id="<a1@agency.example.gov.tw>"), RECEIVED
    )
    assert await poll(station) == (1, 1)
    [case] = await cases(station)
    assert case.channel == "email" and case.status == "waiting" and case.message_count == 1
    assert case.opened_at == RECEIVED, "the case dates from when the mail reached the inbox"
    assert case.reply_due_at == datetime(2026, 11, 28, 23, 59, 59, tzinfo=TAIPEI)

    [ack] = await smtp_server.wait_for(1)
    assert ack.rcpt_tos == ("worker@agency.example.gov.tw",) and ack.mail_from == STATION
    message = parsed(ack.raw)
    assert message["In-Reply-To"] == "<a1@agency.example.gov.tw>"
    assert "<a1@agency.example.gov.tw>" in message["References"]
    assert message["Subject"] == f"Re: [{case.code}] 最近好累"
    assert message["Auto-Submitted"] == "auto-replied"
    raw_headers = ack.raw.split(b"\r\n\r\n", 1)[0]
    assert b"In-Reply-To: <a1@agency.example.gov.tw>" in raw_headers, "Message-IDs are never encoded words"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    body = text.get_content()
    assert case.code in body and "2026-11-28" in body and "1925" in body and "119" in body
    assert "直接回覆這封信" in body

    assert await poll(station) == (0, 0), "a second poll fetches nothing and sends nothing"
    assert len(await cases(station)) == 1


async def test_threads_follow_ups_and_auto_replies(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    imap_server.append(mail("求助", "我想談談家裡的事。", message_id="<t1@x.tw>"), RECEIVED)
    await poll(station)
    [case] = await cases(station)
    [ack] = await smtp_server.wait_for(1)
    ack_id = parsed(ack.raw)["Message-ID"]
    follow_ups = [
        mail("Re: 求助", "補充：他又對我大吼。", message_id="<t2@x.tw>", in_reply_to=ack_id),  # our own mail
        mail("Re: 求助", "再補充。", message_id="<t3@x.tw>", references=f"<t1@x.tw> {ack_id}"),
        mail(f"關於 {case.code}", "用案件代號寫信。", message_id="<t4@x.tw>"),  # code in the subject
        mail(f"關於 {case.code}", "別人冒用案件代號。", sender="other@x.tw", message_id="<t5@x.tw>"),
        mail(
            "自動回覆: 求助",
            "我不在辦公室",
            message_id="<t6@x.tw>",
            headers={"Auto-Submitted": "auto-replied"},
        ),
        mail("Out of Office", "I am away", message_id="<t7@x.tw>"),
    ]
    for raw in follow_ups:
        imap_server.append(raw, RECEIVED)
    fetched, sent = await poll(station)
    assert fetched == 6
    all_cases = await cases(station)
    assert [c.message_count for c in all_cases] == [4, 1], "three follow-ups joined; the stranger got a case"
    assert sent == 1, "only the stranger's new case is acknowledged; auto-replies never"
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        autos = (await s.scalars(select(Mail).where(Mail.auto_reply.is_(True)))).all()
        assert len(autos) == 2 and all(m.case_id is None for m in autos)


async def test_corpus_is_stored_once_with_risks_and_flags(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    raws = [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))]
    assert len(raws) >= 25
    imap_server.append_many(raws, RECEIVED)
    wang = station.emu.user(COUNSELOR, "Wang")
    await station.say(wang, "/onduty", containing="值班")
    mark = station.emu.mark()
    fetched, _ = await poll(station)
    assert fetched == len(raws)
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        rows = {
            m.dedup_key: m for m in (await s.scalars(select(Mail).where(Mail.direction == "inbound"))).all()
        }
        assert len(rows) == len(raws)
        by_id = {parse_message(raw).message_id: raw for raw in raws}
        crisis = rows[kept(station, by_id["<28@agency.example.gov.tw>"])]
        quoted = rows[kept(station, by_id["<29@agency.example.gov.tw>"])]
        crisis_case = await s.get(Case, crisis.case_id)
        quoted_case = await s.get(Case, quoted.case_id)
        assert crisis_case is not None and crisis_case.risk != "none"
        assert quoted_case is not None
        risks = {
            store.open(m.content_enc): m.risk
            for m in (await s.scalars(select(Message).where(Message.case_id == quoted_case.id))).all()
            for store in [station.running.store]
            if store is not None
        }
        [(quoted_text, quoted_risk)] = [(t, r) for t, r in risks.items() if "好多了" in t]
        assert quoted_risk == "none", "crisis words only in the quoted earlier mail do not alarm"
        assert "原始郵件" not in quoted_text, "the counselor sees the new text without the quote"
        for key in ("<26@agency.example.gov.tw>", "<27@agency.example.gov.tw>"):
            if key in rows:
                assert rows[key].malformed or rows[key].needs_human or rows[key].case_id is not None
        acks = await s.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind == "ack"))
        auto = sum(1 for m in rows.values() if m.auto_reply)
    assert auto >= 5
    alert = await station.next_message(COUNSELOR, since=mark, containing=f"危機通報｜案件 {crisis_case.code}")
    assert alert.button_data[0].startswith("ack:")
    assert "agency.example.gov.tw" not in (alert.text or ""), "no address reaches a counselor"
    assert acks is not None and acks == len(await smtp_server.wait_for(acks))
    assert await poll(station) == (0, 0)


async def test_counselor_answers_from_telegram_and_smtp_failure_is_retried_once(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink, clock: StageClock
) -> None:
    emu = station.emu
    wang = emu.user(COUNSELOR, "Wang")
    await station.say(wang, "/onduty", containing="值班")
    imap_server.append(mail("睡不著", "最近失眠，很焦慮。", message_id="<s1@x.tw>"), RECEIVED)
    mark = emu.mark()
    await poll(station)
    card = await station.next_message(COUNSELOR, since=mark, containing="📧")
    assert "睡不著" in (card.text or "") or "失眠" in (card.text or "")
    assert "x.tw" not in (card.text or "")
    code = card.button_data[0].removeprefix("claim:")
    await smtp_server.wait_for(1)

    smtp_server.fault = Fault.TEMPFAIL
    await station.say(wang, f"/reply {code} 謝謝你寫信來，失眠多久了呢？", containing="已排入寄送")
    mark = emu.mark()
    assert await station.running.outbox.send_due() == 0  # type: ignore[union-attr]
    await station.next_message(COUNSELOR, since=mark, containing="暫時寄不出去")
    smtp_server.fault = Fault.NONE
    assert await station.running.outbox.send_due() == 0, "not before the backoff"  # type: ignore[union-attr]
    clock.advance(minutes=2)
    mark = emu.mark()
    assert await station.running.outbox.send_due() == 1  # type: ignore[union-attr]
    await station.next_message(COUNSELOR, since=mark, containing="已寄出回信")
    received = await smtp_server.wait_for(2)
    answer = parsed(received[1].raw)
    assert answer["In-Reply-To"] == "<s1@x.tw>" and code in answer["Subject"]
    body = answer.get_body(("plain",))
    assert body is not None and "失眠多久了" in body.get_content()
    assert "Auto-Submitted" not in answer
    clock.advance(hours=2)
    assert await station.running.outbox.send_due() == 0, "nothing is sent twice"  # type: ignore[union-attr]
    [case] = await cases(station)
    assert case.first_reply_at is not None and case.status == "active" and case.counselor_id == COUNSELOR

    # a follow-up after the answer reaches the counselor and opens a new reply window
    imap_server.append(
        mail("Re: 睡不著", "大概一個月了。", message_id="<s2@x.tw>", in_reply_to="<s1@x.tw>"), RECEIVED
    )
    mark = emu.mark()
    await poll(station)
    follow = await station.next_message(COUNSELOR, since=mark, containing="新來信")
    assert "一個月" in (follow.text or "")


async def test_reminder_and_escalation_survive_a_restart(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink, clock: StageClock
) -> None:
    emu = station.emu
    wang = emu.user(COUNSELOR, "Wang")
    emu.user(SUPERVISOR, "Lin", started=True)  # has opened the bot once, so it may write to them
    await station.say(wang, "/onduty", containing="值班")
    imap_server.append(mail("求助", "想談談", message_id="<r1@x.tw>"), RECEIVED)
    await poll(station)
    await station.restart()
    clock.advance(days=2)  # Friday 27 November, 10:00: the working day before the deadline
    mark = emu.mark()
    assert await station.running.timers.run_due() >= 1  # type: ignore[union-attr]
    reminder = await station.next_message(COUNSELOR, since=mark, containing="尚未回覆")
    assert "HL-" in (reminder.text or "")
    clock.advance(days=2)  # Sunday 29 November: the deadline has passed
    mark = emu.mark()
    assert await station.running.timers.run_due() >= 1  # type: ignore[union-attr]
    await station.next_message(SUPERVISOR, since=mark, containing="已超過回覆期限")


async def test_forget_by_e_mail_explains_then_erases_and_keeps_no_address(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    from hotline.privacy.audit import audit_log
    from hotline.storage.models import Employee

    imap_server.append(mail("想聊聊", "最近很煩。", message_id="<f1@x.tw>"), RECEIVED)
    await poll(station)
    [case] = await cases(station)
    [ack] = await smtp_server.wait_for(1)
    imap_server.append(mail("刪除我的資料", "請刪除我的資料。", message_id="<f2@x.tw>"), RECEIVED)
    await poll(station)
    explain = parsed((await smtp_server.wait_for(2))[1].raw)
    body = explain.get_body(("plain",))
    assert body is not None and "確認刪除" in body.get_content() and "會保留" in body.get_content()
    [code] = codes_in(body.get_content())
    explain_id = explain["Message-ID"]
    imap_server.append(
        mail("Re: 刪除我的資料", f"確認刪除 {code}\n謝謝。", message_id="<f3@x.tw>", in_reply_to=explain_id),
        RECEIVED,
    )
    await poll(station)
    done = parsed((await smtp_server.wait_for(3))[2].raw)
    done_body = done.get_body(("plain",))
    assert done_body is not None and "已依您的要求刪除" in done_body.get_content()
    assert done["To"] == "worker@agency.example.gov.tw"
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        assert await s.scalar(select(func.count()).select_from(Employee)) == 0
        assert (
            await s.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind.like("forget%"))) == 0
        )
        stored = (await s.scalars(select(Mail).where(Mail.raw_enc.is_not(None)))).all()
        assert stored == [], "no mail content is left"
        kept = await s.get(Case, case.id)
        assert kept is not None and kept.employee_id is None and kept.status == "closed"
        assert ("forget",) in (await s.execute(select(audit_log.c.action))).all()
    assert ack is not None


async def test_the_running_service_picks_up_mail_by_itself(
    emu: TelegramEmulator,
    sqlite_url: str,
    imap_server: DovecotServer,
    smtp_server: SmtpSink,
    clock: StageClock,
) -> None:
    """`hotline run` with IMAP configured: the poller (IDLE) and the outbox run on their own."""
    settings = mail_settings(emu, sqlite_url, imap_server, smtp_server)
    async with Stage(emu, settings, clock, background_timers=False) as stage:  # type: ignore[arg-type]
        wang = emu.user(COUNSELOR, "Wang")
        await stage.say(wang, "/onduty", containing="值班")
        mark = emu.mark()
        imap_server.append(mail("自己來的信", "沒有人手動去收信。", message_id="<bg1@x.tw>"), RECEIVED)
        card = await stage.emu.wait_for(
            lambda c: "📧" in (c.text or ""), method="sendMessage", chat_id=COUNSELOR, since=mark, timeout=20
        )
        assert "沒有人手動去收信" in (card.text or "")
        [ack] = await smtp_server.wait_for(1, within=20)
        assert parsed(ack.raw)["In-Reply-To"] == "<bg1@x.tw>"


async def test_an_odd_mail_never_holds_up_the_mails_behind_it(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    emu = station.emu
    wang = emu.user(COUNSELOR, "Wang")
    await station.say(wang, "/onduty", containing="值班")
    odd_sender = mail("哈囉", "寄件者怪怪的", message_id="<o1@x.tw>").replace(
        b"From: worker@agency.example.gov.tw", b'From: <a"b@c.d>'
    )
    long_id = "<" + "x" * 400 + "@long.example>"
    imap_server.append_many(
        [
            odd_sender,
            mail("很長的編號", "Message-ID 超長", message_id=long_id),
            mail("救命", "我今晚想自殺", message_id="<o3@x.tw>"),
        ],
        RECEIVED,
    )
    mark = emu.mark()
    fetched, _ = await poll(station)
    assert fetched == 3
    await station.next_message(COUNSELOR, since=mark, containing="危機通報")
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        rows = (await s.scalars(select(Mail).where(Mail.direction == "inbound"))).all()
        assert len(rows) == 3 and all(len(r.dedup_key) <= 300 for r in rows)
        odd = next(r for r in rows if r.dedup_key == kept(station, odd_sender))
        assert odd.needs_human and odd.raw_enc is not None, "kept for a human, nothing acknowledged"
    assert await poll(station) == (0, 0), "and the cursor moved past all three"


async def test_a_mail_that_breaks_its_handling_is_kept_and_the_rest_go_on(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = station.running.station
    assert sink is not None
    real = sink.screening.lexicon

    def fragile(text: str) -> object:
        if "觸發錯誤" in text:
            raise RuntimeError("a bug in a layer of screening")
        return real(text)

    monkeypatch.setattr(sink.screening, "lexicon", fragile)
    raw1, raw2 = (
        mail("一", "觸發錯誤", message_id="<e1@x.tw>"),
        mail("二", "正常的信", message_id="<e2@x.tw>"),
    )
    imap_server.append_many([raw1, raw2], RECEIVED)
    assert (await poll(station))[0] == 2
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        rows = {r.dedup_key: r for r in (await s.scalars(select(Mail))).all() if r.direction == "inbound"}
        e1, e2 = rows[kept(station, raw1)], rows[kept(station, raw2)]
        assert e1.needs_human and e1.case_id is None
        assert e2.case_id is not None
    assert len(await cases(station)) == 1


async def test_forget_me_inside_a_sentence_is_an_ordinary_mail(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    imap_server.append(
        mail("help", "Please do not forget me, I need help.", message_id="<n1@x.tw>"), RECEIVED
    )
    await poll(station)
    [case] = await cases(station)
    assert case.message_count == 1, "a case, not a request to be forgotten"
    [ack] = await smtp_server.wait_for(1)
    body = parsed(ack.raw).get_body(("plain",))
    assert body is not None and case.code in body.get_content()


async def test_a_crisis_follow_up_gets_the_crisis_numbers_and_a_subject_alone_alerts(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    emu = station.emu
    wang = emu.user(COUNSELOR, "Wang")
    await station.say(wang, "/onduty", containing="值班")
    imap_server.append(mail("最近", "工作很累。", message_id="<c1@x.tw>"), RECEIVED)
    await poll(station)
    await smtp_server.wait_for(1)
    mark = emu.mark()
    imap_server.append(mail("我不想活了", "", message_id="<c2@x.tw>", in_reply_to="<c1@x.tw>"), RECEIVED)
    await poll(station)
    alert = await station.next_message(COUNSELOR, since=mark, containing="危機通報")
    assert "我不想活了" in (alert.text or ""), "the subject is what the counselor must read"
    [_, caring] = await smtp_server.wait_for(2)
    body = parsed(caring.raw).get_body(("plain",))
    assert body is not None and "1925" in body.get_content()
    assert parsed(caring.raw)["In-Reply-To"] == "<c2@x.tw>"


async def test_a_full_mailbox_sends_a_few_cards_and_counts_the_rest(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    wang = station.emu.user(COUNSELOR, "Wang")
    await station.say(wang, "/onduty", containing="值班")
    total = CARDS_AT_ONCE + 3
    imap_server.append_many(
        (
            mail(f"信 {i}", f"內容 {i}", message_id=f"<full{i}@x.tw>", sender=f"w{i}@x.tw")
            for i in range(total)
        ),
        RECEIVED,
    )
    mark = station.emu.mark()
    assert await poll(station) == (total, total)
    await station.next_message(COUNSELOR, since=mark, containing="另有 3 件新的信件案件")
    cards = [text for text in station.texts_to(COUNSELOR, since=mark) if text.startswith("📧 信件案件")]
    assert len(cards) == CARDS_AT_ONCE
    assert len(await cases(station)) == total, "the others wait in the queue"

    imap_server.append(mail("再一封", "只有一封", message_id="<full-one@x.tw>", sender="one@x.tw"), RECEIVED)
    mark = station.emu.mark()
    assert await poll(station) == (1, 1)
    await station.next_message(COUNSELOR, since=mark, containing="再一封")
    assert not [t for t in station.texts_to(COUNSELOR, since=mark) if "另有" in t], "no count for one card"


async def test_no_mail_host_of_a_sender_is_readable_in_the_database(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    host = "pc-0427.hr.secret-agency.example.gov.tw"
    first, earlier = f"<k1@{host}>", f"<k0@{host}>"
    imap_server.append(
        mail("你好", "想聊聊", sender=f"worker@{host}", message_id=first, references=earlier), RECEIVED
    )
    assert await poll(station) == (1, 1)
    [case] = await cases(station)
    wang = station.emu.user(COUNSELOR, "Wang")
    await station.say(wang, f"/reply {case.code} 謝謝你來信。", containing="已排入寄送")
    assert await poll(station) == (0, 1)
    answer = parsed((await smtp_server.wait_for(2))[1].raw)
    assert answer["In-Reply-To"] == first and earlier in answer["References"], "the thread is whole"
    follow_up = mail(
        "Re: 你好", "補充一下", sender=f"worker@{host}", message_id=f"<k2@{host}>", references=earlier
    )
    imap_server.append(follow_up, RECEIVED)
    assert await poll(station) == (1, 0)
    assert [c.id for c in await cases(station)] == [case.id], "threads by the keyed ids"
    for path in files_of(sqlite_url):
        assert b"secret-agency" not in path.read_bytes(), path.name


async def test_plain_message_ids_from_before_are_keyed_at_start_and_threads_hold(
    station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    first = mail("你好", "想聊聊", message_id="<old1@x.tw>")
    imap_server.append(first, RECEIVED)
    assert await poll(station) == (1, 1)
    [case] = await cases(station)
    store = station.running.store
    assert store is not None
    async with store.unit() as s:  # as an earlier version kept them: in plain text
        await s.execute(update(Mail).values(dedup_key="<old1@x.tw>"))
        await s.execute(delete(ThreadKey).where(ThreadKey.case_id == case.id))
        s.add(ThreadKey(message_id="<old1@x.tw>", case_id=case.id))
    await station.restart()
    store = station.running.store
    assert store is not None
    async with store.unit() as s:
        keys = set((await s.scalars(select(ThreadKey.message_id))).all())
        assert their(station, "<old1@x.tw>") in keys and "<old1@x.tw>" not in keys
        assert await s.scalar(select(Mail.dedup_key)) == kept(station, first)
    imap_server.append(
        mail("Re: 你好", "補充", message_id="<old2@x.tw>", in_reply_to="<old1@x.tw>"), RECEIVED
    )
    assert await poll(station) == (1, 0)
    assert [c.id for c in await cases(station)] == [case.id], "the follow-up joins its case"
