"""A single-character Simplified → Traditional (Taiwan) table derived from OpenCC's data.

OpenCC converts phrase by phrase and is far too slow for every message, so the screener converts
character by character with ``str.translate``. The table (:mod:`hotline.screening.s2tw_table`) is OpenCC's
s2tw conversion of every CJK code point, written once by ``tools/s2tw_table.py`` and checked against
OpenCC by ``tests/screening/test_screening_hanzi.py``: OpenCC's dictionaries, loaded in the service to
convert a character at a time, held about 10 MiB in every worker. Phrase-level choices (干 → 幹/乾) do
not matter here: lexicon patterns go through the same table, so both sides land on the same canonical
form.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from hotline.screening.s2tw_table import PAIRS

CJK_RANGES = ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00))  # the code points the table covers


@lru_cache(maxsize=1)
def simplified_to_traditional() -> Mapping[str, str]:
    """The process's one table (shared by every screener built from the default data): each Simplified
    character that OpenCC's s2tw changes, mapped to its Traditional form."""
    joined = "".join(PAIRS)
    return dict(zip(joined[0::2], joined[1::2], strict=True))
