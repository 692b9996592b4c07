"""The Simplified → Traditional table, looked up a character at a time, is the table OpenCC gives for
all CJK code points converted at once (how it used to be built, at half a second per start)."""

from __future__ import annotations

from opencc import OpenCC

from hotline.screening.hanzi import _CJK_RANGES, SimplifiedToTraditional


def test_characters_looked_up_one_at_a_time_match_the_whole_conversion() -> None:
    chars = [chr(cp) for start, stop in _CJK_RANGES for cp in range(start, stop)]
    converted = OpenCC("s2tw").convert("\n".join(chars)).split("\n")
    whole = {c: t for c, t in zip(chars, converted, strict=True) if c != t and len(t) == 1}
    lazy = SimplifiedToTraditional()
    assert {c: lazy[c] for c in chars if c in lazy} == whole
    assert lazy.get("杀") == "殺" and lazy.get("殺") is None and lazy.get("a") is None
    assert len(lazy) == len(whole)
