"""`make bench`: every benchmark, each printing its figures against a baseline measured in the same run.

python -m benchmarks            all of them
python -m benchmarks screen     one of: screen, telegram, line, mail, memory, screening, workers
python -m benchmarks screening [--set 1|2|3|4|5] [--misses]   screening quality on a held-out set
"""

from __future__ import annotations

import asyncio
import sys

from benchmarks import (
    line_bench,
    mail_bench,
    memory_bench,
    screen_bench,
    screening_quality,
    telegram_bench,
    workers_bench,
)

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
    if "screen" in wanted:
        print("== crisis screening (hotline screen) ==")
        screen_bench.main([])
    if "telegram" in wanted:
        print("\n== Telegram line: 300 /start at once; crisis alert latency ==")
        asyncio.run(telegram_bench.main())
    if "line" in wanted:
        print("\n== LINE line: 300 users' first message at once ==")
        asyncio.run(line_bench.main())
    if "workers" in wanted:
        print("\n== several workers behind nginx on PostgreSQL (issue 14) ==")
        asyncio.run(workers_bench.main())
    if "mail" in wanted:
        print("\n== e-mail station: hotline mail poll --once of 1,000 realistic mails, whole processes ==")
        mail_bench.main([])
    if "memory" in wanted:
        print("\n== memory per open conversation: 10,000 open cases ==")
        memory_bench.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
