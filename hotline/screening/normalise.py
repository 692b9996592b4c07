"""Text normalisation for screening: one ``str.translate`` pass, precomputed per screener.

Per character, in this order: NFKC (full-width → half-width, compatibility forms such as 𝐬𝐮𝐢𝐜𝐢𝐝𝐞),
lower case, accents and other combining marks removed (Tâi-lô ``siūnn`` → ``siunn``), Simplified →
Traditional, the lexicon's extra folds, Zhuyin tone marks and zero-width characters deleted, and
separators (whitespace, dots, asterisks ...) turned into a space.

Two views come out of it: ``spaced`` keeps word boundaries for Latin-script patterns, ``compact``
drops the spaces so that "想 死", "自.殺" and "自*殺" read as 想死 and 自殺. Sentence punctuation
(，。！？) is kept in both views: it is a boundary, so words from two sentences never join.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import TypeAlias

# Every code point of the first two planes gets an entry the first time a text contains it, so
# translate takes the (slow) missing-key path once per character; higher planes pass through unchanged.
_TABLE_LIMIT = 0x20000
_SURROGATES = range(0xD800, 0xE000)

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u034f"
ZHUYIN_TONES = "ˇˊˋ˙"

TranslateTable: TypeAlias = dict[int, int | str]


def _fold_char(ch: str, s2t: Mapping[str, str], folds: Mapping[str, str]) -> str:
    text = unicodedata.normalize("NFKC", ch).lower()
    decomposed = unicodedata.normalize("NFD", text)
    if any(unicodedata.category(c) == "Mn" for c in decomposed):
        text = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
        text = unicodedata.normalize("NFC", text)
    text = "".join(s2t.get(c, c) for c in text)
    return "".join(folds.get(c, c) for c in text)


class FoldTable(dict[int, int | str]):
    """The translate table of a screener, filled one code point at a time: keys are code points,
    values a code point or a string. Folding all 128k code points up front cost most of a second at
    each start; a text meets a few thousand distinct characters. (``dict.__missing__`` is asked only
    on a miss, so a filled entry costs ``str.translate`` what a plain dict's does.)"""

    __slots__ = ("_folds", "_removed", "_s2t", "_spaces")

    def __init__(
        self, s2t: Mapping[str, str], folds: Mapping[str, str], separators: str, removed_chars: str
    ) -> None:
        super().__init__()
        self._s2t, self._folds = s2t, folds
        self._removed = frozenset(ZERO_WIDTH + ZHUYIN_TONES + removed_chars)
        self._spaces = frozenset(separators)

    def __missing__(self, cp: int) -> int | str:
        if not 0 <= cp < _TABLE_LIMIT:
            raise LookupError(cp)  # str.translate leaves the character as it is
        value = self._entry(cp)
        self[cp] = value
        return value

    def _entry(self, cp: int) -> int | str:
        ch = chr(cp)
        removed, spaces = self._removed, self._spaces
        if cp in _SURROGATES:
            return cp
        if ch in removed:
            return ""
        if ch in spaces or ch.isspace():
            return " "
        folded = _fold_char(ch, self._s2t, self._folds)
        folded = "".join("" if c in removed else " " if (c in spaces or c.isspace()) else c for c in folded)
        return cp if folded == ch else folded


def build_table(
    s2t: Mapping[str, str], folds: Mapping[str, str], separators: str, removed_chars: str = ""
) -> TranslateTable:
    """The translate table of a screener (see :class:`FoldTable`)."""
    return FoldTable(s2t, folds, separators, removed_chars)


class Normaliser:
    """Turns raw text into the two views the matchers scan."""

    __slots__ = ("table",)

    def __init__(self, table: TranslateTable) -> None:
        self.table = table

    def spaced(self, text: str) -> str:
        return text.translate(self.table)

    def compact(self, text: str) -> str:
        return text.translate(self.table).replace(" ", "")

    def pattern(self, pattern: str) -> str:
        """A lexicon pattern in canonical form, runs of separators collapsed to one space."""
        return " ".join(pattern.translate(self.table).split())
