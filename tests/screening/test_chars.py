"""The learned layer's character n-gram reader (``hotline/screening/chars.py``) and its trainer.

- its features are scikit-learn's TF-IDF of character 1-3-grams, computed with numpy alone (the service
  does not import scikit-learn);
- training is deterministic and learns which wording is crisis-like;
- a folding reader reads text as the lexicon does (Simplified as Traditional, full-width and accents
  folded, separators and the spaces between Chinese characters gone), so variants make the same n-grams;
- a head blends the reader's probabilities with the encoder head's by its share, and the head file keeps
  the reader (saved and loaded back the same).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from hotline.learned_loader import load_head, save_head
from hotline.screening.chars import (
    CharHead,
    Folder,
    Vocabulary,
    gram_key,
    grams,
    key_gram,
    normalised,
    weighted,
)
from hotline.screening.hanzi import simplified_to_traditional
from hotline.screening.learned import Head
from hotline.screening_chars_train import fit_chars, vocabulary_of
from hotline.screening_train import sample_weights

TEXTS = [
    "藥都買好了，就今晚",
    "我把藥都存起來了",
    "今晚就從頂樓跳下去",
    "請問怎麼預約諮商",
    "請問預約要帶什麼",
    "  Thanks   a LOT \n see you ",
    "goodbye everyone, I have bought the rope",
    "góa beh khì sí",
    "午餐吃什麼",
    "午餐吃便當",
]
CLASSES = ("distress", "none", "suicide.plan")
TARGETS = np.array([2, 2, 2, 1, 1, 1, 2, 2, 1, 1], dtype=np.intp)


def test_the_features_are_scikit_learns_tf_idf_of_character_grams() -> None:
    vectoriser = TfidfVectorizer(
        analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2, preprocessor=normalised
    )
    expected = vectoriser.fit_transform(TEXTS).toarray()
    grams_of, idf = vocabulary_of(TEXTS)
    assert grams_of == vectoriser.vocabulary_
    vocabulary = Vocabulary(grams_of)
    assert np.allclose(idf, vectoriser.idf_, atol=1e-6)
    ours = np.zeros_like(expected)
    for row, (index, values) in enumerate(weighted(TEXTS, vocabulary, idf)):
        ours[row, index] = values
    assert np.allclose(ours, expected, atol=1e-6)


def test_grams_read_lower_cased_text_with_its_spaces_collapsed() -> None:
    assert normalised("  A\tB \n c ") == " a b c "
    counts = grams("Aa")
    assert counts[" "] == 2 and counts["a"] == 2 and counts[" aa"] == 1 and counts["aa "] == 1


def test_the_fold_reads_variants_as_one_text() -> None:
    fold = Folder(simplified_to_traditional())
    assert fold("藥 都 買 好 了") == fold("药都买好了") == "藥都買好了"
    assert fold("自.殺 與 自*殺") == "自殺與自殺"
    assert fold("I want  to DIE 我 不想活了") == "i want to die 我不想活了"  # Latin words keep their spaces
    assert fold("Guá siūnn beh sí") == "gua siunn beh si"
    assert fold("ＳＵＩＣＩＤＥ 𝐬𝐮𝐢𝐜𝐢𝐝𝐞") == "suicide suicide"
    assert fold("不\u200b想活 ㄅㄨˊ") == "不想活ㄅㄨ"


def test_a_folding_reader_scores_the_variants_alike() -> None:
    reader = fit_chars(TEXTS, TARGETS, CLASSES, sample_weights(TARGETS, CLASSES))
    assert reader.fold is not None  # the trainer's choice (screening_chars_train.FOLD)
    spaced, plain, simplified = reader.probabilities(["藥 都 買 好 了", "藥都買好了", "药都买好了"])
    assert np.array_equal(spaced, plain) and np.array_equal(simplified, plain)
    raw = dataclasses.replace(reader, fold=None)
    assert not np.array_equal(raw.probabilities(["藥 都 買 好 了"])[0], plain)


def test_grams_are_looked_up_by_integer_keys() -> None:
    for gram in ("a", "藥", "😭", " 藥 ", "\U0010ffff\x00a", "\ud800x"):
        assert key_gram(gram_key(gram)) == gram
    counted = Counter({g: c for g, c in grams("藥藥 😭\ud800").items()})
    vocabulary = Vocabulary({g: i for i, g in enumerate(sorted(counted))})
    index, counts = vocabulary.counted(normalised("藥藥 😭\ud800"))
    assert list(index) == list(range(len(counted)))
    assert [int(c) for c in counts] == [counted[g] for g in sorted(counted)]
    assert vocabulary.grams() == sorted(counted)
    assert len(Vocabulary({}).counted(" x ")[0]) == 0
    read_back = Vocabulary.of_array(np.array(vocabulary.grams()))  # as the head file is read
    nul_free, _idf = vocabulary_of(["a\x00b", "a\x00b"])  # the file cannot keep a trailing NUL: never kept
    assert nul_free and not any("\x00" in g for g in nul_free)
    assert np.array_equal(read_back.keys, vocabulary.keys) and np.array_equal(
        read_back.columns, vocabulary.columns
    )


def test_a_text_with_no_known_gram_gets_the_bias_alone() -> None:
    reader = CharHead(
        Vocabulary({"藥": 0}),
        np.ones(1, np.float32),
        np.ones((1, 2), np.float32),
        np.array([0.0, 1.0], np.float32),
    )
    unknown, known = reader.probabilities(["xyz", "藥"])
    assert unknown == pytest.approx(np.exp([0, 1]) / np.exp([0, 1]).sum())
    assert known == pytest.approx(np.exp([1, 2]) / np.exp([1, 2]).sum())


def test_training_is_deterministic_and_learns_the_wording() -> None:
    weights = sample_weights(TARGETS, CLASSES)
    first = fit_chars(TEXTS, TARGETS, CLASSES, weights)
    second = fit_chars(TEXTS, TARGETS, CLASSES, weights)
    assert np.array_equal(first.weights, second.weights) and np.array_equal(first.bias, second.bias)
    plan, lunch = first.probabilities(["藥買好了 今晚", "請問午餐預約"])
    assert plan[2] > 0.5 > lunch[2]
    assert not first.weights[:, 0].any()  # no distress text: that class learns nothing, and is never read
    assert (first.probabilities(TEXTS)[:, 0] < 1e-9).all()
    assert first.probabilities(TEXTS).sum(axis=1) == pytest.approx(np.ones(len(TEXTS)))


def head_with(reader: CharHead | None, share: float) -> Head:
    return Head(
        CLASSES, np.eye(3, dtype=np.float32), np.zeros(3, np.float32), 0, 0.5, 0.3, 0.6, 0.9, "words", "d",
        chars=reader, chars_share=share,
    )  # fmt: skip


def test_a_head_blends_the_readers_by_its_share() -> None:
    reader = fit_chars(TEXTS, TARGETS, CLASSES, sample_weights(TARGETS, CLASSES))
    encoder_view = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
    texts = ["藥都買好了", "午餐吃什麼"]
    blended = head_with(reader, 0.25).blend(texts, encoder_view)
    assert blended == pytest.approx(0.75 * encoder_view + 0.25 * reader.probabilities(texts))
    assert np.array_equal(head_with(None, 0.0).blend(texts, encoder_view), encoder_view)
    assert np.array_equal(head_with(reader, 0.0).blend(texts, encoder_view), encoder_view)


def test_the_head_file_keeps_the_reader(tmp_path: Path) -> None:
    reader = fit_chars(TEXTS, TARGETS, CLASSES, sample_weights(TARGETS, CLASSES))
    head = head_with(reader, 0.5)
    save_head(head, tmp_path / "head.npz")
    loaded = load_head(tmp_path / "head.npz")
    assert loaded.chars is not None and loaded.chars_share == 0.5
    assert loaded.chars.vocabulary.grams() == reader.vocabulary.grams()
    assert np.array_equal(loaded.chars.probabilities(TEXTS), reader.probabilities(TEXTS))
    assert loaded.chars.fold is not None
    save_head(dataclasses.replace(head, chars=dataclasses.replace(reader, fold=None)), tmp_path / "raw.npz")
    raw = load_head(tmp_path / "raw.npz").chars
    assert raw is not None and raw.fold is None
    save_head(dataclasses.replace(head, chars=None, chars_share=0.0), tmp_path / "plain.npz")
    assert load_head(tmp_path / "plain.npz").chars is None
