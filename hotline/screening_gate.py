"""Trains the cascade's first stage (``hotline.screening.learned.Gate``) and chooses its threshold.

The encoder is most of the cost of the learned layer. A linear model on hashed character n-grams scores a
fragment in microseconds; a fragment it scores far below anything crisis-like is not encoded. That
trades recall for speed, so the threshold is chosen by cross-validation on the exemplars (never on a
held-out set): the highest one at which no crisis exemplar that the learned layer flags in
cross-validation loses its alert, then lowered by ``MARGIN`` on the logit for text unlike the exemplars.

Deterministic: full-batch Adam from zeros, fixed epochs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from hotline.screening.learned import Gate, ngram_features

DIM = 1 << 13
EPOCHS = 150
LEARNING_RATE = 0.05
L2 = 1e-4
# Subtracted from the highest threshold that loses no crisis exemplar in cross-validation.
MARGIN = 0.25
SETTINGS = f"gate={DIM},{EPOCHS},{LEARNING_RATE},{L2},{MARGIN}"


def fit_gate(texts: Sequence[str], crisis: NDArray[np.bool_]) -> tuple[NDArray[np.float32], float]:
    """Logistic regression, crisis against the rest, each side half the weight."""
    x = ngram_features(texts, DIM)
    y = crisis.astype(np.float32)
    positives = max(float(y.sum()), 1.0)
    negatives = max(float(len(y) - y.sum()), 1.0)
    weight = np.where(crisis, 0.5 / positives, 0.5 / negatives).astype(np.float32)
    w = np.zeros(DIM, np.float32)
    b = np.float32(0.0)
    mw, vw = np.zeros_like(w), np.zeros_like(w)
    mb = vb = 0.0
    for step in range(1, EPOCHS + 1):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        err = (p - y) * weight
        gw = x.T @ err + L2 * w
        gb = float(err.sum())
        c1, c2 = 1 - 0.9**step, 1 - 0.999**step
        mw = 0.9 * mw + 0.1 * gw
        vw = 0.999 * vw + 0.001 * gw * gw
        w -= (LEARNING_RATE * (mw / c1) / (np.sqrt(vw / c2) + 1e-8)).astype(np.float32)
        mb = 0.9 * mb + 0.1 * gb
        vb = 0.999 * vb + 0.001 * gb * gb
        b = np.float32(b - LEARNING_RATE * (mb / c1) / (np.sqrt(vb / c2) + 1e-8))
    return w.astype(np.float32), float(b)


def make_gate(texts: Sequence[str], crisis: NDArray[np.bool_], threshold: float) -> Gate:
    weights, bias = fit_gate(texts, crisis)
    return Gate(weights, bias, DIM, threshold)


@dataclass(frozen=True, slots=True)
class Scored:
    """The fragments of one exemplar as cross-validation saw them."""

    part: NDArray[np.bool_]  # a sentence or pair (else whole or window)
    crisis: NDArray[np.float32]  # the head's crisis probability
    distress: NDArray[np.float32]
    gate: NDArray[np.float32]  # the gate's score (logit)


def alerts(scored: Scored, whole: float, part: float, gate: float | None = None) -> bool:
    """The learned layer's crisis verdict on one exemplar; with ``gate``, fragments below it count as none."""
    keep = np.ones(len(scored.crisis), bool) if gate is None else scored.gate >= gate
    over = np.where(scored.part, scored.crisis >= part, scored.crisis >= whole)
    return bool((over & keep).any())


def choose_gate_threshold(
    scored: Sequence[Scored], crisis: Sequence[bool], whole: float, part: float
) -> tuple[float, float]:
    """(threshold shipped, highest threshold losing no crisis exemplar in CV)."""
    limit = float("inf")
    for item, is_crisis in zip(scored, crisis, strict=True):
        if not is_crisis or not alerts(item, whole, part):
            continue
        over = np.where(item.part, item.crisis >= part, item.crisis >= whole)
        # the alert stands while its best alerting fragment passes the gate
        limit = min(limit, float(item.gate[over].max()))
    if limit == float("inf"):
        limit = float("-inf")
    return limit - MARGIN, limit


def gate_costs(scored: Sequence[Scored], is_crisis: Sequence[bool], whole: float, part: float) -> str:
    """What a higher gate would cost and save: at each of a few thresholds, the crisis exemplars the learned
    layer alerts on without a gate that it would no longer alert on, and the fragments that would skip the
    encoder (the shipped gate loses none: one hard exemplar sets it for every text)."""
    plain = [alerts(s, whole, part) for s in scored]
    fragments_all = sum(len(s.gate) for s in scored)
    cells = []
    for threshold in (-3.5, -3.0, -2.5, -2.0):
        lost = sum(
            1
            for s, crisis, alerted in zip(scored, is_crisis, plain, strict=True)
            if crisis and alerted and not alerts(s, whole, part, threshold)
        )
        skipped = sum(int((s.gate < threshold).sum()) for s in scored)
        cells.append(f"{threshold:.1f}: {lost} lost, {100 * skipped / max(fragments_all, 1):.0f} % skip")
    return "  a gate at " + "; ".join(cells)
