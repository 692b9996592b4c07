"""The Telegram line under load, against the bare PTB echo bot on the same emulator (DESIGN §5a).

1. 300 employees send /start at once, until each has a reply: hotline vs the echo bot (target ≤ 1.5×).
2. Crisis message in → alert call out at the emulator, p50/p99 over 200 crises (target p99 ≤ 0.5 s):
   one at a time (latency) and all at once (a burst).

The emulator runs without Telegram's flood limits and the service without pacing: these figures are the
service's own speed. Under the limits, 200 alerts to one counselor are spread at about one a second by
Telegram's rule for one chat, whatever the service does (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import event

from benchmarks import deadline
from benchmarks.echo_baseline import build_echo_app, measure_echo
from hotline.sandbox import ChatUser, TelegramEmulator
from hotline.sandbox.stage import ROSTER, Stage, StageClock, stage_settings

DEADLINE = 1200  # seconds, the whole run: several times its normal run
TOKEN = "5555:BENCH"
FIRST_USER = 2_000_000
CRISIS = "我真的撐不下去了，今晚想從頂樓跳下去 #{n}"


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


async def measure_echo_latency(n: int, concurrent: int, *, burst: bool) -> list[float]:
    """The baseline for the alert latency: message injected -> the bare echo bot's reply, same emulator."""
    async with TelegramEmulator(limits=None) as emu:
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


async def measure_alerts(n: int, concurrent: int, *, burst: bool) -> tuple[list[float], float]:
    """Crisis message in -> alert out, for each of ``n`` crises; and the database transactions committed
    from the first crisis in to the last alert out, per crisis."""
    counselor = ROSTER[0].telegram_id
    with tempfile.TemporaryDirectory() as tmp:
        async with TelegramEmulator(token=TOKEN, limits=None) as emu:
            settings = stage_settings(
                emu.api_url, TOKEN, Path(tmp) / "b.db", telegram={"concurrent_updates": concurrent}
            )
            async with Stage(emu, settings, StageClock()) as stage:
                await stage.say(emu.user(counselor, "Wang"), "/onduty", containing="值班")
                users = [emu.user(FIRST_USER + i, f"員工{i}") for i in range(n)]
                assert stage.running.store is not None
                commits = [0]
                engine = stage.running.store.engine.sync_engine
                event.listen(engine, "commit", lambda _conn: commits.__setitem__(0, commits[0] + 1))

                async def one(i: int) -> float:
                    return await alert_latency(emu, users[i], i, counselor, timeout=120)

                if burst:
                    latencies = list(await asyncio.gather(*(one(i) for i in range(n))))
                else:
                    latencies = [await one(i) for i in range(n)]
                return latencies, commits[0] / n


async def alert_latency(
    emu: TelegramEmulator, user: ChatUser, i: int, counselor: int, *, timeout: float
) -> float:
    """Crisis message ``i`` from ``user`` in, its alert at the counselor's chat out (seconds)."""
    update = await emu.send_text(user, CRISIS.format(n=i))
    tag = f"#{i}"
    alert = await emu.wait_for(
        lambda c: "危機通報" in (c.text or "") and (c.text or "").rstrip().endswith(tag),
        method="sendMessage", chat_id=counselor, since=update, timeout=timeout,
    )  # fmt: skip
    return alert.at - update.at


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(n_users: int = 300, n_crises: int = 200, concurrent: int = 4, rounds: int = 3) -> None:
    logging.disable(logging.WARNING)
    deadline.doing(f"/start x{n_users} on the echo bot")
    echo = [await measure_echo(n_users, concurrent_updates=concurrent) for _ in range(rounds)]
    deadline.doing(f"/start x{n_users} on hotline")
    ours = [await measure_hotline_start(n_users, concurrent) for _ in range(rounds)]
    e, o = statistics.median(echo), statistics.median(ours)
    print(f"/start x{n_users} at once (concurrent_updates={concurrent}), median of {rounds}:")
    print(f"  echo bot  {e:.3f} s\n  hotline   {o:.3f} s\n  ratio     {o / e:.2f}x  (target <= 1.5x)")
    for burst in (False, True):
        label = "burst (all at once)" if burst else "one at a time"
        deadline.doing(f"{n_crises} messages to the echo bot, {label}")
        base = await measure_echo_latency(n_crises, concurrent, burst=burst)
        deadline.doing(f"{n_crises} crises to hotline and their alerts, {label}")
        lat, commits = await measure_alerts(n_crises, concurrent, burst=burst)
        print(f"{n_crises} crises, {label}:")
        print(
            f"  echo bot: message -> reply   p50 {percentile(base, 0.5) * 1000:6.0f} ms  p99 {percentile(base, 0.99) * 1000:6.0f} ms"
        )
        print(
            f"  hotline: crisis -> alert     p50 {percentile(lat, 0.5) * 1000:6.0f} ms  p99 {percentile(lat, 0.99) * 1000:6.0f} ms"
            f"  (p99 {percentile(lat, 0.99) / percentile(base, 0.99):.1f}x the echo; target p99 <= 500 ms,"
            f" <= 1000 ms in one process on SQLite)"
        )
        print(f"  database transactions per crisis (until the last alert)  {commits:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
