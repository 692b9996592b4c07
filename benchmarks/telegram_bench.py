"""The Telegram line under load, against the bare PTB echo bot on the same emulator (DESIGN §5a).

1. 300 employees send /start at once, until each has a reply: hotline vs the echo bot (target ≤ 1.5×).
2. Crisis message in → alert call out at the emulator, p50/p99 over 200 crises (target p99 ≤ 0.5 s):
   one at a time (latency) and all at once (a burst).

The /start race and the one-at-a-time latencies run without Telegram's flood limits (the emulator's) and
the service without pacing: these figures are the service's own speed. The burst runs twice more:

- with Telegram's one message a second per chat ON (the emulator enforces it, the service paces for it;
  the bot-wide 30 a second off): 200 alerts to the one counselor on duty could only leave at one a second
  (~200 s for the last) were they not grouped while they wait (``hotline/alert_lanes.py``); the echo
  bot's burst is measured under the same limits (it answers 200 different chats, one message each);
- with every limit ON (``REALISTIC``: 30 messages a second for the bot too): 200 crisis replies to the
  employees and the alerts all pass through the bot's 30 a second, so the last alert cannot leave before
  about (messages sent) / 30 seconds; the floor is printed beside it (the bare echo bot, which does not
  pace, is refused by the emulator here and has no figure).

Where the burst's time goes (a profile of the burst window, statement and round-trip counts, on SQLite
and on two workers): ``docs/performance.md``. In short, one process is CPU-bound on one core with SQLite's
one connection checked out 98 % of the burst: p99 ≈ 200 × the CPU a crisis costs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event

from benchmarks import deadline
from benchmarks.deadline import deadline_option, run_main_async
from benchmarks.echo_baseline import build_echo_app, measure_echo
from hotline.sandbox import ChatUser, TelegramEmulator
from hotline.sandbox.stage import ROSTER, Stage, StageClock, stage_settings
from hotline.sandbox.telegram_limits import REALISTIC, FloodLimits

DEADLINE = 1200  # seconds, the whole run: several times its normal run
TOKEN = "5555:BENCH"
FIRST_USER = 2_000_000
CRISIS = "我真的撐不下去了，今晚想從頂樓跳下去 #{n}"
PER_CHAT = FloodLimits(per_bot_per_second=0)  # Telegram's one a second per chat; the bot's 30/s off
UNPACED_BOT = {"per_bot_per_second": 100_000.0, "per_bot_burst": 100_000}  # pacing for PER_CHAT


async def measure_hotline_start(n_users: int, concurrent: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        async with TelegramEmulator(token=TOKEN, limits=None) as emu:
            settings = stage_settings(
                emu.api_url, TOKEN, Path(tmp) / "b.db", telegram={"concurrent_updates": concurrent}
            )
            async with Stage(emu, settings, StageClock()):
                users = [emu.user(FIRST_USER + i, f"員工{i}") for i in range(n_users)]
                mark = emu.mark()
                started = time.monotonic()
                for user in users:
                    await emu.send_text(user, "/start")
                replies = await emu.wait_for_all(
                    lambda c: c.ok, n_users, method="sendMessage", since=mark, timeout=300
                )
    if {c.chat_id for c in replies} != {u.id for u in users}:
        raise AssertionError("some users got no reply")
    return max(c.at for c in replies) - started


async def measure_echo_latency(
    n: int, concurrent: int, *, burst: bool, limits: FloodLimits | None = None
) -> list[float]:
    """The baseline for the alert latency: message injected -> the bare echo bot's reply, same emulator."""
    async with TelegramEmulator(limits=limits) as emu:
        app = build_echo_app(emu, concurrent)
        assert app.updater is not None
        await app.initialize()
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=10)
        try:
            await emu.wait_polling()
            users = [emu.user(FIRST_USER + i, f"員工{i}") for i in range(n)]

            async def one(i: int) -> float:
                update = await emu.send_text(users[i], CRISIS.format(n=i))
                reply = await emu.wait_for(
                    method="sendMessage", chat_id=users[i].id, since=update, timeout=120
                )
                return reply.at - update.at

            if burst:
                return list(await asyncio.gather(*(one(i) for i in range(n))))
            return [await one(i) for i in range(n)]
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()


@dataclass
class Burst:
    """What one run of crises measured: each crisis's alert latency, and per crisis the transactions
    committed, the SQL statements run and the process's CPU seconds from the first crisis in to the
    last alert out; the messages sent to Telegram (everyone's) in that time."""

    latencies: list[float]
    commits: float
    statements: float
    cpu: float
    messages: int
    alert_messages: int  # of them, to the counselor's chat (grouped while they waited)


