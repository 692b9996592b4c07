"""The LINE line under load (issue 15): 300 LINE users' first message, until each has an answer.

Measured on the LINE emulator against the bare line-bot-sdk echo webhook in the same run
(``line_echo_baseline``): the whole service (``Stage``: SQLite on disk, every screening layer, the
counselors on the Telegram emulator) with its LINE webhook as the emulator's webhook URL, driven by the
same ``drive_first_messages`` (target ≤ 1.5× the echo). Each user's first message is stored, screened,
run through the intake flow and answered (the consent notice, by reply token).

``python -m benchmarks line``                       echo and hotline, median of 3 rounds each
``python -m benchmarks.line_bench --webhook URL --port P``   drive any running webhook: the emulator
    serves the API on 127.0.0.1:P with the default channel secret and access token
    (``hotline.sandbox.DEFAULT_CHANNEL_SECRET`` / ``DEFAULT_ACCESS_TOKEN``), so point that webhook's
    LINE API URL at ``http://127.0.0.1:P`` first.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
from pathlib import Path

from benchmarks.line_echo_baseline import LoadResult, drive_first_messages, measure_echo
from hotline.sandbox import LineEmulator, TelegramEmulator
from hotline.sandbox.stage import Stage, StageClock, stage_settings

TOKEN = "5555:BENCH"


async def measure_webhook(url: str, port: int, n_users: int) -> LoadResult:
    async with LineEmulator(webhook_url=url, port=port) as emu:
        return await drive_first_messages(emu, n_users)


async def measure_hotline(n_users: int, *, learned: bool = True) -> LoadResult:
    """The whole service's LINE webhook on the emulator: each user's first message to their answer
    (``learned=False``: the lexicon screens alone, to show the channel's own cost apart)."""
    with tempfile.TemporaryDirectory() as tmp:
        async with TelegramEmulator(token=TOKEN) as tg, LineEmulator() as emu:
            settings = stage_settings(
                tg.api_url,
                TOKEN,
                Path(tmp) / "bench.db",
                line_channel_secret=emu.channel_secret,
                line_channel_access_token=emu.access_token,
                line_api_url=emu.api_url,
                line_webhook_listen="127.0.0.1:0",
                screening={"learned": learned},
            )
            async with Stage(tg, settings, StageClock()) as stage:
                webhook = stage.running.line_webhook
                assert webhook is not None
                emu.set_webhook(webhook.url)
                result = await drive_first_messages(emu, n_users)
                inbox = stage.running.line_inbox
                assert inbox is not None
                await inbox.idle()
            answered = [c for c in emu.calls if c.ok and c.endpoint in ("reply", "push")]
            if len({c.to for c in answered}) != n_users or any(not c.ok for c in emu.calls):
                raise AssertionError("hotline answered some users twice or not at all, or a call failed")
    return result


def _median(results: list[LoadResult]) -> LoadResult:
    return sorted(results, key=lambda r: r.seconds)[len(results) // 2]


async def main(n_users: int = 300, rounds: int = 3) -> None:
    logging.disable(logging.WARNING)
    echo = [await measure_echo(n_users) for _ in range(rounds)]
    ours = [await measure_hotline(n_users) for _ in range(rounds)]
    lexicon = [await measure_hotline(n_users, learned=False) for _ in range(rounds)]
    e, o, x = _median(echo), _median(ours), _median(lexicon)
    print(f"{n_users} LINE users' first message at once -> first answer, median of {rounds} by total time:")
    print("  " + e.line("echo bot"))
    print("  " + o.line("hotline"))
    print("  " + x.line("lexicon"))
    print(f"  (echo rounds: {', '.join(f'{r.seconds:.3f}' for r in echo)} s; median {statistics.median(r.seconds for r in echo):.3f} s)")  # fmt: skip
    print(f"  (hotline rounds: {', '.join(f'{r.seconds:.3f}' for r in ours)} s)")
    print(f"  (hotline, lexicon only: {', '.join(f'{r.seconds:.3f}' for r in lexicon)} s)")
    print(f"  ratio     {o.seconds / e.seconds:.2f}x  every screening layer (target <= 1.5x)")
    print(f"  ratio     {x.seconds / e.seconds:.2f}x  the lexicon alone: the channel's own cost (every")
    print("            text is screened; the echo screens nothing, and 300 first messages are 300 texts")
    print("            for the learned layer, where 300 /start on Telegram are none)")


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.line_bench")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--webhook", help="drive this webhook URL instead of the echo baseline")
    parser.add_argument("--port", type=int, default=0, help="the emulator's API port (with --webhook)")
    args = parser.parse_args(argv)
    if args.webhook is None:
        asyncio.run(main(args.users))
        return 0
    result = asyncio.run(measure_webhook(args.webhook, args.port, args.users))
    print(result.line("webhook"))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
