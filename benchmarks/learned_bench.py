"""``hotline screen`` with every layer: lines per second on distinct lines, and the resident memory the
learned layer adds (DESIGN §5a: ≥ 100 lines/s on 2 cores; ≤ 150 MB added).

Measured in a fresh process (``python -m benchmarks.learned_bench --child``) so that the memory figure
is the learned layer's own: resident set after the lexicon is loaded and a few lines screened, then
after the learned layer is loaded and the same lines screened through it. Lines: the distinct lines of
``tests/screening/corpus.tsv`` and of the training exemplars' short lines (what a chat line looks like),
each screened once (no cache helps).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATE = 100.0
TARGET_MB = 150.0


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _lines(limit: int) -> list[str]:
    from hotline.exemplars import read_all
    from hotline.screening_samples import exemplar_files

    seen: dict[str, None] = {}
    corpus = ROOT / "tests" / "screening" / "corpus.tsv"
    for raw in corpus.read_text(encoding="utf-8").splitlines():
        if raw.strip() and not raw.startswith("#"):
            seen.setdefault(raw.partition("\t")[2].strip(), None)
    for ex in read_all(exemplar_files()):
        if ex.shape != "long":
            seen.setdefault(" ".join(ex.text.split()), None)
    return [line for line in seen if line][:limit]


def child(limit: int) -> dict[str, float]:
    from hotline.learned_loader import load_learned
    from hotline.screen_command import run_screen
    from hotline.screening_loader import load_screener

    lines = _lines(limit)
    payload = ("\n".join(lines) + "\n").encode("utf-8")
    lexicon = load_screener()
    warm = ("\n".join(lines[:50]) + "\n").encode("utf-8")
    run_screen(io.BytesIO(warm), io.StringIO(), lexicon)
    before = _rss_mb()
    learned = load_learned()
    run_screen(io.BytesIO(warm), io.StringIO(), lexicon, learned)
    start = time.perf_counter()
    run_screen(io.BytesIO(payload), io.StringIO(), lexicon, learned)
    seconds = time.perf_counter() - start
    return {"lines": len(lines), "seconds": seconds, "before_mb": before, "after_mb": _rss_mb()}


def report(limit: int = 1000) -> bool:
    """Measure in a child process and print; whether the targets were met."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.learned_bench", "--child", str(limit)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    got = json.loads(out.strip().splitlines()[-1])
    rate = float(got["lines"]) / float(got["seconds"])
    added = float(got["after_mb"]) - float(got["before_mb"])
    ok = bool(rate >= TARGET_RATE and added <= TARGET_MB)
    print(f"[all layers] {got['lines']:.0f} distinct lines, lexicon + learned layer")
    print(f"  hotline screen           {rate:>12,.0f} lines/s   (target ≥ {TARGET_RATE:.0f})")
    print(
        f"  resident memory          {got['before_mb']:>8.0f} MB → {got['after_mb']:.0f} MB: "
        f"+{added:.0f} MB (target ≤ {TARGET_MB:.0f})"
    )
    print(f"  targets: {'met' if ok else 'NOT met'}", flush=True)
    return ok


def main(argv: list[str]) -> int:
    """``[N]``: the figures on N distinct lines (1,000); ``--child N``: the measuring process's part."""
    if argv[:1] == ["--child"]:
        print(json.dumps(child(int(argv[1]))))
    else:
        report(int(argv[0]) if argv else 1000)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
