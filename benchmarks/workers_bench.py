"""Several workers (issue 14): `hotline run` processes behind nginx (docs/deploy.md's config) on PostgreSQL.

1. Updates/s from update in to reply out, with 1, 2 and 4 workers: 100 employees in an open case send 5
   messages each, all at once (500 updates, each a transaction: the message stored, the case told),
   against the bare PTB echo bot answering the same 500 messages on the same emulator (polling). Both
   without Telegram's flood limits (the bot's 30 a second would bound both at 30 updates/s).
2. 200 crises at once -> alert out at the emulator, p50/p99, with 2 workers, against the echo bot's
   burst latency in the same run: first without flood limits (the workers' own speed: the issue's p99 <= 0.5 s,
   as the SQLite burst's <= 1 s in ``telegram_bench``), then with Telegram's flood limits ON (the emulator's;
   the workers pace for them). With one counselor on duty the 200 alerts go to one chat, which Telegram allows about one
   message a second: the alerts that wait for that chat's turn go as one message
   (``hotline/alert_lanes.py``). As in ``telegram_bench``: once with the one-a-second-per-chat limit
   alone (the echo bot under the same limits), once with every limit (the bot's 30 a second bounds 200
   crisis replies plus the alerts; its floor is printed).

The emulator delivers webhook updates as Telegram's Bot API server does (``hotline/sandbox/telegram_webhook.py``):
one at a time per chat, up to ``max_connections`` (40, as ``hotline run`` registers it) at once across
chats. Each run prints the most deliveries seen in flight at once and, for the burst, when the last crisis
was stored (the webhook answered 200 for it) counted from the burst's first message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from benchmarks import deadline
from benchmarks.deadline import deadline_option, run_main_async
from benchmarks.echo_baseline import build_echo_app
from benchmarks.telegram_bench import PER_CHAT, UNPACED_BOT, alert_latency, measure_echo_latency, percentile
from hotline.sandbox import ChatUser, TelegramEmulator
from hotline.sandbox.stage import DEMO_SECRET
from hotline.sandbox.telegram_limits import REALISTIC, FloodLimits
from tests.servers.dovecot import free_port
from tests.servers.nginx import NginxServer, deploy_config, fill_ports
from tests.servers.workers import Workers

DEADLINE = 1800  # seconds, the whole run: several times its normal run
TOKEN = "5656:WORKERS"
PG = "postgresql://postgres@127.0.0.1:5432"
COUNSELOR = 9001
FIRST = 4_000_000
CONFIG = f"""
[[counselors]]
telegram_id = {COUNSELOR}
name = "王心理師"
role = "counselor"

[screening]
learned = false

[rate_limit]
burst = 50
"""


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(f"{PG}/postgres")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def cluster(
    emu: TelegramEmulator, n: int, tmp: Path, *, paced: bool = True, bot_paced: bool = True
) -> AsyncIterator[Workers]:
    """``n`` workers behind nginx on a fresh database (``paced``: under Telegram's flood limits;
    ``bot_paced=False``: the bot-wide limit not paced for, the emulator's ``PER_CHAT``)."""
    name = f"hotline_bench_{uuid.uuid4().hex[:8]}"
    await _admin(f'CREATE DATABASE "{name}"')
    ports = [free_port() for _ in range(n)]
    nginx = NginxServer.start(lambda listen: fill_ports(deploy_config(), listen, ports), free_port())
    (tmp / "hotline.toml").write_text(CONFIG)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PTB_TIMEDELTA": "1",
        "HOTLINE_CONFIG": str(tmp / "hotline.toml"),
        "HOTLINE_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
        "HOTLINE_SECRET_KEY": DEMO_SECRET,
        "HOTLINE_TELEGRAM_TOKEN": TOKEN,
        "HOTLINE_TELEGRAM_API_URL": emu.api_url,
        "HOTLINE_TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{nginx.port}/telegram/webhook",
        "HOTLINE_TELEGRAM_WEBHOOK_SECRET": "bench-webhook-secret-0123456789abcdef",
        "HOTLINE_TELEGRAM__PACING__ENABLED": "true" if paced else "false",
    }
    if not bot_paced:
        env |= {f"HOTLINE_TELEGRAM__PACING__{k.upper()}": str(v) for k, v in UNPACED_BOT.items()}
    workers = Workers(tmp, env, ports)
    try:
        await workers.start()
        await workers.wait_listening()
        yield workers
    finally:
        await workers.stop()
        nginx.stop()
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _in_case(emu: TelegramEmulator, users: list[ChatUser]) -> None:
    """Employees through the notice, consent and area (not timed): then each message is a case's."""
    ids = {u.id for u in users}
    by_id = {u.id: u for u in users}
    mark = emu.mark()
    for user in users:
        await emu.send_text(user, "/start")
    for data in ("consent:accept", "area:career"):
        shown = await emu.wait_for_all(
            lambda c: c.ok and c.chat_id in ids, len(users), method="sendMessage", since=mark, timeout=300
        )
        mark = emu.mark()
        for call in shown:
            await emu.press_button(by_id[call.chat_id or 0], call.message_id or 0, data)
    await emu.wait_for_all(
        lambda c: c.ok and c.chat_id in ids, len(users), method="sendMessage", since=mark, timeout=300
    )


