"""Screening quality on a held-out set: recall and false alarms per category and per language, for the
lexicon alone, the learned layer alone and both together (what the service runs).

The sets (``benchmarks/data/``) were written apart from the lexicon and the exemplars and frozen before
training; see their README. A crisis line counts as caught when the risk is elevated or imminent; a
``none`` line flagged so is a false alarm; ``distress`` lines are reported apart (flagged as a crisis
they cost a counselor a minute; as distress they go first in the queue, which is what they should): a
distress line flagged as a crisis is neither a catch nor a false alarm, and a ``none`` line marked
``distress`` is not a false alarm either (no crisis reply, no alert); both have their own rows.

Run: ``python -m benchmarks screening [--set N | --file PATH] [--head PATH] [--as-mail] [--misses]`` (``--misses`` prints the crisis lines
every layer missed: reading them is fitting to the set, so a set that has been read that way stops being
held out; say so when you report its figures).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.screening_mail import as_mail
from hotline.domain import Risk, Screening
from hotline.exemplars import Example, read_tsv
from hotline.learned_loader import LearnedUnavailable, load_learned
from hotline.screening import merge
from hotline.screening_loader import load_screener

DATA = Path(__file__).resolve().parent / "data"
SETS = {str(n): DATA / f"screening-heldout-{n}.tsv" for n in range(12, 20)}
# Sets 1-11 are training exemplars (1-8 since the eleventh session, 9-11 since the twelfth; benchmarks/data/README.md).
RETIRED = {str(n) for n in range(1, 12)}
FIRST, LAST = min(SETS, key=int), max(SETS, key=int)
GOAL_RECALL, GOAL_FALSE_ALARMS = 0.97, 0.05


def table(
    examples: Sequence[Example], results: dict[str, list[Screening]], key: Callable[[Example], str]
) -> None:
    layers = list(results)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        groups[key(ex)].append(i)
    print(f"  {'':<20}{'n':>5}" + "".join(f"{name:>14}" for name in layers))
    for name in sorted(groups):
        rows = groups[name]
        label = examples[rows[0]].label
        cells = []
        for layer in layers:
            flagged = sum(1 for i in rows if results[layer][i].is_crisis)
            cells.append(f"{flagged:>6}/{len(rows):<4}{100 * flagged / len(rows):>3.0f}%")
        kind = "recall" if label == "crisis" else "alarms"
        print(f"  {name[:13] + ' ' + kind:<20}{len(rows):>5}" + "".join(f"{c:>14}" for c in cells))


def summary(examples: Sequence[Example], results: dict[str, list[Screening]]) -> None:
    crisis = [i for i, ex in enumerate(examples) if ex.label == "crisis"]
    none = [i for i, ex in enumerate(examples) if ex.label == "none"]
    distress = [i for i, ex in enumerate(examples) if ex.label == "distress"]
    print(f"  {'':<28}" + "".join(f"{name:>14}" for name in results))

    def row(title: str, rows: list[int], test: Callable[[Screening], bool]) -> None:
        cells = [sum(1 for i in rows if test(results[layer][i])) for layer in results]
        print(
            f"  {title:<28}"
            + "".join(f"{c:>6}/{len(rows):<4}{100 * c / max(len(rows), 1):>3.0f}%" for c in cells)
        )

    row("crisis caught (recall)", crisis, lambda s: s.is_crisis)
    row("none flagged (false alarms)", none, lambda s: s.is_crisis)
    row("distress flagged as crisis", distress, lambda s: s.is_crisis)
    row("distress marked distress", distress, lambda s: s.risk is Risk.DISTRESS)
    row("none marked distress", none, lambda s: s.risk is Risk.DISTRESS)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks screening")
    parser.add_argument("--set", default=LAST, help=f"{FIRST} to {LAST} (sets 1-11 are training data now)")
    parser.add_argument(
        "--file", type=Path, help="a set of one's own, in the held-out sets' TSV format (instead of --set)"
    )
    parser.add_argument("--misses", action="store_true", help="print what every layer missed (see the doc)")
    parser.add_argument("--head", type=Path, help="another head file than the shipped one (to compare heads)")
    parser.add_argument(
        "--as-mail",
        action="store_true",
        help="screen each line as the e-mail station sees it, wrapped in a production-shaped mail",
    )
    args = parser.parse_args(argv)
    if not args.file and args.set not in SETS:
        retired = "is training data now" if args.set in RETIRED else "does not exist"
        print(f"held-out set {args.set} {retired}; the held-out sets are {FIRST} to {LAST}", file=sys.stderr)
        return 2
    path: Path = args.file or SETS[args.set]
    examples = read_tsv(path)
    lexicon = load_screener()
    try:
        learned = load_learned(args.head) if args.head else load_learned()
    except LearnedUnavailable as exc:
        print(f"the learned layer cannot load: {exc}", file=sys.stderr)
        return 2
    texts = [ex.text for ex in examples]
    readings: list[tuple[str, tuple[str, ...]]] = [(text, ()) for text in texts]
    if args.as_mail:
        wrapped = as_mail(texts)
        readings = wrapped.readings
        print(
            f"as mail: {len(texts)} lines wrapped ({wrapped.big5} in Big5) and parsed by the station;"
            f" {len(wrapped.changed)} whose new text differs from the line beyond whitespace"
        )
    alone = [lexicon.screen("\n".join([*parts, text])) for text, parts in readings]
    start = time.perf_counter()
    second = learned.screen_apart(readings)  # as the mail station reads a mail
    seconds = time.perf_counter() - start
    both = [merge(a, b) for a, b in zip(alone, second, strict=True)]
    results = {"lexicon": alone, "learned": second, "both": both}
    counts = Counter(ex.label for ex in examples)
    print(
        f"{'set' if args.file else f'held-out set {args.set}'} ({path.name}): {len(examples)} lines — "
        + ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))
        + f"; learned layer {len(texts) / seconds:.0f} lines/s"
    )
    summary(examples, results)
    crisis = [i for i, ex in enumerate(examples) if ex.label == "crisis"]
    none = [i for i, ex in enumerate(examples) if ex.label == "none"]
    recall = sum(1 for i in crisis if both[i].is_crisis) / len(crisis)
    alarms = sum(1 for i in none if both[i].is_crisis) / len(none)
    met = recall >= GOAL_RECALL and alarms <= GOAL_FALSE_ALARMS
    print(
        f"  goal (both): recall ≥ {GOAL_RECALL:.0%} and false alarms ≤ {GOAL_FALSE_ALARMS:.0%}: "
        f"{recall:.1%} / {alarms:.1%} — {'met' if met else 'NOT met'}"
    )
    print("\nper category")
    table(examples, results, lambda ex: ex.category)
    print("\nper language (crisis recall / none false alarms)")
    table(examples, results, lambda ex: f"{ex.lang}:{'crisis' if ex.label == 'crisis' else ex.label}")
    print("\nper shape")
    table(examples, results, lambda ex: f"{ex.shape}:{ex.label}")
    if args.misses:
        print("\nmissed by both layers:")
        for i in crisis:
            if not both[i].is_crisis:
                print(f"  {examples[i].category}\t{examples[i].lang}\t{examples[i].text[:160]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
