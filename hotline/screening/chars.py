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

A reader trained with ``fold`` reads text as the lexicon does before it counts n-grams (``Folder``):
compatibility forms and full-width letters (NFKC), accents (Tâi-lô ``siūnn`` → ``siunn``), Simplified
→ Traditional, zero-width characters and Zhuyin tone marks gone, separators such as ``自.殺`` or ``想*死``
a space, and the spaces between two Chinese characters dropped ("想 死" reads 想死; Latin words keep
theirs). So "想死", "想 死" and "想死" in Simplified make the same n-grams, and the reader's vocabulary
is not spent on variants.

Pure: text in, probabilities out; no I/O.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from hotline.screening.normalise import FoldTable

Matrix = NDArray[np.float32]
GRAM_SIZES = (1, 2, 3)


def normalised(text: str) -> str:
    """Lower-cased, every run of white space one space, a space at each end (a word's first and last
    characters make grams of their own)."""
    return " " + " ".join(text.lower().split()) + " "


# Separators and removed characters as the lexicon's defaults (``hotline/screening/lexicon.py``); the
# reader keeps its own copy so that a change to the lexicon's file cannot change what a trained reader reads.
FOLD_SEPARATORS = ' .*·•‧・_-~"^+=|/\\#'
FOLD_REMOVED = "'’‘`´"
# A space between two characters that are not Latin letters or digits (Chinese, Zhuyin, punctuation).
_CJK_SPACE = re.compile(r"(?<=[^\x00-\x7f]) (?=[^\x00-\x7f])")


class Folder:
    """What a folding reader does to a text before counting n-grams (see the module's text)."""

    def __init__(self, s2t: Mapping[str, str]) -> None:
        self.table = FoldTable(s2t, {}, FOLD_SEPARATORS, FOLD_REMOVED)

    def __call__(self, text: str) -> str:
        return _CJK_SPACE.sub("", " ".join(text.translate(self.table).split()))


def grams(text: str, fold: Callable[[str], str] | None = None) -> Counter[str]:
    """How often each character 1-, 2- and 3-gram occurs in the normalised text (folded first with
    ``fold``)."""
    t = normalised(fold(text) if fold is not None else text)
    counts: Counter[str] = Counter()
    for n in GRAM_SIZES:
        counts.update(t[i : i + n] for i in range(len(t) - n + 1))
    return counts


def weighted(
    texts: Sequence[str],
    vocabulary: Mapping[str, int],
    idf: Matrix,
    fold: Callable[[str], str] | None = None,
) -> Iterator[tuple[NDArray[np.intp], Matrix]]:
    """For each text: the vocabulary indices of its n-grams and their TF-IDF weights, unit length (both
    empty when no n-gram of the text is in the vocabulary)."""
    for text in texts:
        found = [(vocabulary[g], c) for g, c in grams(text, fold).items() if g in vocabulary]
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
    fold: Folder | None = None  # when the reader was trained on folded text

    def probabilities(self, texts: Sequence[str]) -> Matrix:
        logits = np.tile(self.bias, (len(texts), 1)).astype(np.float32)
        for row, (index, values) in enumerate(weighted(texts, self.vocabulary, self.idf, self.fold)):
            if len(index):
                logits[row] += values @ self.weights[index]
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        result: Matrix = exp / exp.sum(axis=1, keepdims=True)
        return result