async def updates_per_second(n_workers: int, chats: int = 100, each: int = 5) -> tuple[float, int]:
    """Updates/s from the first in to the last reply out; the most webhook deliveries in flight at once."""
    with tempfile.TemporaryDirectory() as tmp:
        unlimited = TelegramEmulator(token=TOKEN, limits=None)  # the workers' own speed, as the echo's
        async with unlimited as emu, cluster(emu, n_workers, Path(tmp), paced=False):
            users = [emu.user(FIRST + i, f"員工{i}") for i in range(chats)]
            await _in_case(emu, users)
            ids = {u.id for u in users}
            mark = emu.mark()
            emu.webhook_stats(reset_max=True)
            started = time.monotonic()
            for n in range(each):
                for user in users:
                    await emu.send_text(user, f"還有一件事 第{n}則")
            replies = await emu.wait_for_all(
                lambda c: c.ok and c.chat_id in ids,
                chats * each,
                method="sendMessage",
                since=mark,
                timeout=600,
            )
            return chats * each / (max(c.at for c in replies) - started), emu.webhook_stats().max_in_flight


async def echo_per_second(chats: int = 100, each: int = 5) -> float:
    # Without flood limits: the bare echo bot does not pace, and 500 replies at once would be refused
    # by the bot's 30 a second (its replies lost, the benchmark waiting for them in vain).
    async with TelegramEmulator(limits=None) as emu:
        app = build_echo_app(emu, 4)
        assert app.updater is not None
        await app.initialize()
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=10)
        try:
            await emu.wait_polling()
            users = [emu.user(FIRST + i, f"員工{i}") for i in range(chats)]
            mark = emu.mark()
            started = time.monotonic()
            for n in range(each):
                for user in users:
                    await emu.send_text(user, f"還有一件事 第{n}則")
            replies = await emu.wait_for_all(
                lambda c: c.ok, chats * each, method="sendMessage", since=mark, timeout=600
            )
            return chats * each / (max(c.at for c in replies) - started)
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()


async def _commits() -> int:
    """Transactions committed so far in the benchmark's databases (PostgreSQL's statistics)."""
    await asyncio.sleep(1.5)  # each backend reports its counts at most once a second
    conn = await asyncpg.connect(f"{PG}/postgres")
    try:
        return int(
            await conn.fetchval(
                "SELECT coalesce(sum(xact_commit), 0) FROM pg_stat_database WHERE datname LIKE 'hotline_bench_%'"
            )
        )
    finally:
        await conn.close()


@dataclass(frozen=True)
class Burst:
    latencies: list[float]  # crisis in -> alert out, seconds
    commits: float  # database transactions per crisis
    sent: int  # messages sent meanwhile
    last_stored: float  # seconds from the first crisis in to the last one stored (webhook answered 200)
    most_in_flight: int  # webhook deliveries in flight at once, at most
    cpu_per_crisis: float  # the workers' CPU seconds (user + system) until the last alert, per crisis
    failed: int  # webhook deliveries not answered 2xx (each retried)


