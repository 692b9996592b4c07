"""A single-character Simplified → Traditional (Taiwan) table derived from OpenCC's data.

OpenCC converts phrase by phrase and is far too slow for every message, so the screener converts
character by character with ``str.translate``. Each character's entry comes from OpenCC's public
``convert`` the first time a text (or a lexicon pattern) contains it, and is kept: converting every CJK
code point up front cost half a second at each start. OpenCC reads its own bundled dictionaries; this
package opens no file. Phrase-level choices (干 → 幹/乾) do not matter here: lexicon patterns go through
the same table, so both sides land on the same canonical form.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

_CJK_RANGES = ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00))


def _is_cjk(ch: str) -> bool:
    cp = ord(ch) if len(ch) == 1 else -1
    return any(start <= cp < stop for start, stop in _CJK_RANGES)


class SimplifiedToTraditional(Mapping[str, str]):
    """Each Simplified character that OpenCC (s2tw) changes, mapped to its first Traditional form;
    looked up one character at a time and remembered (thread-safe: a race only converts twice)."""

    def __init__(self) -> None:
        self._known: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._converter: Any = None

    def _convert(self, ch: str) -> str:
        if self._converter is None:
            with self._lock:
                if self._converter is None:
                    from opencc import OpenCC  # imported lazily: loading its dictionaries costs ~50 ms

                    self._converter = OpenCC("s2tw")
        return str(self._converter.convert(ch))

    def _lookup(self, ch: str) -> str | None:
        if ch in self._known:
            return self._known[ch]
        target: str | None = None
        if _is_cjk(ch):
            converted = self._convert(ch)
            target = converted if converted != ch and len(converted) == 1 else None
        self._known[ch] = target
        return target

    def __getitem__(self, ch: str) -> str:
        target = self._lookup(ch)
        if target is None:
            raise KeyError(ch)
        return target

    def __iter__(self) -> Iterator[str]:  # the whole table: every CJK code point converted once
        for start, stop in _CJK_RANGES:
            for cp in range(start, stop):
                if self._lookup(chr(cp)) is not None:
                    yield chr(cp)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@lru_cache(maxsize=1)
def simplified_to_traditional() -> Mapping[str, str]:
    """The process's one table (shared by every screener built from the default data)."""
    return SimplifiedToTraditional()
