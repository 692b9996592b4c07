"""Memory per open conversation (DESIGN §5a: ≤ 10 KB at 10,000 open cases).

``hotline run`` runs as its own process (SQLite, long polling, every screening layer, pacing off) against
the emulator in this one, so that the emulator's own memory is not counted: the figure is ``VmRSS`` of
the service's process.

The 10,000 open cases are written with the service's own repository functions, as its intake writes
them (an employee with a sealed chat id, a waiting case, a conversation "queued" in it), then the
service starts on that database and every one of the 10,000 employees writes once more in their case
(screened, stored, acknowledged: what keeps a conversation's traces in memory). The baseline is the
same service on an empty database after the same warm-up, in the same run.

Printed: resident bytes / open cases at 10,000 (the issue's figure: fixed costs included, the
interpreter, the libraries and the learned layer's model) and (resident − baseline) / open cases, what
the open conversations themselves cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.deadline import deadline_option, run_main_async
from hotline.crypto import CONTACT_CONTEXT, Vault
from hotline.domain import Category, Channel
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import DEMO_SECRET
from hotline.sandbox.telegram_model import ChatUser
from hotline.storage import db, repo
from hotline.storage.repo import Store

DEADLINE = 1200  # seconds, the whole run: several times its normal run
TOKEN = "7777:MEMORY-BENCH"
FIRST_USER = 3_000_000
WAVE = 200  # employees writing at once
WARM = 20
WORDS = "最近工作壓力很大，晚上睡不好，想找人聊聊。"


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def seed_open_cases(url: str, count: int) -> None:
    """``count`` open Telegram conversations, as the intake leaves them after an employee's words."""
    await db.upgrade(url)
    store = Store(url, Vault(DEMO_SECRET))
    now = datetime.now(UTC)
    try:
        for first in range(0, count, 1000):
            async with store.unit() as s:
                for i in range(first, min(count, first + 1000)):
                    chat_id = FIRST_USER + WARM + i
                    pseudonym = store.vault.pseudonym(Channel.TELEGRAM.value, str(chat_id))
                    employee = await repo.ensure_employee(s, pseudonym, Channel.TELEGRAM, now)
                    employee.contact_enc = store.vault.encrypt(str(chat_id), context=CONTACT_CONTEXT)
                    case = await repo.open_case(
                        s,
                        channel=Channel.TELEGRAM,
                        employee_id=employee.id,
                        category=Category.CAREER,
                        now=now,
                    )
                    await repo.add_message(s, store, case, direction="inbound", text=WORDS, now=now)
                    thread = repo.Thread(employee, None, case)
                    await repo.save_state(s, thread, "queued", Category.CAREER.value, case.id, now)
    finally:
        await store.close()


async def say(emu: TelegramEmulator, users: list[ChatUser], text: str) -> None:
    """Each user writes ``text`` and gets a reply; ``WAVE`` at once."""

    async def one(user: ChatUser) -> None:
        update = await emu.send_text(user, text)
        await emu.wait_for(lambda c: c.ok, method="sendMessage", chat_id=user.id, since=update, timeout=300)

    for i in range(0, len(users), WAVE):
        await asyncio.gather(*(one(u) for u in users[i : i + WAVE]))


async def service_rss(
    emu: TelegramEmulator, tmp: str, database: str, users: list[ChatUser]
) -> tuple[int, float]:
    """Start the service on ``database``; 20 warm-up employees /start; ``users`` write in their case;
    the service's resident bytes then, and the seconds the writing took."""
    env = {
        **os.environ,
        "HOTLINE_DATABASE_URL": database,
        "HOTLINE_SECRET_KEY": DEMO_SECRET,
        "HOTLINE_TELEGRAM_TOKEN": TOKEN,
        "HOTLINE_TELEGRAM_API_URL": emu.api_url,
        "HOTLINE_TELEGRAM__PACING__ENABLED": "false",
        "HOTLINE_TELEGRAM__POLL_TIMEOUT_SECONDS": "10",
        "HOTLINE_CONFIG": f"{tmp}/hotline.toml",
    }
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "hotline"), "run", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await emu.wait_polling(timeout=300)
        await say(emu, [emu.user(FIRST_USER + i, f"暖身{i}") for i in range(WARM)], "/start")
        started = time.monotonic()
        await say(emu, users, WORDS)
        return rss_bytes(proc.pid), time.monotonic() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()


async def measure(total: int = 10_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "hotline.toml").write_text("# defaults\n")
        empty, full = f"sqlite+aiosqlite:///{tmp}/empty.db", f"sqlite+aiosqlite:///{tmp}/full.db"
        await seed_open_cases(full, total)
        async with TelegramEmulator(token=TOKEN, limits=None) as emu:
            baseline, _ = await service_rss(emu, tmp, empty, [])
            users = [emu.user(FIRST_USER + WARM + i, f"員工{i}") for i in range(total)]
            resident, took = await service_rss(emu, tmp, full, users)
    per_case = resident / total
    cost = (resident - baseline) / total
    print(f"{total:,} open conversations, each writing once more ({took:.0f} s):")
    print(
        f"  resident set: service idle {baseline / 2**20:.0f} MiB (baseline), with the cases {resident / 2**20:.0f} MiB"
    )
    print(
        f"  resident bytes / open cases       {per_case / 1024:6.1f} KB  (target <= 10 KB; fixed costs included)"
    )
    print(
        f"  (resident - baseline) / cases     {cost / 1024:6.1f} KB  ({cost / per_case:.2f}x the figure above)"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks memory")
    parser.add_argument("--cases", type=int, default=10_000, help="open conversations")
    deadline_option(parser, DEADLINE)
    args = parser.parse_args(argv)
    return run_main_async("memory benchmark", args.deadline, lambda: measure(args.cases))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
