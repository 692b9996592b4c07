"""The survey flow, pure: optional answers, one invitation per case, nothing stored that links back."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hotline.flows import survey
from hotline.flows.survey import (
    AnswerEffect,
    Commented,
    DiscardToken,
    Expired,
    InviteSurvey,
    IssueToken,
    MarkCaseInvited,
    Rated,
    Recommended,
    Skipped,
    Stopped,
    StoreSurveyAnswer,
    SurveyEvent,
    SurveyState,
    step,
)
from hotline.flows.vocabulary import Reply

TAIPEI = ZoneInfo("Asia/Taipei")
FRESH = SurveyState("telegram", "2026-03")
ROOT = Path(__file__).resolve().parents[2]


def run(*events: SurveyEvent, state: SurveyState = FRESH) -> tuple[SurveyState, list[AnswerEffect]]:
    effects: list[AnswerEffect] = []
    for event in events:
        state, effects = step(state, event)
    return state, effects


def keys(effects: list[AnswerEffect]) -> list[str]:
    return [e.key for e in effects if isinstance(e, Reply)]


def stored(effects: list[AnswerEffect]) -> list[StoreSurveyAnswer]:
    return [e for e in effects if isinstance(e, StoreSurveyAnswer)]


def test_full_answer() -> None:
    state, effects = run(Rated(4))
    assert state.name == "recommend" and state.rating == 4 and keys(effects) == ["survey.ask_recommend"]
    state, effects = step(state, Recommended(True))
    assert state.name == "comment" and keys(effects) == ["survey.ask_comment"]
    state, effects = step(state, Commented("  心理師很有耐心  "))
    assert state.name == "done"
    assert stored(effects) == [StoreSurveyAnswer("telegram", "2026-03", 4, True, "心理師很有耐心")]
    assert DiscardToken() in effects and keys(effects) == ["survey.thanks"]


def test_every_question_can_be_skipped() -> None:
    state, effects = run(Skipped(), Skipped(), Skipped())
    assert state.name == "done" and stored(effects) == [] and DiscardToken() in effects
    assert keys(effects) == ["survey.no_thanks"]
    _, effects = run(Skipped(), Recommended(False), Commented("   "))
    assert stored(effects) == [StoreSurveyAnswer("telegram", "2026-03", None, False, None)]


@pytest.mark.parametrize("end", [Stopped(), Expired()])
def test_stopping_or_abandoning_keeps_what_was_answered(end: SurveyEvent) -> None:
    state, effects = run(Rated(2), end)
    assert state.name == "done"
    assert stored(effects) == [StoreSurveyAnswer("telegram", "2026-03", 2, None, None)]
    assert keys(effects) == ([] if isinstance(end, Expired) else ["survey.thanks"])
    _, effects = run(end)
    assert stored(effects) == [] and effects[0] == DiscardToken()


def test_long_comments_are_cut() -> None:
    _, effects = run(Commented("好" * 5000), state=dataclasses.replace(FRESH, name="comment"))
    answer = stored(effects)[0]
    assert answer.comment is not None and len(answer.comment) == survey.MAX_COMMENT


# (state, event type) -> next state; anything else stays put with a stale or already-done reply
EXPECTED: dict[tuple[str, type], str] = {
    ("rating", Rated): "recommend",
    ("rating", Skipped): "recommend",
    ("recommend", Recommended): "comment",
    ("recommend", Skipped): "comment",
    ("comment", Commented): "done",
    ("comment", Skipped): "done",
    **{(name, kind): "done" for name in ("rating", "recommend", "comment") for kind in (Stopped, Expired)},
}
EVENTS: list[SurveyEvent] = [Rated(5), Recommended(True), Commented("x"), Skipped(), Stopped(), Expired()]


@pytest.mark.parametrize("name", survey.STATES)
@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_state_and_event(name: str, event: SurveyEvent) -> None:
    state = dataclasses.replace(FRESH, name=name)
    after, effects = step(state, event)
    assert after.name == EXPECTED.get((name, type(event)), name)
    if (name, type(event)) in EXPECTED:
        return
    assert after == state
    if name == "done":
        assert keys(effects) == ([] if isinstance(event, Expired) else ["survey.already_done"])
    else:
        assert keys(effects)[0] == "survey.stale" and len(keys(effects)) == 2  # and the question again


@pytest.mark.parametrize("stars", [0, 6, -1])
def test_invalid_rating_is_stale(stars: int) -> None:
    state, effects = run(Rated(stars))
    assert state == FRESH and keys(effects) == ["survey.stale", "survey.ask_rating"]


def test_answered_twice_is_impossible() -> None:
    state, _ = run(Rated(5), Skipped(), Skipped())
    for event in EVENTS:
        again, effects = step(state, event)
        assert again == state and stored(effects) == [] and DiscardToken() not in effects


def test_one_invitation_per_case() -> None:
    ended = datetime(2026, 3, 31, 23, 30, tzinfo=TAIPEI)
    event = InviteSurvey("email", ended)
    effects = survey.invite(False, event)
    assert effects == [MarkCaseInvited(), IssueToken(SurveyState("email", "2026-03"))]
    assert survey.invite(True, event) == []
    with pytest.raises(ValueError, match="channel"):
        survey.invite(False, InviteSurvey("fax", ended))


def test_month_is_taken_in_taipei() -> None:
    assert survey.month_of(datetime(2026, 3, 31, 16, 30, tzinfo=ZoneInfo("UTC"))) == "2026-04"


def test_the_stored_answer_cannot_point_back() -> None:
    """The schema argument in code: the answer has exactly these fields, the finest time is a month."""
    fields = {f.name for f in dataclasses.fields(StoreSurveyAnswer)}
    assert fields == {"channel", "month", "rating", "recommend", "comment"}
    state_fields = {f.name for f in dataclasses.fields(SurveyState)}
    assert state_fields == {"channel", "month", "name", "rating", "recommend"}
    for name in ("case", "employee", "code", "token", "_at", "_id", "time", "date"):
        assert not any(name in f for f in fields | state_fields), name
    assert re.fullmatch(r"\d{4}-\d{2}", FRESH.month)


def test_token_hash() -> None:
    digest = survey.hash_token("abc")
    assert len(digest) == 64 and digest != "abc" and digest == survey.hash_token("abc")


def test_buttons_map_back_to_events() -> None:
    for button in (*survey.RATING_BUTTONS, *survey.RECOMMEND_BUTTONS):
        assert survey.event_for_button(button.data) is not None
    assert survey.event_for_button("sv:rate:3") == Rated(3)
    assert survey.event_for_button(survey.RECOMMEND_NO) == Recommended(False)
    assert survey.event_for_button("sv:rate:x") is None
    assert survey.event_for_button("bk:confirm") is None


def test_every_message_key_exists() -> None:
    data = tomllib.loads((ROOT / "config" / "messages.booking.zh-TW.toml").read_text(encoding="utf-8"))
    source = (ROOT / "hotline" / "flows" / "survey.py").read_text(encoding="utf-8")
    for key in set(re.findall(r'"survey\.([a-z_]+)"', source)):
        assert key in data["survey"], key
    for button in (*survey.RATING_BUTTONS, *survey.RECOMMEND_BUTTONS):
        assert button.key.removeprefix("survey.button.") in data["survey"]["button"]
