"""Screening throughput against a one-regex loop over the same lines (DESIGN §5a: ≥ 50k msg/s, ≤ 5×).

Lines are drawn from ``tests/screening/corpus.tsv``. Two mixes are measured:

* ``corpus`` — the corpus proportions (about half crisis lines: the hard case, nearly every line goes
  through normalisation and rule evaluation);
* ``traffic`` — 2 % crisis lines, closer to what a help line receives.

For each mix: the baseline loop (``re.compile("自殺|想死|suicide").search`` per line), ``Screener.screen``
per line, and the real ``hotline screen --lexicon-only`` path (``run_screen`` over ``io.BytesIO``). Best of
``--repeat`` runs each.

Run: ``python -m benchmarks screen [--lines 100000] [--repeat 3] [--learned-lines 1000] [--deadline S]``
(or ``python -m benchmarks.screen_bench`` with the same arguments).
"""

from __future__ import annotations

import argparse
import io
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import learned_bench
from benchmarks.deadline import deadline_option, run_main
from hotline.screen_command import run_screen
from hotline.screening import Screener
from hotline.screening_loader import load_screener

DEADLINE = (
    900  # seconds, the whole run (the lexicon mixes and the learned child): several times its normal run
)
CORPUS = Path(__file__).resolve().parents[1] / "tests" / "screening" / "corpus.tsv"
TARGET_RATE = 50_000.0
TARGET_RATIO = 5.0


def read_corpus() -> tuple[list[str], list[str]]:
    crisis: list[str] = []
    harmless: list[str] = []
    for raw in CORPUS.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        label, _, text = raw.partition("\t")
        (harmless if label == "none" else crisis).append(text)
    return crisis, harmless


def build_mix(n: int, crisis_share: float, seed: int = 7) -> list[str]:
    crisis, harmless = read_corpus()
    rng = random.Random(seed)
    return [rng.choice(crisis) if rng.random() < crisis_share else rng.choice(harmless) for _ in range(n)]


def best_of(repeat: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def measure(screener: Screener, lines: list[str], repeat: int) -> dict[str, float]:
    search = re.compile("自殺|想死|suicide").search
    screen = screener.screen
    text = "\n".join(lines) + "\n"

    def baseline() -> None:
        for line in lines:
            search(line)

    def screening() -> None:
        for line in lines:
            screen(line)

    payload = text.encode("utf-8")
    out = io.StringIO()
    run_screen(io.BytesIO(payload), out, screener)  # one JSON line out per line in (not timed)
    if out.getvalue().count("\n") != len(lines):
        raise AssertionError(f"hotline screen wrote {out.getvalue().count(chr(10))} lines for {len(lines)}")

    def command() -> None:
        run_screen(io.BytesIO(payload), io.StringIO(), screener)

    return {
        "baseline": best_of(repeat, baseline),
        "screen": best_of(repeat, screening),
        "command": best_of(repeat, command),
    }


def report(name: str, n: int, seconds: dict[str, float]) -> bool:
    rate = {key: n / value for key, value in seconds.items()}
    ratio = seconds["screen"] / seconds["baseline"]
    command_ratio = seconds["command"] / seconds["baseline"]
    ok = rate["screen"] >= TARGET_RATE and ratio <= TARGET_RATIO
    print(f"[{name}] {n:,} lines")
    print(f"  baseline one-regex loop  {rate['baseline']:>12,.0f} msg/s")
    print(f"  Screener.screen          {rate['screen']:>12,.0f} msg/s   {ratio:5.2f}x the loop")
    print(f"  screen --lexicon-only    {rate['command']:>12,.0f} msg/s   {command_ratio:5.2f}x the loop")
    print(
        f"  target ≥ {TARGET_RATE:,.0f} msg/s and ≤ {TARGET_RATIO:.0f}x: {'met' if ok else 'NOT met'}",
        flush=True,
    )
    return ok


def run(lines: int, repeat: int, learned_lines: int) -> bool:
    start = time.perf_counter()
    screener = load_screener()
    print(f"screener built in {time.perf_counter() - start:.2f} s ({len(screener.entries)} lexicon entries)")
    crisis, harmless = read_corpus()
    corpus_share = len(crisis) / (len(crisis) + len(harmless))
    results = []
    for name, share in (("corpus", corpus_share), ("traffic", 0.02)):
        mix = build_mix(lines, share)
        results.append(report(f"{name} mix, {share:.0%} crisis", len(mix), measure(screener, mix, repeat)))
    results.append(learned_bench.report(learned_lines))
    return all(results)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks screen", description=__doc__.split("\n", 1)[0] if __doc__ else None
    )
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--learned-lines", type=int, default=1000, help="distinct lines for every layer")
    deadline_option(parser, DEADLINE)
    args = parser.parse_args(argv)
    return run_main(
        "screen benchmark", args.deadline, lambda: run(args.lines, args.repeat, args.learned_lines)
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
