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
# reader keeps its own copy so that an edit of the lexicon's TOML cannot change what a trained reader reads
# (the rest of the fold, ``normalise.FoldTable`` and OpenCC's table, is shared with the lexicon's screener).
FOLD_SEPARATORS = ' .*·•‧・_-~"^+=|/\\#'
FOLD_REMOVED = "'’‘`´"
# A space between two characters outside ASCII (Chinese, Zhuyin, full-width punctuation, emoji).
_CJK_SPACE = re.compile(r"(?<=[^\x00-\x7f]) (?=[^\x00-\x7f])")


class Folder:
    """What a folding reader does to a text before counting n-grams (see the module's text)."""

    def __init__(self, s2t: Mapping[str, str]) -> None:
        self.table = FoldTable(s2t, {}, FOLD_SEPARATORS, FOLD_REMOVED)

    def __call__(self, text: str) -> str:
        return _CJK_SPACE.sub("", " ".join(text.translate(self.table).split()))


def prepared(text: str, fold: Callable[[str], str] | None = None) -> str:
    """``text`` as the reader counts its n-grams: folded with ``fold`` when given, then `normalised`."""
    return normalised(fold(text) if fold is not None else text)


def grams(text: str, fold: Callable[[str], str] | None = None) -> Counter[str]:
    """How often each character 1-, 2- and 3-gram occurs in the `prepared` text."""
    t = prepared(text, fold)
    counts: Counter[str] = Counter()
    for n in GRAM_SIZES:
        counts.update(t[i : i + n] for i in range(len(t) - n + 1))
    return counts


# A gram of up to three characters as one integer: each code point plus one in 21 bits (a unigram is below
# 2**21, a bigram below 2**42, a trigram below 2**63), so grams are looked up with numpy, not a dict of
# strings (230,000 grams: about 2 MB instead of about 30).
_BITS = 21
_MASK = (1 << _BITS) - 1
assert GRAM_SIZES == (1, 2, 3), "text_keys makes 1-3-grams, and four 21-bit slots would not fit in an int64"


def gram_key(gram: str) -> int:
    """The integer key of a gram of one to three characters."""
    key = 0
    for position, ch in enumerate(gram):
        key |= (ord(ch) + 1) << (_BITS * position)
    return key


def key_gram(key: int) -> str:
    """The gram of an integer key (`gram_key` reversed)."""
    chars = []
    while key:
        chars.append(chr((key & _MASK) - 1))
        key >>= _BITS
    return "".join(chars)


def text_keys(text: str) -> NDArray[np.int64]:
    """The keys of every 1-, 2- and 3-gram of an already normalised text, one per occurrence."""
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64) + 1
    parts = [points]
    if len(points) >= 2:
        parts.append(points[:-1] | (points[1:] << _BITS))
    if len(points) >= 3:
        parts.append(points[:-2] | (points[1:-1] << _BITS) | (points[2:] << (2 * _BITS)))
    return np.concatenate(parts)


class Vocabulary:
    """The reader's n-grams: their keys in sorted order and each one's column in the weights."""

    __slots__ = ("columns", "keys")

    def __init__(self, grams: Mapping[str, int]) -> None:
        keys = np.fromiter((gram_key(g) for g in grams), np.int64, len(grams))
        self._sort(keys, np.fromiter(grams.values(), np.intp, len(grams)))

    def _sort(self, keys: NDArray[np.int64], columns: NDArray[np.intp]) -> None:
        order = np.argsort(keys, kind="stable")
        self.keys: NDArray[np.int64] = keys[order]
        self.columns: NDArray[np.intp] = columns[order]

    @classmethod
    def of_array(cls, grams: NDArray[np.str_]) -> Vocabulary:
        """The vocabulary of the head file's array of grams in column order (numpy's ``<U3``), its keys
        computed with numpy: a Python loop over 230,000 grams took a third of a second at each start."""
        width = grams.dtype.itemsize // 4
        if width > len(GRAM_SIZES) or grams.dtype.kind != "U":
            raise ValueError(
                f"grams of dtype {grams.dtype} are not the reader's (up to {len(GRAM_SIZES)} characters)"
            )
        points = np.ascontiguousarray(grams).view(np.uint32).reshape(len(grams), width).astype(np.int64)
        keys = np.zeros(len(grams), np.int64)
        for position in range(width):  # numpy pads a shorter gram with code point 0
            column = points[:, position]
            keys |= np.where(column > 0, column + 1, 0) << (_BITS * position)
        vocabulary = cls.__new__(cls)
        vocabulary._sort(keys, np.arange(len(grams), dtype=np.intp))
        return vocabulary

    def __len__(self) -> int:
        return len(self.keys)

    def grams(self) -> list[str]:
        """The grams in column order (what the head file stores)."""
        out = [""] * len(self.keys)
        for key, column in zip(self.keys.tolist(), self.columns.tolist(), strict=True):
            out[column] = key_gram(key)
        return out

    def counted(self, text: str) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
        """The columns of the vocabulary's grams in the normalised ``text``, in increasing order, and how
        often each occurs."""
        found, counts = np.unique(text_keys(text), return_counts=True)
        at = np.searchsorted(self.keys, found)
        at[at == len(self.keys)] = 0
        known = self.keys[at] == found if len(self.keys) else np.zeros(len(found), bool)
        columns = self.columns[at[known]]
        order = np.argsort(columns)
        return columns[order], counts[known][order].astype(np.float32)


def weighted(
    texts: Sequence[str],
    vocabulary: Vocabulary,
    idf: Matrix,
    fold: Callable[[str], str] | None = None,
) -> Iterator[tuple[NDArray[np.intp], Matrix]]:
    """For each text: the vocabulary indices of its n-grams and their TF-IDF weights, unit length (both
    empty when no n-gram of the text is in the vocabulary)."""
    for text in texts:
        index, counts = vocabulary.counted(prepared(text, fold))
        if not len(index):
            yield np.zeros(0, np.intp), np.zeros(0, np.float32)
            continue
        values = ((1.0 + np.log(counts)) * idf[index]).astype(np.float32)
        norm = float(np.linalg.norm(values))
        yield index, values / norm if norm else values


@dataclass(frozen=True)
class CharHead:
    """A multinomial logistic model on TF-IDF character n-grams; its classes are the `Head`'s."""

    vocabulary: Vocabulary
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
