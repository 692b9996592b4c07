"""The LINE line under load (issue 15): 300 LINE users' first message, until each has an answer.

Measured on the LINE emulator against the bare line-bot-sdk echo webhook in the same run
(``line_echo_baseline``). The hotline side joins when the LINE channel exists: it needs only an
emulator whose webhook URL points at the service, then ``drive_first_messages`` (target ≤ 1.5× the echo).

``python -m benchmarks line``                       the echo baseline, median of 3 rounds
``python -m benchmarks.line_bench --webhook URL --port P``   drive any running webhook: the emulator
    serves the API on 127.0.0.1:P with the default channel secret and access token
    (``hotline.sandbox.DEFAULT_CHANNEL_SECRET`` / ``DEFAULT_ACCESS_TOKEN``), so point that webhook's
    LINE API URL at ``http://127.0.0.1:P`` first.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from benchmarks.line_echo_baseline import LoadResult, drive_first_messages, measure_echo
from hotline.sandbox import LineEmulator


async def measure_webhook(url: str, port: int, n_users: int) -> LoadResult:
    async with LineEmulator(webhook_url=url, port=port) as emu:
        return await drive_first_messages(emu, n_users)


async def main(n_users: int = 300, rounds: int = 3) -> None:
    echo = [await measure_echo(n_users) for _ in range(rounds)]
    median = sorted(echo, key=lambda r: r.seconds)[len(echo) // 2]
    print(f"{n_users} LINE users' first message at once -> first answer, median of {rounds} by total time:")
    print("  " + median.line("echo bot"))
    print(f"  (rounds: {', '.join(f'{r.seconds:.3f}' for r in echo)} s; median {statistics.median(r.seconds for r in echo):.3f} s)")  # fmt: skip
    print("  hotline   (the LINE channel is not built yet: issue 15)")


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
