"""At most ``[email] auto_mails_per_day`` automatic mails to one address a day. The station answers every
new thread, every crisis and every erasure request by mail, to the address in From: which anyone can
forge. Without a cap, a script sending a thousand mails "from" someone makes the help line mail them a
thousand times. Past the cap the mail is still taken in (a case, a crisis alert), a human is told once
a batch, and nothing more goes to the address. Real Dovecot, aiosmtpd and the Telegram emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from hotline.sandbox.stage import Stage, StageClock
from hotline.sandbox.telegram_api import TelegramEmulator
from hotline.storage.auto_mails import AutoMail
from hotline.storage.models import Mail
from tests.servers.dovecot import DovecotServer
from tests.servers.smtpd import SmtpSink
from tests.station.test_realworld_mail import inbound, on_duty
from tests.station.test_station import RECEIVED, cases, mail, mail_settings, poll
from tests.tests_support import COUNSELOR

CAP = 3
VICTIM = "worker@agency.example.gov.tw"
OTHER = "someone.else@agency.example.gov.tw"
UNKNOWN = "never.wrote@example.net"


@pytest.fixture
async def capped(
    emu: TelegramEmulator,
    sqlite_url: str,
    imap_server: DovecotServer,
    smtp_server: SmtpSink,
    clock: StageClock,
) -> AsyncIterator[Stage]:
    settings = mail_settings(emu, sqlite_url, imap_server, smtp_server, email={"auto_mails_per_day": CAP})
    async with Stage(emu, settings, clock, background_mail=False, background_timers=False) as stage:  # type: ignore[arg-type]
        yield stage


def flood(count: int, start: int = 0, sender: str = VICTIM, body: str = "最近壓力很大") -> list[bytes]:
    return [
        mail(f"想聊聊 {n}", body, sender=sender, message_id=f"<flood{n}@evil.example>")
        for n in range(start, start + count)
    ]


async def test_a_flood_in_one_poll_gets_the_days_automatic_mails_and_one_note(
    capped: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    await on_duty(capped)
    mark = capped.emu.mark()
    for raw in [*flood(7), *flood(1, 100, sender=OTHER)]:
        imap_server.append(raw, RECEIVED)
    assert await poll(capped) == (8, CAP + 1)
    sent = await smtp_server.wait_for(CAP + 1)
    assert sorted(m.rcpt_tos[0] for m in sent) == sorted([VICTIM] * CAP + [OTHER]), "per address"
    assert len(await cases(capped)) == 8, "every mail is still taken in"
    assert sum(row.needs_human for row in await inbound(capped)) == 7 - CAP
    note = await capped.next_message(COUNSELOR, since=mark, containing="上限數量的自動回信")
    assert f"有 {7 - CAP} 封來信" in (note.text or "")
    notes = [t for t in capped.texts_to(COUNSELOR, since=mark) if "上限數量" in t]
    assert len(notes) == 1, "one note for the batch, not one a mail"
    assert smtp_server.received == sent, "nothing more was sent"


async def test_the_cap_holds_across_polls_a_crisis_is_still_alerted_and_a_day_later_it_is_lifted(
    capped: Stage, imap_server: DovecotServer, smtp_server: SmtpSink, clock: StageClock
) -> None:
    await on_duty(capped)
    for raw in flood(CAP):
        imap_server.append(raw, RECEIVED)
    assert await poll(capped) == (CAP, CAP)
    await smtp_server.wait_for(CAP)
    mark = capped.emu.mark()
    imap_server.append(flood(1, 50, body="我已經把藥都準備好了，今晚就吞下去，不想活了")[0], RECEIVED)
    assert await poll(capped) == (1, 0), "no crisis reply past the cap"
    await capped.next_message(COUNSELOR, since=mark, containing="危機")
    assert len(smtp_server.received) == CAP
    clock.advance(hours=24, seconds=1)
    imap_server.append(flood(1, 60)[0], RECEIVED)
    assert await poll(capped) == (1, 1), "a day later the address is answered again"
    async with capped.running.store.unit() as s:  # type: ignore[union-attr]
        kept = await s.scalar(select(func.count()).select_from(AutoMail))
    assert kept == 1, "the day-old records went when the new one was written"


async def test_erasure_requests_from_someone_unknown_are_answered_only_up_to_the_cap(
    capped: Stage, imap_server: DovecotServer, smtp_server: SmtpSink
) -> None:
    for n in range(CAP + 2):
        imap_server.append(
            mail("刪除我的資料", "刪除我的資料", sender=UNKNOWN, message_id=f"<gone{n}@example.net>"),
            RECEIVED,
        )
    await poll(capped)
    answered = await smtp_server.wait_for(CAP)
    assert [m.rcpt_tos for m in answered] == [(UNKNOWN,)] * CAP
    assert len(smtp_server.received) == CAP
    async with capped.running.store.unit() as s:  # type: ignore[union-attr]
        rows = (await s.scalars(select(Mail))).all()
    assert len(rows) == CAP + 2 and all(row.raw_enc is None for row in rows), "nothing of theirs kept"
    assert await cases(capped) == []


async def test_hotline_purge_deletes_the_day_old_records_of_a_station_that_stopped(
    capped: Stage, imap_server: DovecotServer, smtp_server: SmtpSink, clock: StageClock
) -> None:
    from datetime import timedelta

    from hotline.privacy.purge import purge
    from hotline.settings import RetentionSection

    for raw in flood(2):
        imap_server.append(raw, RECEIVED)
    assert await poll(capped) == (2, 2)
    store = capped.running.store
    assert store is not None
    early = await purge(store, RetentionSection(), now=clock() + timedelta(hours=23), compact_after=False)
    late = await purge(store, RetentionSection(), now=clock() + timedelta(hours=25), compact_after=False)
    assert (early.auto_mails, late.auto_mails) == (0, 2)
