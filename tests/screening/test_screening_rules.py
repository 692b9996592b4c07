"""Risk rules: roles, idioms and negations, contexts, hints, cue ids, layers, lexicon validation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from hotline.domain import NO_RISK, Risk, Screening
from hotline.screening import LexiconError, Screener, merge
from hotline.screening_loader import DEFAULT_CONFIG_DIR, load_screener


def small(*entries: Mapping[str, Any]) -> Screener:
    return Screener.from_mapping({"entry": list(entries)}, s2t={"杀": "殺"})


def test_cues_are_sorted_stable_ids(screener: Screener) -> None:
    result = screener.screen("我真的撐不下去了，今晚想從頂樓跳下去")
    assert result == Screening(
        Risk.IMMINENT,
        ("distress.cope", "place.height", "suicide.method.jump", "time.tonight"),
    )
    assert list(result.cues) == sorted(set(result.cues))


def test_blank_and_harmless_text_is_no_risk(screener: Screener) -> None:
    assert screener.screen("") is NO_RISK
    assert screener.screen("   ") is NO_RISK
    assert screener.screen("明天要開會，記得帶資料") is NO_RISK


@pytest.mark.parametrize(
    ("text", "risk"),
    [
        ("我想死", Risk.ELEVATED),  # intent alone
        ("我今晚想死", Risk.IMMINENT),  # intent + time
        ("藥已經準備好了", Risk.ELEVATED),  # plan alone
        ("藥已經準備好了，今晚", Risk.IMMINENT),  # plan + time
        ("我存了很多安眠藥", Risk.ELEVATED),  # the means inside the plan phrase is not a second cue
        ("我已經吞了一整罐", Risk.IMMINENT),  # entry with level = imminent
        ("他拿刀說要殺我", Risk.IMMINENT),  # danger from others
        ("今晚去頂樓烤肉", Risk.NONE),  # concrete details alone never alert
        ("安眠藥可以跟感冒藥一起吃嗎", Risk.NONE),  # interaction question
        ("吃幾顆會死", Risk.ELEVATED),  # lethality question
        ("安眠藥吃幾顆會死", Risk.IMMINENT),  # lethality question + a named means
    ],
)
def test_risk_levels(screener: Screener, text: str, risk: Risk) -> None:
    assert screener.screen(text).risk is risk


@pytest.mark.parametrize(
    "text",
    [
        "我不想死，只是很累",  # negation covers 想死
        "我沒有想自殺",
        "如有自殺念頭請撥1925",  # quoted prevention notice
        "他說「如有自殺念頭請撥1925」",
        "公司貼了自殺防治海報",
        "新聞說有人燒炭",  # context silences a bare method
        "我是警察，今天處理一件跳樓案件",
        "累死了",
        "想死你了",
        "殺價殺了好久",
        "I'm dying to see it",
        "明天要去跳傘，從飛機上跳下去",  # sport is a context
        "今天是他的忌日，他去年自殺走了",  # grief is a context
        "老狗今天要去安樂死了",  # euthanasia of a pet is no mention
        "I'm giving away my old bike before the move",
        "下班後躲在廁所哭了一下",  # crying in hiding is distress at most, no danger
        "The self-harm chapters of that book club pick are brutal",
    ],
)
def test_quiet_phrases(screener: Screener, text: str) -> None:
    assert screener.screen(text) is NO_RISK


@pytest.mark.parametrize(
    "text",
    [
        "我沒有想死，但是活著好痛苦",  # a negation silences only the words it covers
        "新聞說有人燒炭，我也好想死",  # a context never silences an intent
        "我打過1925了，沒用，我還是想跳樓",
        "笑死，不過我真的不想活了",  # a cue after a joke
        "我想死 開玩笑的啦",  # "just kidding" does not cancel
        "我同事說他想死",  # third party
        "他的忌日快到了，我也想去陪他",  # grief silences no intent
        "I'm giving away my cat, she deserves someone who'll be around",
        "He has been self harming again",
    ],
)
def test_silencing_is_local(screener: Screener, text: str) -> None:
    assert screener.screen(text).risk is not Risk.NONE


def test_third_party_flag_is_a_cue(screener: Screener) -> None:
    assert "thirdparty.colleague" in screener.screen("我同事說他想死").cues
    assert screener.screen("我同事說這裡的心理師很專業") is NO_RISK


def test_hints_alert_only_in_pairs_and_not_at_retirement(screener: Screener) -> None:
    assert screener.screen("謝謝大家這些年的照顧") is NO_RISK
    assert screener.screen("謝謝大家這些年的照顧，大家保重").risk is Risk.ELEVATED
    assert screener.screen("謝謝大家這些年的照顧，大家保重，我下個月退休") is NO_RISK


def test_message_end_is_screened_in_a_long_message(screener: Screener) -> None:
    text = "今天的會議開得很久，" * 500 + "我真的不想活了"
    assert screener.screen(text).risk is Risk.ELEVATED


def test_layers_may_only_add() -> None:
    class Alarmist:
        def screen(self, text: str) -> Screening:
            return Screening(Risk.IMMINENT, ("model.second_opinion",))

    class Silent:
        def screen(self, text: str) -> Screening:
            return NO_RISK

    base = small({"id": "suicide.wish.die", "role": "intent", "patterns": ["想死"]})
    assert base.with_layers(Silent()).screen("想死") == Screening(Risk.ELEVATED, ("suicide.wish.die",))
    assert base.with_layers(Alarmist()).screen("想死") == Screening(
        Risk.IMMINENT, ("model.second_opinion", "suicide.wish.die")
    )
    assert base.with_layers(Alarmist()).screen("你好").risk is Risk.IMMINENT
    assert base.screen("你好") is NO_RISK  # the original is unchanged


def test_heavy_distress_alone_is_distress_and_with_danger_a_crisis(screener: Screener) -> None:
    assert screener.screen("照顧媽媽三年了，我真的撐不下去了") == Screening(Risk.DISTRESS, ("distress.cope",))
    assert not screener.screen("每天都在哭，快崩潰了").is_crisis
    assert screener.screen("每天都在哭，快崩潰了").risk is Risk.DISTRESS
    assert screener.screen("我撐不下去了，藥已經準備好了").is_crisis


def test_merge_never_lowers() -> None:
    high = Screening(Risk.IMMINENT, ("a.b",))
    assert merge(high, NO_RISK) == high
    assert merge(NO_RISK, high) == high
    assert merge(high, Screening(Risk.ELEVATED, ("c.d", "a.b"))) == Screening(Risk.IMMINENT, ("a.b", "c.d"))
    distress = Screening(Risk.DISTRESS, ("learned.distress",))
    assert merge(NO_RISK, distress) == distress
    assert merge(distress, high) == Screening(Risk.IMMINENT, ("a.b", "learned.distress"))
    assert not distress.is_crisis


def test_idiom_silences_only_what_it_contains() -> None:
    screener = small(
        {"id": "kill.threat", "role": "intent", "patterns": ["殺了他"]},
        {"id": "idiom.game", "role": "idiom", "patterns": ["遊戲裡殺了他"]},
    )
    assert screener.screen("我在遊戲裡殺了他") is NO_RISK
    assert screener.screen("我想殺了他") == Screening(Risk.ELEVATED, ("kill.threat",))
    assert screener.screen("我想杀了他").risk is Risk.ELEVATED  # the s2t table given to the screener


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "at least one"),
        ({"entry": [{"id": "Bad Id", "role": "intent", "patterns": ["x"]}]}, "id must look like"),
        ({"entry": [{"id": "a.b", "role": "wish", "patterns": ["x"]}]}, "role must be one of"),
        ({"entry": [{"id": "a.b", "role": "intent", "patterns": []}]}, "patterns must be"),
        ({"entry": [{"id": "a.b", "role": "intent", "patterns": "想死"}]}, "patterns must be"),
        ({"entry": [{"id": "a.b", "role": "time", "level": "imminent", "patterns": ["x"]}]}, "only alerting"),
        ({"entry": [{"id": "a.b", "role": "intent", "patterns": ["x"], "colour": 1}]}, "unknown keys"),
        (
            {"entry": [{"id": "a.b", "role": "intent", "patterns": ["x"]}] * 2},
            "duplicate id",
        ),
        (
            {
                "entry": [
                    {"id": "a.b", "role": "intent", "patterns": ["自殺"]},
                    {"id": "a.c", "role": "mention", "patterns": ["自 殺"]},
                ]
            },
            "already belongs to 'a.b'",
        ),
        ({"entry": [{"id": "a.b", "role": "intent", "patterns": ["..."]}]}, "empty once normalised"),
    ],
)
def test_lexicon_errors_name_the_entry(data: Mapping[str, Any], message: str) -> None:
    with pytest.raises(LexiconError, match=message):
        Screener.from_mapping(data, s2t={})


def test_loader_default_is_cached_and_reads_config() -> None:
    assert load_screener() is load_screener()
    assert (DEFAULT_CONFIG_DIR / "crisis_lexicon.toml").is_file()


def test_loader_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(LexiconError, match="cannot read"):
        load_screener(tmp_path)
    bad = tmp_path / "crisis_lexicon.toml"
    bad.write_text("[[entry]\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="not valid TOML"):
        load_screener(tmp_path)
    bad.write_text('[[entry]]\nid = "a.b"\nrole = "intent"\n', encoding="utf-8")
    with pytest.raises(LexiconError, match=r"crisis_lexicon\.toml: entry 'a\.b'"):
        load_screener(bad)
    bad.write_text('[[entry]]\nid = "a.b"\nrole = "intent"\npatterns = ["想死"]\n', encoding="utf-8")
    assert load_screener(bad).screen("想死").cues == ("a.b",)


FRAMED = (
    {"id": "suicide.intent", "role": "intent", "patterns": ["想死"]},
    {"id": "suicide.plan.done", "role": "plan", "patterns": ["藥準備好了"]},
    {"id": "suicide.plan.taken", "role": "intent", "level": "imminent", "patterns": ["吞了一整罐"]},
    {"id": "frame.casework", "role": "frame", "patterns": ["個案"]},
    {"id": "own.wish", "role": "own", "patterns": ["換我"]},
)


@pytest.mark.parametrize(
    ("text", "risk"),
    [
        ("個案說她想死，我已經轉介了", Risk.NONE),  # a frame silences intent in its own sentence
        ("個案說她想死。現在換我想死了", Risk.ELEVATED),  # the writer's own wish, in another sentence
        ("個案很多，換我想死了", Risk.ELEVATED),  # `own` in the frame's sentence: nothing is silenced
        ("今天看了很多個案。我想死", Risk.ELEVATED),  # a frame reaches only its own sentence
        ("個案說藥準備好了", Risk.ELEVATED),  # a frame never silences a plan
        ("個案說他吞了一整罐", Risk.IMMINENT),  # nor an entry of level imminent
        # quoted words in a framed sentence are someone else's: an `own` inside quotes does not count
        ("個案課程會教「換我想死」這類話怎麼回應", Risk.NONE),
        ('個案課程會教 "換我想死" 這類話怎麼回應', Risk.NONE),
        ("個案課程教的「那些話」，換我想死了", Risk.ELEVATED),  # `own` outside the quotes still counts
    ],
)
def test_frames_silence_only_their_sentence(text: str, risk: Risk) -> None:
    assert small(*FRAMED).screen(text).risk is risk
