"""The Simplified → Traditional table the service folds with is the table OpenCC gives for all CJK code
points converted at once. The service no longer loads OpenCC (its dictionaries held about 10 MiB in every
worker): the table is written by ``tools/s2tw_table.py``, and this test fails when OpenCC's data changes
until it is written again."""

from __future__ import annotations

import subprocess
import sys

from opencc import OpenCC

from hotline.screening.hanzi import CJK_RANGES, simplified_to_traditional


def test_the_shipped_table_is_opencc_s2tw_one_character_at_a_time() -> None:
    chars = [chr(cp) for start, stop in CJK_RANGES for cp in range(start, stop)]
    converted = OpenCC("s2tw").convert("\n".join(chars)).split("\n")
    whole = {c: t for c, t in zip(chars, converted, strict=True) if c != t and len(t) == 1}
    table = simplified_to_traditional()
    assert dict(table) == whole, "OpenCC's data changed: run tools/s2tw_table.py"
    assert table.get("杀") == "殺" and table.get("殺") is None and table.get("a") is None


def test_the_service_screens_without_loading_opencc() -> None:
    probe = (
        "import sys\n"
        "from hotline.screening_loader import load_screener\n"
        "screener = load_screener()\n"
        "folded = screener.screen('我想杀了自己') == screener.screen('我想殺了自己')\n"
        "print(folded, screener.screen('我想杀了自己').risk.value, 'opencc' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "elevated", "False"]
