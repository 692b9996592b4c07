"""The learned layer's second reader: character n-grams, weighted TF-IDF, and a linear softmax.

The sentence encoder reads meaning but blurs wording: romanised Hokkien, evasive spellings, 注音文 and
the help line's everyday openers all land near each other. Character 1-3-grams keep the wording. Each
reader alone alerts on about one harmless exemplar in eight to eleven at the recall the trainer asks
for; their mean probability on about one in eighteen (tenth round of issue 11, docs/screening.md),
because they err on different texts. So a head holds both, and the layer reads a fragment's
probabilities as the share-weighted mean (``Head.blend``).

The features are what scikit-learn's ``TfidfVectorizer(analyzer="char", ngram_range=(1, 3),
sublinear_tf=True)`` makes of `normalised` text: each n-gram of the vocabulary counted, 1 + ln(count),
times its inverse document frequency, the row scaled to unit length. The trainer
(``hotline.screening_chars_train``) fits the weights; here only numpy reads them.

Pure: text in, probabilities out; no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.float32]
GRAM_SIZES = (1, 2, 3)


def normalised(text: str) -> str:
    """Lower-cased, every run of white space one space, a space at each end (a word's first and last
    characters make grams of their own)."""
    return " " + " ".join(text.lower().split()) + " "


def grams(text: str) -> Counter[str]:
    """How often each character 1-, 2- and 3-gram occurs in the normalised text."""
    t = normalised(text)
    counts: Counter[str] = Counter()
    for n in GRAM_SIZES:
        counts.update(t[i : i + n] for i in range(len(t) - n + 1))
    return counts


def weighted(
    texts: Sequence[str], vocabulary: Mapping[str, int], idf: Matrix
) -> Iterator[tuple[NDArray[np.intp], Matrix]]:
    """For each text: the vocabulary indices of its n-grams and their TF-IDF weights, unit length (both
    empty when no n-gram of the text is in the vocabulary)."""
    for text in texts:
        found = [(vocabulary[g], c) for g, c in grams(text).items() if g in vocabulary]
        if not found:
            yield np.zeros(0, np.intp), np.zeros(0, np.float32)
            continue
        found.sort()
        index = np.fromiter((i for i, _ in found), np.intp, len(found))
        counts = np.fromiter((c for _, c in found), np.float32, len(found))
        values = ((1.0 + np.log(counts)) * idf[index]).astype(np.float32)
        norm = float(np.linalg.norm(values))
        yield index, values / norm if norm else values


@dataclass(frozen=True)
class CharHead:
    """A multinomial logistic model on TF-IDF character n-grams; its classes are the `Head`'s."""

    vocabulary: Mapping[str, int]
    idf: Matrix  # (vocabulary,)
    weights: Matrix  # (vocabulary, classes)
    bias: Matrix  # (classes,)

    def probabilities(self, texts: Sequence[str]) -> Matrix:
        logits = np.tile(self.bias, (len(texts), 1)).astype(np.float32)
        for row, (index, values) in enumerate(weighted(texts, self.vocabulary, self.idf)):
            if len(index):
                logits[row] += values @ self.weights[index]
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        result: Matrix = exp / exp.sum(axis=1, keepdims=True)
        return result
