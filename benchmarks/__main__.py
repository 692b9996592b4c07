"""`make bench`: every benchmark, each printing its figures against a baseline measured in the same run.

python -m benchmarks            all of them
python -m benchmarks screen     one of: screen, telegram, mail
"""

from __future__ import annotations

import asyncio
import sys

from benchmarks import mail_bench, screen_bench, telegram_bench


def main(argv: list[str]) -> int:
    wanted = set(argv) or {"screen", "telegram", "mail"}
    unknown = wanted - {"screen", "telegram", "mail"}
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose screen, telegram or mail",
            file=sys.stderr,
        )
        return 2
    if "screen" in wanted:
        print("== crisis screening (hotline screen) ==")
        screen_bench.main([])
    if "telegram" in wanted:
        print("\n== Telegram line: 300 /start at once; crisis alert latency ==")
        asyncio.run(telegram_bench.main())
    if "mail" in wanted:
        print("\n== e-mail station: hotline mail poll --once of 1,000 mails ==")
        asyncio.run(mail_bench.main())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
