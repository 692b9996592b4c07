"""`hotline mail poll --once` of 1,000 new mails against a raw aioimaplib fetch + parse of the same
mails, in the same run, on a private Dovecot (DESIGN §5a: target ≤ 2×).

What the hotline side does for each mail: parse (charsets, quotes), screen, open a case, store the mail
encrypted with its thread keys and a message, queue and then SEND one acknowledgement by SMTP (to a local
aiosmtpd), schedule the reply-by timers. Both sides fetch the same 1,000 mails in batches of 200.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.mail_raw_fetch import fill_mailbox, raw_fetch
from hotline.app import Service
from hotline.sandbox.stage import DEMO_SECRET
from hotline.settings import Settings
from tests.servers.dovecot import DovecotServer, free_port


class SmtpProcess:
    """aiosmtpd's Sink handler in its own process, as a real SMTP server would be (an in-process
    server thread would share the GIL with the code being measured)."""

    def __init__(self) -> None:
        self.host, self.port = "127.0.0.1", free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink", "-l", f"{self.host}:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex((self.host, self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("the SMTP sink did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


async def hotline_poll(
    imap: DovecotServer, smtp: SmtpProcess, db: Path
) -> tuple[int, int, float, list[float]]:
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
        t1 = time.perf_counter()
        fetched = await service.poller.poll_once()
        t2 = time.perf_counter()
        sent = 0
        while batch := await service.outbox.send_due():
            sent += batch
        t3 = time.perf_counter()
    return fetched, sent, time.perf_counter() - started, [t1 - started, t2 - t1, t3 - t2]


async def main(n: int = 1000, rounds: int = 3) -> None:
    logging.disable(logging.WARNING)
    imap = DovecotServer.start()
    smtp = SmtpProcess()
    try:
        fill_mailbox(imap.host, imap.port, imap.user, imap.password, n)
        raws, ours, parts = [], [], []
        for _ in range(rounds):
            count, seconds = await raw_fetch(imap.host, imap.port, imap.user, imap.password)
            assert count == n
            raws.append(seconds)
            with tempfile.TemporaryDirectory() as tmp:
                fetched, sent, seconds, phases = await hotline_poll(imap, smtp, Path(tmp) / "bench.db")
                assert fetched == n, fetched
                ours.append(seconds)
                parts.append(phases)
        r, o = statistics.median(raws), statistics.median(ours)
        print(f"mail ingest of {n} mails, median of {rounds} (acknowledgements sent: {sent}):")
        print(f"  raw aioimaplib fetch + email parse  {r:.3f} s")
        print(f"  hotline mail poll --once            {o:.3f} s  (includes start-up, migrations, SMTP)")
        print(f"  ratio                               {o / r:.2f}x  (target <= 2x)")
        start, ingest, send = (statistics.median(p[i] for p in parts) for i in range(3))
        print(f"    start-up (migrations, lexicon)    {start:.3f} s")
        print(f"    fetch + cases + acks queued       {ingest:.3f} s  ({ingest / r:.2f}x the raw fetch)")
        print(f"    sending {sent} acks by SMTP       {send:.3f} s")
    finally:
        smtp.stop()
        imap.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
