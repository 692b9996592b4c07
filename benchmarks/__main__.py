"""`make bench`: every benchmark, each printing its figures against a baseline measured in the same run.

python -m benchmarks                 all of them
python -m benchmarks screen mail     some of: screening, screen, telegram, line, workers, mail, memory
python -m benchmarks mail 20 --rounds 1   one of them with its own arguments (``--help`` lists them)
python -m benchmarks screening [--set N] [--head PATH] [--as-mail] [--misses]    screening quality on a held-out set (12-17)

Every benchmark's ``main`` takes its arguments (list[str]) and returns an exit code, and is called here
in that one way (``tests/benchmarks/test_smoke.py`` runs each so, on tiny sizes). Every benchmark that
waits on the service has an overall deadline (``DEADLINE`` in its module, ``--deadline`` to change it):
past it, the run stops with one sentence on stderr naming what is stuck, and exit code 1.
"""

from __future__ import annotations

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

# In the order they run: name -> (title, main).
BENCHMARKS: dict[str, tuple[str, Callable[[list[str]], int]]] = {
    "screening": ("== crisis screening quality on held-out set 11 ==", screening_quality.main),
    "screen": ("== crisis screening (hotline screen) ==", screen_bench.main),
    "telegram": ("== Telegram line: 300 /start at once; crisis alert latency ==", telegram_bench.main),
    "line": ("== LINE line: 300 users' first message at once ==", line_bench.main),
    "workers": ("== several workers behind nginx on PostgreSQL (issue 14) ==", workers_bench.main),
    "mail": (
        "== e-mail station: hotline mail poll --once of 1,000 realistic mails, whole processes ==",
        mail_bench.main,
    ),
    "memory": ("== memory per open conversation: 10,000 open cases ==", memory_bench.main),
}
ALL = tuple(BENCHMARKS)


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if argv[:1] and argv[0] in BENCHMARKS and any(arg not in BENCHMARKS for arg in argv[1:]):
        return BENCHMARKS[argv[0]][1](argv[1:])  # one benchmark, with its own arguments
    unknown = set(argv) - set(ALL)
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose {', '.join(ALL)}",
            file=sys.stderr,
        )
        return 2
    for i, name in enumerate(name for name in ALL if not argv or name in argv):
        title, run = BENCHMARKS[name]
        print(("\n" if i else "") + title, flush=True)
        code = run([])
        if code:
            return code
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