async def measure_alerts(n: int, concurrent: int, *, burst: bool, limits: FloodLimits | None = None) -> Burst:
    """Crisis message in -> alert out, for each of ``n`` crises, under the emulator's ``limits`` (the
    service paces for them: for ``PER_CHAT`` only per chat)."""
    counselor = ROSTER[0].telegram_id
    with tempfile.TemporaryDirectory() as tmp:
        async with TelegramEmulator(token=TOKEN, limits=limits) as emu:
            telegram: dict[str, object] = {"concurrent_updates": concurrent}
            if limits is PER_CHAT:
                telegram["pacing"] = UNPACED_BOT
            settings = stage_settings(emu.api_url, TOKEN, Path(tmp) / "b.db", telegram=telegram)
            async with Stage(emu, settings, StageClock()) as stage:
                await stage.say(emu.user(counselor, "Wang"), "/onduty", containing="值班")
                users = [emu.user(FIRST_USER + i, f"員工{i}") for i in range(n)]
                assert stage.running.store is not None
                commits, statements = [0], [0]
                engine = stage.running.store.engine.sync_engine
                event.listen(engine, "commit", lambda _conn: commits.__setitem__(0, commits[0] + 1))
                event.listen(
                    engine,
                    "before_cursor_execute",
                    lambda *_args: statements.__setitem__(0, statements[0] + 1),
                )
                mark = emu.mark()
                cpu = time.process_time()

                async def one(i: int) -> float:
                    return await alert_latency(emu, users[i], i, counselor, timeout=120)

                if burst:
                    latencies = list(await asyncio.gather(*(one(i) for i in range(n))))
                else:
                    latencies = [await one(i) for i in range(n)]
                cpu = time.process_time() - cpu  # the emulator's share included (same process)
                sent = [c for c in emu.calls[mark:] if c.method == "sendMessage" and c.ok]
                grouped = [c for c in sent if c.chat_id == counselor and "危機通報" in (c.text or "")]
                return Burst(latencies, commits[0] / n, statements[0] / n, cpu / n, len(sent), len(grouped))


async def alert_latency(
    emu: TelegramEmulator, user: ChatUser, i: int, counselor: int, *, timeout: float
) -> float:
    """Crisis message ``i`` from ``user`` in, its alert at the counselor's chat out (seconds)."""
    update = await emu.send_text(user, CRISIS.format(n=i))
    tag = f" #{i}"  # the end of its words: alone, or on its own line in a grouped alert

    def carries(text: str) -> bool:
        return "危機通報" in text and any(line.rstrip().endswith(tag) for line in text.splitlines())

    alert = await emu.wait_for(
        lambda c: carries(c.text or ""),
        method="sendMessage",
        chat_id=counselor,
        since=update,
        timeout=timeout,
    )
    return alert.at - update.at


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _latencies(label: str, values: list[float]) -> str:
    p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
    return f"  {label:<30}p50 {p50:6.0f} ms  p99 {p99:6.0f} ms"


async def run(n_users: int = 300, n_crises: int = 200, concurrent: int = 4, rounds: int = 3) -> None:
    logging.disable(logging.WARNING)
    deadline.doing(f"/start x{n_users} on the echo bot")
    echo = [await measure_echo(n_users, concurrent_updates=concurrent) for _ in range(rounds)]
    deadline.doing(f"/start x{n_users} on hotline")
    ours = [await measure_hotline_start(n_users, concurrent) for _ in range(rounds)]
    e, o = statistics.median(echo), statistics.median(ours)
    print(f"/start x{n_users} at once (concurrent_updates={concurrent}), median of {rounds}:")
    print(f"  echo bot  {e:.3f} s\n  hotline   {o:.3f} s\n  ratio     {o / e:.2f}x  (target <= 1.5x)")
    runs: list[tuple[str, bool, FloodLimits | None]] = [
        ("one at a time, no flood limits", False, None),
        ("burst (all at once), no flood limits", True, None),
        ("burst (all at once), Telegram's 1/s per chat ON", True, PER_CHAT),
        ("burst (all at once), every limit ON (30/s per bot)", True, REALISTIC),
    ]
    for label, burst, limits in runs:
        echo_limits = None if limits is REALISTIC else limits
        deadline.doing(f"{n_crises} messages to the echo bot, {label}")
        base = await measure_echo_latency(n_crises, concurrent, burst=burst, limits=echo_limits)
        deadline.doing(f"{n_crises} crises to hotline and their alerts, {label}")
        run = await measure_alerts(n_crises, concurrent, burst=burst, limits=limits)
        lat = run.latencies
        print(f"{n_crises} crises, {label}:")
        if limits is not REALISTIC:
            print(_latencies("echo bot: message -> reply", base))
        ratio = percentile(lat, 0.99) / percentile(base, 0.99)
        note = f"(p99 {ratio:.1f}x the echo's; target p99 <= 1000 ms in one process on SQLite)"
        if limits is REALISTIC:
            note = f"(floor: {run.messages} messages at 30/s = {run.messages / 30 * 1000:.0f} ms)"
        print(_latencies("hotline: crisis -> alert", lat) + "  " + note)
        print(
            f"  per crisis: {run.commits:.2f} transactions, {run.statements:.1f} SQL statements,"
            f" {run.cpu * 1000:.1f} ms CPU (emulator included);"
            f" {run.messages} messages sent, {run.alert_messages} of them alerts to the counselor"
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks telegram", description=__doc__.split("\n", 1)[0]
    )
    parser.add_argument("--users", type=int, default=300, help="employees sending /start at once")
    parser.add_argument("--crises", type=int, default=200, help="crisis messages per latency run")
    parser.add_argument("--concurrent", type=int, default=4, help="the service's concurrent_updates")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the /start race")
    deadline_option(parser, DEADLINE)
    args = parser.parse_args(argv)
    return run_main_async(
        "Telegram benchmark",
        args.deadline,
        lambda: run(args.users, args.crises, args.concurrent, args.rounds),
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
