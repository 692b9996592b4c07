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

# Every code point of the first two planes gets an entry, so translate never takes the (slow)
# missing-key path for ordinary text; higher planes pass through unchanged.
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


def build_table(
    s2t: Mapping[str, str], folds: Mapping[str, str], separators: str, removed_chars: str = ""
) -> TranslateTable:
    """The translate table of a screener; keys are code points, values a code point or a string."""
    table: TranslateTable = {}
    removed = frozenset(ZERO_WIDTH + ZHUYIN_TONES + removed_chars)
    spaces = frozenset(separators)
    for cp in range(_TABLE_LIMIT):
        ch = chr(cp)
        if cp in _SURROGATES:
            table[cp] = cp
            continue
        if ch in removed:
            table[cp] = ""
            continue
        if ch in spaces or ch.isspace():
            table[cp] = " "
            continue
        folded = _fold_char(ch, s2t, folds)
        folded = "".join("" if c in removed else " " if (c in spaces or c.isspace()) else c for c in folded)
        table[cp] = cp if folded == ch else folded
    return table


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
