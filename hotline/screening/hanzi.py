"""A single-character Simplified → Traditional (Taiwan) table derived from OpenCC's data.

OpenCC converts phrase by phrase and is far too slow for every message, so the screener converts
character by character with ``str.translate``. The table is computed once from OpenCC's public
``convert`` (the library reads its own bundled dictionaries; this package opens no file).
Phrase-level choices (干 → 幹/乾) do not matter here: lexicon patterns go through the same table, so
both sides land on the same canonical form.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

_CJK_RANGES = ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00))


@lru_cache(maxsize=1)
def simplified_to_traditional() -> Mapping[str, str]:
    """Map each Simplified character that OpenCC (s2tw) changes to its first Traditional form."""
    from opencc import OpenCC  # imported lazily: loading its dictionaries costs ~50 ms

    chars = [chr(cp) for start, stop in _CJK_RANGES for cp in range(start, stop)]
    converted = OpenCC("s2tw").convert("\n".join(chars)).split("\n")
    if len(converted) != len(chars):  # pragma: no cover - would mean OpenCC merged characters
        raise RuntimeError("OpenCC changed the number of characters; cannot build the table")
    return MappingProxyType({c: t for c, t in zip(chars, converted, strict=True) if c != t and len(t) == 1})
