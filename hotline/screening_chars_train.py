"""Trains the learned layer's character n-gram reader (``hotline/screening/chars.py``).

A convex problem, so one optimum: scikit-learn's ``LogisticRegression`` (L-BFGS, multinomial) finds the
same weights on any CPU up to its tolerance, unlike the encoder head's Adam steps (docs/screening.md,
seventh round). scikit-learn and SciPy are training dependencies only (the ``dev`` extra, which ``make
install`` installs); the service reads the weights with numpy. ``hotline.screening_train`` calls it
for each fold of the cross-validation and for the head it saves.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from hotline.screening.chars import GRAM_SIZES, CharHead, Folder, Vocabulary, grams, weighted
from hotline.screening.hanzi import simplified_to_traditional

# The inverse of the L2 penalty, on sample weights that sum to the number of training texts; an
# n-gram enters the vocabulary when at least MIN_DF training texts hold it. Chosen by the tenth round's
# cross-validation (docs/screening.md), never on a held-out set.
C = 10.0
MIN_DF = 2
TOLERANCE = 1e-6
MAX_ITER = 3000
# The n-gram reader's share of a fragment's probabilities; the encoder head has the rest.
SHARE = 0.5
ABSENT = -30.0
# The reader reads folded text (``chars.Folder``): cross-validation in the tenth round put the mean's
# harmless exemplars alerted at 95 % recall at 4.4 % folded against 5.6 % raw (docs/screening.md).
FOLD = True
SETTINGS = f"chars={GRAM_SIZES},{C},{MIN_DF},{TOLERANCE},{MAX_ITER},{SHARE}" + (",fold" if FOLD else "")


def folder() -> Folder | None:
    """The fold a reader trained now reads with (None: raw text)."""
    return Folder(simplified_to_traditional()) if FOLD else None


def vocabulary_of(
    texts: Sequence[str], fold: Folder | None = None
) -> tuple[dict[str, int], NDArray[np.float32]]:
    """The n-grams held by at least ``MIN_DF`` texts, in sorted order, and their smoothed inverse
    document frequency, ln((1 + n) / (1 + df)) + 1."""
    df: Counter[str] = Counter()
    for text in texts:
        df.update(grams(text, fold).keys())
    # a gram with NUL is left out: the head file's fixed-width strings cannot keep a trailing NUL
    kept = sorted(g for g, n in df.items() if n >= MIN_DF and "\x00" not in g)
    total = len(texts)
    idf = np.array([math.log((1 + total) / (1 + df[g])) + 1.0 for g in kept], dtype=np.float32)
    return {g: i for i, g in enumerate(kept)}, idf


def fit_chars(
    texts: Sequence[str],
    targets: NDArray[np.intp],
    classes: Sequence[str],
    sample_weight: NDArray[np.float64],
) -> CharHead:
    """The reader trained on ``texts`` (``targets`` index ``classes``; ``sample_weight`` sums to 1)."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    fold = folder()
    grams_of, idf = vocabulary_of(texts, fold)
    vocabulary = Vocabulary(grams_of)
    rows = list(weighted(texts, vocabulary, idf, fold))
    indptr = np.cumsum([0, *(len(index) for index, _ in rows)])
    indices = np.concatenate([index for index, _ in rows]) if rows else np.zeros(0, np.intp)
    data = np.concatenate([values for _, values in rows]) if rows else np.zeros(0, np.float32)
    matrix = sparse.csr_matrix((data, indices, indptr), shape=(len(texts), len(vocabulary)))
    model = LogisticRegression(C=C, max_iter=MAX_ITER, tol=TOLERANCE)
    model.fit(matrix, targets, sample_weight=sample_weight * len(texts))
    weights = np.zeros((len(vocabulary), len(classes)), dtype=np.float32)
    bias = np.full(len(classes), ABSENT, dtype=np.float32)  # a class no training text has: never read
    present = np.asarray(model.classes_, dtype=np.intp)
    if len(present) == 2:  # scikit-learn fits one column for two classes: class 1 against class 0
        weights[:, present[1]] = model.coef_[0]
        bias[present] = (0.0, model.intercept_[0])
    else:
        weights[:, present] = model.coef_.T
        bias[present] = model.intercept_
    return CharHead(vocabulary, idf, weights, bias, fold)
