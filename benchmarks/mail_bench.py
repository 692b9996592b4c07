"""`hotline mail poll --once` of 1,000 new mails against a raw aioimaplib fetch + parse of the same
mails, in the same run, on a private Dovecot (DESIGN §5a: target ≤ 2×).

The hotline side is the command's own function (`hotline.app.mail_poll_once`), timed from start-up
(settings, migrations of a new database, the lexicon) to exit. For each mail it parses (charsets,
quotes), screens, opens a case, stores the mail encrypted with its thread keys and a message, queues and
SENDS one acknowledgement by SMTP (to aiosmtpd in its own process) and schedules the reply-by timers;
as the command does, it fetches and parses in a helper process (its start-up is timed too). Both sides
fetch the same 1,000 mails in batches of 200. The lexicon's cached tables are dropped before
each round, so every round pays what a fresh process pays.
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
from hotline.app import mail_poll_once
from hotline.sandbox.stage import DEMO_SECRET
from hotline.screening.hanzi import simplified_to_traditional
from hotline.screening_loader import _default_screener
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


async def hotline_poll(imap: DovecotServer, smtp: SmtpProcess | None, db: Path) -> tuple[int, int, float]:
    """One `mail poll --once` into a new database; without ``smtp`` the acknowledgements are only
    queued (no SMTP server configured)."""
    _default_screener.cache_clear()
    simplified_to_traditional.cache_clear()
    values: dict[str, object] = {
        "database_url": f"sqlite+aiosqlite:///{db}",
        "secret_key": DEMO_SECRET,
        "imap_host": imap.host,
        "imap_port": imap.port,
        "imap_user": imap.user,
        "imap_password": imap.password,
        "imap_security": "none",
        "mail_from": "station@hotline.example",
    }
    if smtp is not None:
        values.update(smtp_host=smtp.host, smtp_port=smtp.port, smtp_security="none")
    settings = Settings.model_validate(values)
    started = time.perf_counter()
    fetched, sent = await mail_poll_once(settings)
    return fetched, sent, time.perf_counter() - started


async def main(n: int = 1000, rounds: int = 3) -> None:
    logging.disable(logging.WARNING)
    imap = DovecotServer.start()
    smtp = SmtpProcess()
    try:
        fill_mailbox(imap.host, imap.port, imap.user, imap.password, n)
        raws, ours, queued = [], [], []
        for _ in range(rounds):
            count, seconds = await raw_fetch(imap.host, imap.port, imap.user, imap.password)
            assert count == n
            raws.append(seconds)
            with tempfile.TemporaryDirectory() as tmp:
                fetched, sent, seconds = await hotline_poll(imap, smtp, Path(tmp) / "bench.db")
                assert fetched == n and sent == n, (fetched, sent)
                ours.append(seconds)
            with tempfile.TemporaryDirectory() as tmp:
                fetched, sent, seconds = await hotline_poll(imap, None, Path(tmp) / "bench.db")
                assert fetched == n and sent == 0, (fetched, sent)
                queued.append(seconds)
        r, o, q = statistics.median(raws), statistics.median(ours), statistics.median(queued)
        print(f"mail ingest of {n} mails, median of {rounds}:")
        print(f"  raw aioimaplib fetch + email parse  {r:.3f} s")
        print(f"  hotline mail poll --once            {o:.3f} s  (start-up, cases, {n} acks sent by SMTP)")
        print(f"  ratio                               {o / r:.2f}x  (target <= 2x)")
        print(f"  the same without an SMTP server     {q:.3f} s  ({q / r:.2f}x; acks queued, not sent)")
    finally:
        smtp.stop()
        imap.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
