"""`make bench`: every benchmark, each printing its figures against a baseline measured in the same run.

python -m benchmarks            all of them
python -m benchmarks screen     one of: screen, telegram, line, mail, memory, screening, workers
python -m benchmarks screening [--set 1|2|3|4|5] [--misses]   screening quality on a held-out set

Every benchmark that waits on the service has an overall deadline (``DEADLINE`` in its module): past it,
the run stops with one sentence on stderr naming what is stuck, and exit code 1.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

from benchmarks import (
    line_bench,
    mail_bench,
    memory_bench,
    screen_bench,
    screening_quality,
    telegram_bench,
    workers_bench,
)
from benchmarks.deadline import guarded, run_async, run_sync

ALL = ("screen", "screening", "telegram", "line", "mail", "memory", "workers")


def main(argv: list[str]) -> int:
    if argv[:1] == ["screening"] and len(argv) > 1:
        return screening_quality.main(argv[1:])
    wanted = set(argv) or set(ALL)
    unknown = wanted - set(ALL)
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose {', '.join(ALL)}",
            file=sys.stderr,
        )
        return 2
    if "screening" in wanted:
        print("== crisis screening quality on held-out set 1 ==")
        screening_quality.main([])
    # Each benchmark that waits on the service runs under its overall deadline (benchmarks/deadline.py):
    # a stalled service fails the run with one sentence on stderr, exit code 1.
    runs: list[tuple[str, str, Callable[[], object]]] = [
        ("screen", "== crisis screening (hotline screen) ==",
         lambda: run_sync("screen benchmark", screen_bench.DEADLINE, lambda: screen_bench.main([]))),
        ("telegram", "\n== Telegram line: 300 /start at once; crisis alert latency ==",
         lambda: asyncio.run(run_async("Telegram benchmark", telegram_bench.DEADLINE, telegram_bench.main()))),
        ("line", "\n== LINE line: 300 users' first message at once ==",
         lambda: asyncio.run(run_async("LINE benchmark", line_bench.DEADLINE, line_bench.main()))),
        ("workers", "\n== several workers behind nginx on PostgreSQL (issue 14) ==",
         lambda: asyncio.run(run_async("workers benchmark", workers_bench.DEADLINE, workers_bench.main()))),
        ("mail", "\n== e-mail station: hotline mail poll --once of 1,000 realistic mails, whole processes ==",
         lambda: run_sync("mail benchmark", mail_bench.DEADLINE, mail_bench.main)),
        ("memory", "\n== memory per open conversation: 10,000 open cases ==",
         lambda: run_sync("memory benchmark", memory_bench.DEADLINE, memory_bench.main)),
    ]  # fmt: skip
    for name, title, run in runs:
        if name in wanted:
            print(title, flush=True)
            if guarded(run):
                return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
