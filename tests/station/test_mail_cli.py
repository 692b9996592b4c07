"""`hotline mail poll --once` as an operator runs it, and a crash in the middle of a batch."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hotline.mailbox.parse import ParsedMail
from hotline.mailbox.ports import FetchedMail
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import DEMO_SECRET, Stage, StageClock
from hotline.storage.models import Case, Mail, Outbox
from tests.servers.dovecot import DovecotServer, free_port
from tests.servers.smtpd import SmtpSink
from tests.station.test_station import RECEIVED, mail, mail_settings, poll
from tests.test_cli import clean_env, run_cli


def mail_env(imap: DovecotServer, smtp: SmtpSink, db: str, **extra: str) -> dict[str, str]:
    env = clean_env(
        HOTLINE_DATABASE_URL=db,
        HOTLINE_SECRET_KEY=DEMO_SECRET,
        HOTLINE_IMAP_HOST=imap.host,
        HOTLINE_IMAP_PORT=str(imap.port),
        HOTLINE_IMAP_USER=imap.user,
        HOTLINE_IMAP_PASSWORD=imap.password,
        HOTLINE_IMAP_SECURITY="none",
        HOTLINE_SMTP_HOST=smtp.host,
        HOTLINE_SMTP_PORT=str(smtp.port),
        HOTLINE_SMTP_SECURITY="none",
        HOTLINE_MAIL_FROM="station@hotline.example",
    )
    env.update(extra)
    return env


async def test_poll_once_twice_and_cases_json(
    imap_server: DovecotServer, smtp_server: SmtpSink, sqlite_url: str, tmp_path: Path
) -> None:
    for i in range(3):
        imap_server.append(mail(f"信 {i}", f"內容 {i}", message_id=f"<cli{i}@x.tw>"), RECEIVED)
    env = mail_env(imap_server, smtp_server, sqlite_url)
    code, out, err = await run_cli("mail", "poll", "--once", env=env, cwd=tmp_path)
    assert code == 0, err
    assert len(await smtp_server.wait_for(3)) == 3
    code, out, err = await run_cli("mail", "poll", "--once", env=env, cwd=tmp_path)
    assert code == 0, err
    assert len(smtp_server.received) == 3, "the second run sends nothing"
    code, out, err = await run_cli("cases", "--json", env=env, cwd=tmp_path)
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 3, "the second run creates nothing"
    for row in rows:
        assert row["channel"] == "email" and row["message_count"] == 1
        assert row["reply_due_at"] == "2026-11-28T15:59:59+00:00"
    assert "x.tw" not in out and "內容" not in out


async def test_poll_once_without_smtp_says_the_acknowledgements_wait(
    imap_server: DovecotServer, smtp_server: SmtpSink, sqlite_url: str, tmp_path: Path
) -> None:
    imap_server.append(mail("想請教", "工作壓力很大", message_id="<nosmtp@x.tw>"), RECEIVED)
    env = mail_env(imap_server, smtp_server, sqlite_url)
    without = {k: v for k, v in env.items() if not k.startswith("HOTLINE_SMTP_")}
    code, out, err = await run_cli("mail", "poll", "--once", env=without, cwd=tmp_path)
    assert code == 0 and out == "", err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "SMTP" in lines[0], err
    assert "queued" in lines[0] and "once SMTP is configured" in lines[0]
    code, out, err = await run_cli("mail", "poll", "--once", env=env, cwd=tmp_path)
    assert code == 0 and err == "", err
    [sent] = await smtp_server.wait_for(1)
    assert "<nosmtp@x.tw>" in str(sent.message["In-Reply-To"]), "the queued acknowledgement, threaded"


@pytest.mark.parametrize("fault", ["closed port", "wrong password"])
async def test_unreachable_or_refused_inbox_is_one_clear_line(
    imap_server: DovecotServer, smtp_server: SmtpSink, sqlite_url: str, tmp_path: Path, fault: str
) -> None:
    extra = {"HOTLINE_IMAP_PORT": str(free_port())} if fault == "closed port" else {}
    env = mail_env(imap_server, smtp_server, sqlite_url, **extra)
    if fault == "wrong password":
        env["HOTLINE_IMAP_PASSWORD"] = "not-the-password"
    code, out, err = await run_cli("mail", "poll", "--once", env=env, cwd=tmp_path)
    assert code != 0 and out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert ("cannot reach" in err) if fault == "closed port" else ("login failed" in err)
    assert "not-the-password" not in err


async def test_crash_mid_batch_loses_nothing_and_sends_nothing_twice(
    emu: TelegramEmulator,
    sqlite_url: str,
    imap_server: DovecotServer,
    smtp_server: SmtpSink,
    clock: StageClock,
) -> None:
    total = 230  # two batches: 200 + 30
    imap_server.append_many(
        (mail(f"信 {i}", f"第 {i} 封", message_id=f"<b{i}@x.tw>", sender=f"w{i}@x.tw") for i in range(total)),
        RECEIVED,
    )
    settings = mail_settings(emu, sqlite_url, imap_server, smtp_server)
    async with Stage(emu, settings, clock, background_mail=False) as stage:  # type: ignore[arg-type]
        station = stage.running.station
        assert station is not None
        real = station.store_batch
        calls = 0

        async def crash_on_second(
            mailbox: str,
            uidvalidity: int,
            messages: Sequence[FetchedMail],
            parsed_ahead: Sequence[ParsedMail] | None = None,
        ) -> None:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise RuntimeError("power cut in the middle of the second batch")
            await real(mailbox, uidvalidity, messages, parsed_ahead)

        station.store_batch = crash_on_second  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="power cut"):
            await poll(stage)
    # The first batch was stored: its acknowledgements went out although the poll failed.
    assert len(await smtp_server.wait_for(200)) == 200
    async with Stage(emu, settings, clock, background_mail=False) as stage:  # type: ignore[arg-type]
        assert await poll(stage) == (total - 200, total - 200)
        async with stage.running.store.unit() as s:  # type: ignore[union-attr]
            assert await s.scalar(select(func.count()).select_from(Case)) == total
            assert (
                await s.scalar(select(func.count()).select_from(Mail).where(Mail.direction == "inbound"))
                == total
            )
            assert (
                await s.scalar(select(func.count()).select_from(Outbox).where(Outbox.status == "sent"))
                == total
            )
    received = await smtp_server.wait_for(total)
    assert len(received) == total
    assert len({r.rcpt_tos for r in received}) == total, "one acknowledgement each, none twice"
    assert await poll_again_is_empty(emu, settings, clock)


async def poll_again_is_empty(emu: TelegramEmulator, settings: object, clock: StageClock) -> bool:
    async with Stage(emu, settings, clock, background_mail=False) as stage:  # type: ignore[arg-type]
        return await poll(stage) == (0, 0)


async def test_two_senders_at_once_send_each_mail_once(
    emu: TelegramEmulator, pg_url: str, imap_server: DovecotServer, smtp_server: SmtpSink,
    clock: StageClock,
) -> None:  # fmt: skip
    """`mail poll --once` beside `run`, or two instances on PostgreSQL: the outbox leases its rows."""
    for i in range(12):
        imap_server.append(
            mail(f"信 {i}", "內容", message_id=f"<two{i}@x.tw>", sender=f"t{i}@x.tw"), RECEIVED
        )
    settings = mail_settings(emu, pg_url, imap_server, smtp_server)
    quiet = {"background_mail": False, "background_timers": False}
    async with (
        Stage(emu, settings, clock, **quiet) as first,  # type: ignore[arg-type]
        Stage(emu, settings, clock, **quiet) as second,  # type: ignore[arg-type]
    ):
        assert first.running.poller is not None and first.running.outbox is not None
        assert second.running.outbox is not None
        assert await first.running.poller.poll_once() == 12
        sent = await asyncio.gather(first.running.outbox.send_due(), second.running.outbox.send_due())
    assert sum(sent) == 12
    received = await smtp_server.wait_for(12)
    assert len({r.rcpt_tos for r in received}) == 12 and len(smtp_server.received) == 12


async def test_poll_once_with_only_mail_configured_imports_no_chat_library(
    imap_server: DovecotServer, smtp_server: SmtpSink, sqlite_url: str, tmp_path: Path
) -> None:
    """Issue 12 §3: python-telegram-bot (and the LINE SDK) are imported only when configured."""
    imap_server.append(mail("想請教", "工作壓力很大", message_id="<imports@x.tw>"), RECEIVED)
    env = mail_env(imap_server, smtp_server, sqlite_url, PYTHONPROFILEIMPORTTIME="1")
    code, _out, err = await run_cli("mail", "poll", "--once", env=env, cwd=tmp_path)
    assert code == 0, err[-2000:]
    imported = {
        line.rsplit("|", 1)[1].strip() for line in err.splitlines() if line.startswith("import time:")
    }
    assert "hotline.station.sink" in imported, "the profile lists what the command imported"
    assert sorted(m for m in imported if m.split(".")[0] in {"telegram", "linebot"}) == []
    assert len(await smtp_server.wait_for(1)) == 1
