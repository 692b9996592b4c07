"""`hotline mail poll --once` of 1,000 new mails against a raw aioimaplib fetch + parse of the same
mails, in the same run, on a private Dovecot (DESIGN §5a: target ≤ 2×).

What the hotline side does for each mail: parse (charsets, quotes), screen, open a case, store the mail
encrypted with its thread keys and a message, queue and then SEND one acknowledgement by SMTP (to a local
aiosmtpd), schedule the reply-by timers. Both sides fetch the same 1,000 mails in batches of 200.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.mail_raw_fetch import fill_mailbox, raw_fetch
from hotline.app import Service
from hotline.sandbox.stage import DEMO_SECRET
from hotline.settings import Settings
from tests.servers.dovecot import DovecotServer
from tests.servers.smtpd import SmtpSink


async def hotline_poll(imap: DovecotServer, smtp: SmtpSink, db: Path) -> tuple[int, int, float]:
    settings = Settings.model_validate(
        {
            "database_url": f"sqlite+aiosqlite:///{db}",
            "secret_key": DEMO_SECRET,
            "imap_host": imap.host,
            "imap_port": imap.port,
            "imap_user": imap.user,
            "imap_password": imap.password,
            "imap_security": "none",
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "smtp_security": "none",
            "mail_from": "station@hotline.example",
        }
    )
    started = time.perf_counter()
    async with Service(settings, poll=False) as service:
        assert service.poller is not None and service.outbox is not None
        fetched = await service.poller.poll_once()
        sent = 0
        while batch := await service.outbox.send_due():
            sent += batch
    return fetched, sent, time.perf_counter() - started


async def main(n: int = 1000, rounds: int = 3) -> None:
    logging.disable(logging.WARNING)
    imap = DovecotServer.start()
    smtp = SmtpSink.start()
    try:
        fill_mailbox(imap.host, imap.port, imap.user, imap.password, n)
        raws, ours = [], []
        for _ in range(rounds):
            count, seconds = await raw_fetch(imap.host, imap.port, imap.user, imap.password)
            assert count == n
            raws.append(seconds)
            with tempfile.TemporaryDirectory() as tmp:
                smtp.clear()
                fetched, sent, seconds = await hotline_poll(imap, smtp, Path(tmp) / "bench.db")
                assert fetched == n, fetched
                ours.append(seconds)
        r, o = statistics.median(raws), statistics.median(ours)
        print(f"mail ingest of {n} mails, median of {rounds} (acknowledgements sent: {sent}):")
        print(f"  raw aioimaplib fetch + email parse  {r:.3f} s")
        print(f"  hotline mail poll --once            {o:.3f} s  (includes start-up, migrations, SMTP)")
        print(f"  ratio                               {o / r:.2f}x  (target <= 2x)")
    finally:
        smtp.stop()
        imap.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
