"""The learned layer's logic with a stand-in encoder (the real one is tested in test_learned_model.py):
fragments, how fragment scores combine, categories and cues, distress, and that it only ever adds."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.domain import NO_RISK, Risk, Screening
from hotline.screening import learned as learned_module
from hotline.screening import merge
from hotline.screening.chars import CharHead, Vocabulary
from hotline.screening.fragments import SENTENCES_FROM, WHOLE_LIMIT, Fragment, Kind, fragments, sentences
from hotline.screening.learned import CUES, TOO_SHORT, Gate, Head, LearnedLayer, Matrix, in_context
from hotline.screening_gate import Scored, alerts, choose_gate_threshold, fit_gate

CLASSES = ("distress", "none", "suicide.plan", "violence.home")
WORDS = {"藥": 2, "打我": 3, "哭": 0}  # a word → the class its "embedding" points at


class WordEncoder:
    """One dimension per class: a text points at the class of the first word it contains, else none."""

    name = "test-encoder"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> Matrix:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), len(CLASSES)), dtype=np.float32)
        for row, text in enumerate(texts):
            index = next((c for word, c in WORDS.items() if word in text), 1)
            out[row, index] = 1.0
        return out


def head(whole: float = 0.5, part: float = 0.8, distress: float = 0.5) -> Head:
    weights = np.eye(len(CLASSES), dtype=np.float32) * 6
    bias = np.zeros(len(CLASSES), dtype=np.float32)
    return Head(CLASSES, weights, bias, 0, 0.0, whole, part, distress, "test-encoder", "")


def layer(**thresholds: float) -> LearnedLayer:
    return LearnedLayer(WordEncoder(), head(**thresholds))


def test_a_short_message_is_read_whole_and_named_by_its_nearest_category() -> None:
    result = layer().screen("藥都買好了")
    assert result == Screening(Risk.IMMINENT, (CUES["suicide.plan"],))  # plans are danger now
    assert layer().screen("他又打我") == Screening(Risk.ELEVATED, ("learned.violence_home",))
    assert layer().screen("今天天氣很好") is NO_RISK


def test_a_cue_at_the_end_of_a_long_mail_is_found_in_its_sentence() -> None:
    mail = "主管您好。" + "這個月的工作量真的很大，每天都加班。" * 20 + "抽屜裡的藥我都準備好了。"
    assert len(mail) > WHOLE_LIMIT
    assert fragments(mail)[0].kind is Kind.SENTENCE  # too long to be read whole
    assert layer().screen(mail).is_crisis


def test_a_short_message_is_read_whole_only_when_screened() -> None:
    """A chat line of up to SENTENCES_FROM characters: its sentences would be most of the encoder's work
    on chat first messages; the trainer still gets them."""
    chat = "你好，想找人聊聊。最近工作壓力好大，每天都加班到很晚。"
    assert len(chat) <= SENTENCES_FROM
    assert [f.kind for f in fragments(chat)] == [Kind.WHOLE, Kind.SENTENCE, Kind.SENTENCE]
    assert fragments(chat, short_by_sentence=False) == [Fragment(Kind.WHOLE, chat)]
    assert [f.kind for f in fragments(chat, ["藥買好了"], short_by_sentence=False)] == [
        Kind.WHOLE,
        Kind.WINDOW,
    ]
    long_mail = "主管您好。" + "這個月的工作量真的很大，每天都加班。" * 20
    assert fragments(long_mail, short_by_sentence=False) == fragments(long_mail)
    seen: list[str] = []

    class Recording(WordEncoder):
        def encode(self, texts: Sequence[str]) -> Matrix:
            seen.extend(texts)
            return super().encode(texts)

    LearnedLayer(Recording(), head()).screen(chat)
    assert seen == [chat]


def test_a_ramble_read_whole_is_also_read_by_sentence() -> None:
    """One crisis sentence in a chat ramble of a few hundred characters is diluted when read whole only."""
    ramble = (
        "今天又被科長念報表格式不對，改了第四次。中午沒吃，下午開會又被點名。" * 2 + "抽屜裡的藥我都存好了。"
    )
    assert SENTENCES_FROM < len(ramble) <= WHOLE_LIMIT
    kinds = [f.kind for f in fragments(ramble, short_by_sentence=False)]
    assert kinds[0] is Kind.WHOLE and Kind.SENTENCE in kinds and Kind.PAIR not in kinds
    assert "抽屜裡的藥我都存好了。" in {f.text for f in fragments(ramble, short_by_sentence=False)}


def test_a_sentence_needs_more_than_a_whole_message() -> None:
    """One sentence of many is another chance to cross a threshold, so its bar is higher."""
    weak = LearnedLayer(WordEncoder(), head(whole=0.5, part=0.9999))
    long_mail = "你好。" + "今天很忙。" * 60 + "藥。"
    assert not weak.screen(long_mail).is_crisis
    assert weak.screen("藥").is_crisis


def test_distress_without_danger_is_distress_and_never_an_alert() -> None:
    result = layer().screen("每天都在哭")
    assert result == Screening(Risk.DISTRESS, ("learned.distress",)) and not result.is_crisis


def test_the_conversation_window_reads_earlier_messages_with_this_one() -> None:
    frags = fragments("就今晚", ["藥都買好了"])
    assert [f.kind for f in frags] == [Kind.WHOLE, Kind.WINDOW]
    assert frags[1].text == "藥都買好了 就今晚"
    assert layer().screen("就今晚", ["藥都買好了"]).is_crisis
    assert not layer().screen("就今晚").is_crisis


def test_many_messages_go_through_the_encoder_in_one_call() -> None:
    encoder = WordEncoder()
    learned = LearnedLayer(encoder, head())
    results = learned.screen_many(["藥都買好了", "你好", "", "他又打我"])
    assert [r.is_crisis for r in results] == [True, False, False, True]
    assert len(encoder.calls) == 1


def test_a_text_met_twice_in_one_call_is_encoded_once_and_judged_alike() -> None:
    """Mails repeat greetings, closings and subjects: each distinct fragment goes to the encoder once,
    and every message still gets its own verdict."""
    encoder = WordEncoder()
    learned = LearnedLayer(encoder, head())
    hello, thanks = "您好，我是王小明，想請教一件事。", "謝謝您撥空看這封信，麻煩您了。"
    body = "".join(f"第{n}件事是這個月的工作安排，想跟您說明一下。" for n in range(12))  # read by sentence
    mails = [
        f"{hello}{body}{middle}{thanks}"
        for middle in ("抽屜裡的藥都買好了。", "這個月真的很忙碌。", "他昨天晚上又打我。")
    ]
    assert all(len(m) > WHOLE_LIMIT for m in mails)
    mails.append("抽屜裡的藥都買好了。")
    results = learned.screen_many(mails)
    assert [r.is_crisis for r in results] == [True, False, True, True]
    assert results == [LearnedLayer(WordEncoder(), head()).screen(m) for m in mails]
    sent = [text for call in encoder.calls for text in call]
    assert len(encoder.calls) <= 2, "one encoder call a round"
    assert len(sent) == len(set(sent)) and hello in sent and thanks in sent
    assert len(sent) < sum(len(fragments(m)) for m in mails)
    # Read again (the next batch of a poll): nothing is encoded twice, the verdicts are the same.
    calls = len(encoder.calls)
    assert learned.screen_many([*mails, "他昨天晚上又打我。"]) == [*results, results[2]]
    assert len(encoder.calls) == calls


class SplitCueEncoder(WordEncoder):
    """A cue split across two sentences: 藥 alone is half a plan, 藥 with 今晚 a whole one."""

    def encode(self, texts: Sequence[str]) -> Matrix:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), len(CLASSES)), dtype=np.float32)
        for row, text in enumerate(texts):
            if "藥" in text:
                out[row, 2] = 1.0 if "今晚" in text else 0.5
                out[row, 1] = 0.0 if "今晚" in text else 0.5
            else:
                out[row, 1] = 1.0
        return out


LONG_DAY = "這個月的工作量真的很大，每天都加班到很晚。"  # harmless, and long enough to judge alone


def test_a_cue_split_across_two_sentences_is_read_as_a_pair() -> None:
    encoder = SplitCueEncoder()
    learned = LearnedLayer(encoder, head(whole=0.5, part=0.8))
    mail = "主管您好。" + LONG_DAY * 12 + "抽屜裡的藥我都準備好了。決定就在今晚結束這一切。"
    pair = next(f for f in fragments(mail) if f.kind is Kind.PAIR and "今晚" in f.text)
    assert pair.parts == ("抽屜裡的藥我都準備好了。", "決定就在今晚結束這一切。")
    assert learned.screen(mail) == Screening(Risk.IMMINENT, (CUES["suicide.plan"],))
    assert len(encoder.calls) == 2 and pair.text in encoder.calls[1], "read in the second round"


def test_pairs_of_plainly_harmless_sentences_are_not_read() -> None:
    encoder = WordEncoder()
    learned = LearnedLayer(encoder, head())
    mail = "主管您好，想請教一件事情。" + "".join(f"第{i}週的工作量真的很大，每天都加班。" for i in range(16))
    assert any(f.kind is Kind.PAIR for f in fragments(mail))
    assert learned.screen(mail) is NO_RISK
    read = {text for call in encoder.calls for text in call}
    assert not read & {f.text for f in fragments(mail) if f.kind is Kind.PAIR}


def test_a_sentence_too_short_to_judge_alone_is_read_with_its_neighbours() -> None:
    encoder = WordEncoder()
    learned = LearnedLayer(encoder, head())
    mail = "主管您好，想請教一件事情。" + LONG_DAY * 12 + "就這樣吧，再見。" + LONG_DAY
    short = next(f for f in fragments(mail) if f.text == "就這樣吧，再見。")
    assert len(short.text) < TOO_SHORT
    learned.screen(mail)
    read = {text for call in encoder.calls for text in call}
    pairs = {f.text for f in fragments(mail) if f.kind is Kind.PAIR and short.text in f.parts}
    assert len(pairs) == 2 and pairs <= read


class FigureOfSpeechEncoder(WordEncoder):
    """As WordEncoder, but a text saying it speaks figuratively (比喻) points at none whatever else it says."""

    def encode(self, texts: Sequence[str]) -> Matrix:
        out = super().encode(texts)
        for row, text in enumerate(texts):
            if "比喻" in text:
                out[row] = 0.0
                out[row, 1] = 1.0
        return out


def test_with_overlap_a_sentence_is_judged_with_its_neighbour(monkeypatch: pytest.MonkeyPatch) -> None:
    """``OVERLAP`` (off in the shipped head): a sentence of a long text that reads as a cue alone but as
    harmless with its neighbour does not alert; one its neighbour confirms still does."""
    learned = LearnedLayer(FigureOfSpeechEncoder(), head(whole=0.5, part=0.8))
    figurative = "主管您好。" + LONG_DAY * 12 + "我在讀書會說的那句比喻。抽屜裡的藥都吃完了。"
    meant = "主管您好。" + LONG_DAY * 12 + "我真的一個人撐了很久。抽屜裡的藥都吃完了。"
    assert learned.screen(figurative).is_crisis and learned.screen(meant).is_crisis  # OVERLAP = 0
    monkeypatch.setattr(learned_module, "OVERLAP", 0.5)
    learned = LearnedLayer(FigureOfSpeechEncoder(), head(whole=0.5, part=0.8))
    assert learned.screen(figurative) is NO_RISK
    assert learned.screen(meant) == Screening(Risk.IMMINENT, (CUES["suicide.plan"],))


def test_in_context_blends_sentences_and_pairs_only() -> None:
    group = [
        Fragment(Kind.SENTENCE, "a"),
        Fragment(Kind.SENTENCE, "b"),
        Fragment(Kind.PAIR, "a b", ("a", "b")),
        Fragment(Kind.SENTENCE, "c"),
        Fragment(Kind.WINDOW, "x a"),
    ]
    crisis = np.array([0.9, 0.1, 0.3, 0.7, 0.6], dtype=np.float32)
    assert np.array_equal(in_context(group, crisis, 0.0), crisis)
    blended = in_context(group, crisis, 0.5)
    # a with its pair, b with its pair, the pair with its best sentence; c (no pair read) and the
    # window as they were
    assert blended == pytest.approx([0.6, 0.2, 0.6, 0.7, 0.6])


def test_only_so_many_fragments_are_remembered() -> None:
    encoder = WordEncoder()
    learned = LearnedLayer(encoder, head(), remember=2)
    for text in ("第一封信的內容", "第二封信的內容", "第三封信的內容", "第一封信的內容"):
        learned.screen(text)
    assert [call[0] for call in encoder.calls] == [
        "第一封信的內容",
        "第二封信的內容",
        "第三封信的內容",
        "第一封信的內容",
    ]


def test_a_head_trained_on_another_encoder_is_refused() -> None:
    with pytest.raises(ValueError, match="trained on"):
        LearnedLayer(WordEncoder(), dataclasses.replace(head(), encoder="another-encoder"))


def test_it_only_adds() -> None:
    lexicon = Screening(Risk.IMMINENT, ("suicide.plan.pills",))
    assert merge(lexicon, NO_RISK) == lexicon
    assert merge(lexicon, Screening(Risk.DISTRESS, ("learned.distress",))).risk is Risk.IMMINENT


@given(st.text(max_size=400), st.lists(st.text(max_size=60), max_size=3))
def test_fragments_are_never_empty_and_never_repeat(text: str, earlier: list[str]) -> None:
    found = fragments(text, earlier)
    texts = [f.text for f in found]
    assert all(t.strip() for t in texts)
    assert len(texts) == len(set(texts))
    assert len(found) <= 48


@given(st.text(max_size=600))
def test_sentences_cover_the_text(text: str) -> None:
    pieces = sentences(text)
    assert "".join("".join(p.split()) for p in pieces) == "".join(text.split())


def word_gate(threshold: float = 0.05) -> Gate:
    """A gate that scores a text holding 藥 above 0 (the weight of its n-gram), others 0."""
    dim = 4096
    weights = np.zeros(dim, np.float32)
    weights[zlib.crc32("藥".encode()) % dim] = 1.0  # the bucket of the 1-gram 藥
    return Gate(weights, 0.0, dim, threshold)


def test_the_gate_lets_what_it_scores_low_skip_the_encoder() -> None:
    encoder = WordEncoder()
    gated = LearnedLayer(encoder, dataclasses.replace(head(), gate=word_gate()))
    assert gated.screen("藥都買好了").is_crisis  # passes the gate, encoded, alerts
    assert encoder.calls == [["藥都買好了"]]
    assert gated.screen("他又打我") is NO_RISK  # scored low: not encoded, counts as none
    assert gated.screen("每天都在哭") is NO_RISK  # nor as distress
    assert encoder.calls == [["藥都買好了"]]
    assert gated.screen("\udce7藥").is_crisis  # undecodable input (a lone surrogate) is scored, not an error
    open_gate = LearnedLayer(WordEncoder(), dataclasses.replace(head(), gate=word_gate(float("-inf"))))
    assert open_gate.screen("他又打我").is_crisis


def test_the_gate_threshold_loses_no_crisis_exemplar_caught_in_cross_validation() -> None:
    def one(crisis: list[float], gate: list[float], part: list[bool] | None = None) -> Scored:
        n = len(crisis)
        return Scored(
            np.array(part or [False] * n),
            np.array(crisis, np.float32),
            np.zeros(n, np.float32),
            np.array(gate, np.float32),
        )

    scored = [
        one([0.9, 0.1], [2.0, -5.0]),  # caught by its first fragment (gate 2.0)
        one([0.2, 0.7], [-9.0, -1.0], [False, True]),  # caught by a sentence (part 0.6), gate -1.0
        one([0.1], [-20.0]),  # a crisis the learned layer misses anyway: no bound
        one([0.9], [-30.0]),  # not a crisis: no bound
    ]
    shipped, limit = choose_gate_threshold(scored, [True, True, True, False], 0.5, 0.6)
    assert limit == -1.0 and shipped < limit
    assert all(alerts(s, 0.5, 0.6, shipped) == alerts(s, 0.5, 0.6) for s in scored[:3])
    assert not alerts(scored[1], 0.5, 0.6, -0.5)  # just above the limit the sentence is skipped


def test_the_gate_learns_which_texts_are_crisis_like() -> None:
    texts = ["藥都買好了", "藥準備好了", "今天天氣很好", "午餐吃什麼"] * 3
    crisis = np.array([True, True, False, False] * 3)
    weights, bias = fit_gate(texts, crisis)
    assert np.array_equal(weights, fit_gate(texts, crisis)[0])  # deterministic
    from hotline.screening_gate import DIM

    gate = Gate(weights, bias, DIM, 0.0)
    low, high = gate.scores(["今天天氣很好"])[0], gate.scores(["藥都買好了"])[0]
    assert high > 0 > low


def word_reader(crisis_logit: float, none_bias: float = 0.0) -> CharHead:
    """A character n-gram reader that knows one gram, 藥, and scores it toward suicide.plan."""
    weights = np.zeros((1, len(CLASSES)), np.float32)
    weights[0, CLASSES.index("suicide.plan")] = crisis_logit
    bias = np.zeros(len(CLASSES), np.float32)
    bias[CLASSES.index("none")] = none_bias
    return CharHead(Vocabulary({"藥": 0}), np.ones(1, np.float32), weights, bias)


def test_the_character_reader_is_blended_by_its_share() -> None:
    reader = word_reader(8.0)
    blended = LearnedLayer(WordEncoder(), dataclasses.replace(head(), chars=reader, chars_share=0.5))
    verdict = blended.judge([("他又打我", ())])[0]
    alone = LearnedLayer(WordEncoder(), head()).judge([("他又打我", ())])[0]
    # the encoder says violence.home; the reader knows no gram of it: its crisis share is 2 of 4 classes
    assert verdict.whole == pytest.approx(0.5 * alone.whole + 0.5 * 0.5, abs=1e-5)
    assert blended.screen("藥都買好了").cues == ("learned.plan",)


def test_what_the_reader_scores_far_below_a_crisis_skips_the_encoder() -> None:
    encoder = WordEncoder()
    gate = float(np.log(0.2 / 0.8))
    reader = word_reader(8.0, none_bias=4.0)  # a text without 藥: crisis 2 / (2 + e^4 + 1) ≈ 0.035
    cascade = LearnedLayer(
        encoder, dataclasses.replace(head(), chars=reader, chars_share=0.5, chars_gate=gate)
    )
    assert cascade.screen("藥都買好了").is_crisis  # the reader scores it high: encoded, blended, alerts
    assert encoder.calls == [["藥都買好了"]]
    assert cascade.screen("他又打我") is NO_RISK  # not encoded: the reader's own low probabilities stand
    assert encoder.calls == [["藥都買好了"]]
    everything = LearnedLayer(WordEncoder(), dataclasses.replace(head(), chars=reader, chars_share=0.5))
    assert everything.screen("他又打我").is_crisis  # encoded, the encoder's violence.home carries it


def test_a_reader_gate_that_would_let_an_unencoded_fragment_alert_is_refused() -> None:
    with pytest.raises(ValueError, match="gate"):
        dataclasses.replace(head(whole=0.5), chars=word_reader(8.0), chars_share=0.5, chars_gate=0.5)
