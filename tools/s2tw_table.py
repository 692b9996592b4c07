"""Write ``hotline/screening/s2tw_table.py``: each Simplified character that OpenCC (s2tw) changes, with its
Traditional (Taiwan) form, for every CJK code point the screener folds.

Run after upgrading opencc-python-reimplemented (``tests/screening/test_screening_hanzi.py`` fails until
then): ``.venv/bin/python tools/s2tw_table.py``. The service reads the written table only: OpenCC's
dictionaries, loaded to convert a character at a time, held about 10 MiB in every worker.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from opencc import OpenCC

from hotline.screening.hanzi import CJK_RANGES

TARGET = Path(__file__).resolve().parents[1] / "hotline" / "screening" / "s2tw_table.py"
PER_LINE = 36  # pairs a line


def pairs() -> list[tuple[str, str]]:
    """OpenCC's s2tw conversion of every CJK code point at once, kept where it gives one other character."""
    chars = [chr(cp) for start, stop in CJK_RANGES for cp in range(start, stop)]
    converted = OpenCC("s2tw").convert("\n".join(chars)).split("\n")
    return [(c, t) for c, t in zip(chars, converted, strict=True) if c != t and len(t) == 1]


def render(table: list[tuple[str, str]]) -> str:
    flat = ["".join(s + t for s, t in table[i : i + PER_LINE]) for i in range(0, len(table), PER_LINE)]
    body = "\n".join(f'    "{line}"' for line in flat)
    return (
        '"""Simplified → Traditional (Taiwan), one character each: written by tools/s2tw_table.py from\n'
        f'opencc-python-reimplemented {version("opencc-python-reimplemented")} (s2tw). Do not edit by hand."""\n\n'
        f"# {len(table)} pairs, each a Simplified character followed by its Traditional form.\n"
        f"PAIRS = (\n{body}\n)\n"
    )


if __name__ == "__main__":
    TARGET.write_text(render(pairs()), encoding="utf-8")
    print(f"wrote {TARGET}")
