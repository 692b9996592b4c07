"""The learned layer's thresholds, chosen from its cross-validated scores on the exemplars (never on a
held-out set), and what other recall targets would cost (``make head`` prints both)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from hotline.exemplars import Example
from hotline.screening_gate import Scored, alerts

GRID = np.round(np.arange(0.05, 0.991, 0.01), 2)


def _top(values: NDArray[np.float32], mask: NDArray[np.bool_]) -> float:
    return float(values[mask].max()) if mask.any() else 0.0


def crisis_thresholds(
    examples: Sequence[Example], scored: Sequence[Scored], lexicon: Sequence[bool], recall: float
) -> tuple[float, float]:
    """(whole, part): the fewest false alarms on what is not a crisis, at ``recall`` of crisis, for the
    service as it runs: the lexicon (``lexicon[i]``: it flags exemplar i) OR the learned layer."""
    crisis = np.array([ex.label == "crisis" for ex in examples])
    flagged = np.array(lexicon, dtype=bool)
    whole_s = np.array([_top(s.crisis, ~s.part) for s in scored])
    part_s = np.array([_top(s.crisis, s.part) for s in scored])
    best: tuple[float, float, float] | None = None
    for whole in GRID:
        over_whole = flagged | (whole_s >= whole)
        for part in GRID[whole <= GRID]:
            alarm = over_whole | (part_s >= part)
            if alarm[crisis].mean() < recall:
                continue
            key = (float(alarm[~crisis].mean()), -float(whole), -float(part))
            if best is None or key < best:
                best = key
    return (0.05, 0.05) if best is None else (-best[1], -best[2])


def distress_threshold(examples: Sequence[Example], scored: Sequence[Scored]) -> float:
    """The threshold that best tells distress from none (F1)."""
    labelled = [
        (ex.label == "distress", _top(s.distress, np.ones(len(s.distress), bool)))
        for ex, s in zip(examples, scored, strict=True)
        if ex.label != "crisis"
    ]
    best_f1, distress_t = -1.0, 0.5
    for t in GRID:
        tp = sum(1 for d, s in labelled if d and s >= t)
        fp = sum(1 for d, s in labelled if not d and s >= t)
        fn = sum(1 for d, s in labelled if d and s < t)
        f1 = 2 * tp / max(2 * tp + fp + fn, 1)
        if f1 > best_f1:
            best_f1, distress_t = f1, float(t)
    return distress_t


def choose_thresholds(
    examples: Sequence[Example], scored: Sequence[Scored], lexicon: Sequence[bool], recall: float
) -> tuple[float, float, float]:
    """(whole, part, distress): `crisis_thresholds` and `distress_threshold`."""
    whole, part = crisis_thresholds(examples, scored, lexicon, recall)
    return float(whole), float(part), distress_threshold(examples, scored)


def recall_costs(examples: Sequence[Example], scored: Sequence[Scored], targets: Sequence[float]) -> str:
    """What each recall target would cost in cross-validation (learned layer alone, every fragment
    encoded): the thresholds and the harmless and distress exemplars alerted at each. A choice for the
    programme, made visible; the head is trained at one of them."""
    cells = []
    for recall in targets:
        whole, part = crisis_thresholds(examples, scored, [False] * len(examples), recall)
        learned = [alerts(s, whole, part, None) for s in scored]
        counts = {
            label: sum(f for ex, f in zip(examples, learned, strict=True) if ex.label == label)
            for label in ("none", "distress")
        }
        cells.append(
            f"{recall:.0%}: whole {whole:.2f} part {part:.2f}, none {counts['none']}, distress {counts['distress']}"
        )
    return "  other recall targets (CV, learned alone): " + "; ".join(cells)
