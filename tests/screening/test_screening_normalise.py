"""Normalisation: the compact view that Chinese patterns are matched against, and evasions through it."""

from __future__ import annotations

import pytest

from hotline.domain import Risk
from hotline.screening import Screener


@pytest.mark.parametrize(
    ("raw", "compact"),
    [
        ("想 死", "想死"),  # spaces between characters
        ("自.殺", "自殺"),  # dots
        ("自*殺", "自殺"),  # asterisks
        ("自\u200b殺", "自殺"),  # zero-width space
        ("自\u200c殺", "自殺"),  # zero-width non-joiner
        ("想\u3000死", "想死"),  # ideographic space
        ("ＫＭＳ", "kms"),  # full-width and upper case
        ("杀", "殺"),  # Simplified -> Traditional
        ("药已经准备好了", "藥已經準備好了"),
        ("ㄙˇ", "ㄙ"),  # Zhuyin tone mark removed
        ("siūnn-beh-sí", "siunnbehsi"),  # Tâi-lô tone marks removed, hyphens are separators
        ("can't", "cant"),  # apostrophes removed
        ("𝐬𝐮𝐢𝐜𝐢𝐝𝐞", "suicide"),  # mathematical letters (NFKC)
        ("我想死。線上", "我想死。線上"),  # sentence punctuation is kept as a boundary
        ("好累，死了", "好累,死了"),  # full-width comma becomes ASCII, still a boundary
    ],
)
def test_compact_view(screener: Screener, raw: str, compact: str) -> None:
    assert screener.normalise(raw) == compact


@pytest.mark.parametrize(
    "text",
    [
        "我想 死",
        "自.殺",
        "我想自*殺",
        "想\u200b死",
        "我想紫砂",
        "好想ㄙˇ",
        "我想4了",
        "ｋｍｓ",
        "k i l l m y s e l f",
        "I wanna unalive myself",
        "我真正想欲死",
        "我毋想活矣",
        "siūnn-beh-sí",
        "我想自杀",
        "不 想 活 了",
    ],
)
def test_evasive_spellings_alert(screener: Screener, text: str) -> None:
    assert screener.screen(text).risk is not Risk.NONE


@pytest.mark.parametrize(
    "text",
    ["我想4點下班", "我們去4樓開會", "紫砂壺怎麼保養", "5kms run today", "ok ms chen", "keys"],
)
def test_evasion_lookalikes_stay_quiet(screener: Screener, text: str) -> None:
    assert screener.screen(text).risk is Risk.NONE


def test_sentence_boundary_keeps_an_idiom_from_swallowing_a_crisis(screener: Screener) -> None:
    # 累死了 is an idiom, but it must not silence 死了算了 that starts inside it in the next clause
    assert screener.screen("好累。死了算了").risk is not Risk.NONE
    assert screener.screen("好累 死了算了").risk is not Risk.NONE
