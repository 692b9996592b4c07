"""Properties: screening never raises on any text and is deterministic."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.domain import Risk, Screening
from hotline.screening import Screener
from hotline.screening_loader import load_screener

SCREENER: Screener = load_screener()

# Text with a bias towards the characters the lexicon cares about, plus anything at all.
crisis_alphabet = st.sampled_from(list("想死自殺杀不活今晚頂樓跳藥ㄙˇ4 .*\u200b，。kmsKMS"))
texts = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec=None)),
    st.lists(crisis_alphabet, max_size=40).map("".join),
    st.lists(st.one_of(crisis_alphabet, st.characters()), max_size=80).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(texts)
def test_screen_never_raises_and_is_deterministic(text: str) -> None:
    first = SCREENER.screen(text)
    assert isinstance(first, Screening)
    assert first.risk in set(Risk)
    assert list(first.cues) == sorted(set(first.cues))
    assert (first.risk is Risk.NONE) == (not first.cues)
    assert SCREENER.screen(text) == first


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text())
def test_appending_text_never_hides_a_direct_wish(prefix: str, suffix: str) -> None:
    # a clear statement stays an alert whatever surrounds it (separated by sentence punctuation)
    assert SCREENER.screen(f"{prefix}。我想自殺。{suffix}").risk is not Risk.NONE