def _cpu_seconds(workers: Workers) -> float:
    """User and system CPU time the worker processes have used so far (Linux ``/proc``)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for process in workers.processes:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / ticks


async def crisis_burst(n_workers: int, limits: FloodLimits | None, n: int = 200) -> Burst:
    """Crisis in -> alert out for each of ``n`` crises at once under the emulator's ``limits`` (None: no
    flood limits, and the workers do not pace: their own speed, as the SQLite burst's); the
    database transactions per crisis (all workers, until the last alert is out; the timer loops' and
    the lock connections' included); the messages sent meanwhile; when the last crisis was stored; the
    most webhook deliveries in flight at once."""
    with tempfile.TemporaryDirectory() as tmp:
        limited = TelegramEmulator(token=TOKEN, limits=limits)
        async with (
            limited as emu,
            cluster(
                emu, n_workers, Path(tmp), paced=limits is not None, bot_paced=limits is not PER_CHAT
            ) as workers,
        ):
            counselor = emu.user(COUNSELOR, "Wang")
            mark = emu.mark()
            await emu.send_text(counselor, "/onduty")
            await emu.wait_for(
                lambda c: c.ok, method="sendMessage", chat_id=COUNSELOR, since=mark, timeout=60
            )
            users = [emu.user(FIRST + i, f"員工{i}") for i in range(n)]
            before = await _commits()

            async def one(i: int) -> float:
                return await alert_latency(emu, users[i], i, COUNSELOR, timeout=300)

            sent = emu.mark()
            first_update = len(emu.updates)
            cpu = _cpu_seconds(workers)
            failed_before = emu.webhook_stats(reset_max=True).failed
            latencies = list(await asyncio.gather(*(one(i) for i in range(n))))
            stats = emu.webhook_stats()
            most, failed = stats.max_in_flight, stats.failed - failed_before
            cpu = _cpu_seconds(workers) - cpu
            sent = len([c for c in emu.calls[sent:] if c.method == "sendMessage" and c.ok])
            crises = emu.updates[first_update:]
            last = max(u.delivered_at or u.at for u in crises) - min(u.at for u in crises)
            return Burst(latencies, (await _commits() - before) / n, sent, last, most, cpu / n, failed)


async def run(
    chats: int = 100, each: int = 5, workers: tuple[int, ...] = (1, 2, 4), crises: int = 200, burst: int = 2
) -> None:
    logging.disable(logging.WARNING)
    total = chats * each
    deadline.doing(f"{total} messages to the echo bot")
    echo = await echo_per_second(chats, each)
    print(f"{total} messages from {chats} employees in a case, all at once, update in -> reply out:")
    print(f"  echo bot (one process, polling)        {echo:7.1f} updates/s")
    for n in workers:
        deadline.doing(f"{total} messages to hotline on {n} worker(s)")
        rate, most = await updates_per_second(n, chats, each)
        print(
            f"  hotline, {n} worker(s), PostgreSQL     {rate:7.1f} updates/s  ({rate / echo:.2f}x the echo bot)"
            f"  webhook deliveries in flight at most {most}"
        )
    deadline.doing(f"{crises} messages at once to the echo bot")
    unlimited = await measure_echo_latency(crises, 4, burst=True, limits=None)
    base = await measure_echo_latency(crises, 4, burst=True, limits=PER_CHAT)
    runs: tuple[tuple[str, FloodLimits | None], ...] = (
        ("no flood limits", None),
        ("Telegram's 1/s per chat ON", PER_CHAT),
        ("every limit ON (30/s per bot)", REALISTIC),
    )
    for label, limits in runs:
        deadline.doing(f"{crises} crises at once to {burst} worker(s) and their alerts, {label}")
        result = await crisis_burst(burst, limits, crises)
        lat, commits, sent = result.latencies, result.commits, result.sent
        print(f"{crises} crises at once, {burst} worker(s) on PostgreSQL behind nginx, {label}:")
        echo_lat = unlimited if limits is None else base
        if limits is not REALISTIC:
            print(
                f"  echo bot: message -> reply   p50 {percentile(echo_lat, 0.5) * 1000:6.0f} ms  p99 {percentile(echo_lat, 0.99) * 1000:6.0f} ms"
            )
        note = (
            f"p99 {percentile(lat, 0.99) / percentile(echo_lat, 0.99):.1f}x the echo's; target p99 <= 500 ms"
        )
        if limits is REALISTIC:
            note = f"floor: {sent} messages at 30/s = {sent / 30 * 1000:.0f} ms"
        print(
            f"  hotline: crisis -> alert     p50 {percentile(lat, 0.5) * 1000:6.0f} ms  p99 {percentile(lat, 0.99) * 1000:6.0f} ms"
            f"  ({note})"
        )
        print(f"  database transactions per crisis (every worker, until the last alert)  {commits:.2f}")
        print(
            f"  last crisis stored {result.last_stored * 1000:.0f} ms after the first came in;"
            f" webhook deliveries in flight at most {result.most_in_flight} ({result.failed} failed);"
            f" workers' CPU per crisis {result.cpu_per_crisis * 1000:.0f} ms"
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks workers")
    parser.add_argument("--chats", type=int, default=100, help="employees in a case, writing at once")
    parser.add_argument("--each", type=int, default=5, help="messages each of them sends")
    parser.add_argument("--workers", default="1,2,4", help="worker counts to measure, comma-separated")
    parser.add_argument("--crises", type=int, default=200, help="crises at once")
    parser.add_argument("--burst-workers", type=int, default=2, help="workers taking the crises")
    deadline_option(parser, DEADLINE)
    args = parser.parse_args(argv)
    workers = tuple(int(n) for n in args.workers.split(",") if n)
    return run_main_async(
        "workers benchmark",
        args.deadline,
        lambda: run(args.chats, args.each, workers, args.crises, args.burst_workers),
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
