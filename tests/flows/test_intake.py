"""The intake flow, pure: every state against every kind of event."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from hotline.domain import NO_RISK, Category, Outcome, Risk, Screening
from hotline.flows import intake
from hotline.flows.intake import STATES, IntakeState, step
from hotline.flows.vocabulary import (
    AlertOnDuty,
    CaseClaimed,
    CaseEnded,
    CaseReleased,
    Command,
    Context,
    Effect,
    Event,
    MarkInbound,
    MarkRisk,
    NotifyCounselor,
    OfferCase,
    OpenCase,
    Pressed,
    QueueCase,
    RecordContact,
    RelayToCounselor,
    Reply,
    Rescreened,
    Said,
    StoreInbound,
    Unsupported,
    WithdrawCase,
)
from hotline.sandbox.stage import OPEN_HOURS

OPEN = Context(OPEN_HOURS, True, OPEN_HOURS, None)
CLOSED = Context(OPEN_HOURS, False, OPEN_HOURS + timedelta(hours=15), None)
CRISIS = Screening(Risk.IMMINENT, ("suicide.method.jump", "time.tonight"))
ELEVATED = Screening(Risk.ELEVATED, ("suicide.passive",))


def keys(effects: list[Effect]) -> list[str]:
    return [e.key for e in effects if isinstance(e, Reply)]


def kinds(effects: list[Effect]) -> list[type]:
    return [type(e) for e in effects]


def run(
    *events: Event, ctx: Context = OPEN, state: IntakeState | None = None
) -> tuple[IntakeState, list[Effect]]:
    current = state or IntakeState()
    effects: list[Effect] = []
    for event in events:
        current, effects = step(current, event, ctx)
    return current, effects


def test_happy_path_in_hours() -> None:
    state, effects = run(Command("start"))
    assert state.name == "consent" and keys(effects) == ["consent.notice"]
    assert [b.data for b in effects[0].buttons] == [intake.ACCEPT, intake.DECLINE]  # type: ignore[union-attr]
    state, effects = step(state, Pressed(intake.ACCEPT), OPEN)
    assert state.name == "area" and len(effects[0].buttons) == 8  # type: ignore[union-attr]
    state, effects = step(state, Pressed("area:work_stress"), OPEN)
    assert state == IntakeState("describe", Category.WORK_STRESS)
    state, effects = step(state, Said("最近壓力很大", NO_RISK), OPEN)
    assert state.name == "queued"
    assert kinds(effects) == [OpenCase, StoreInbound, OfferCase, Reply]
    assert effects[0] == OpenCase(Category.WORK_STRESS)
    assert keys(effects) == ["queued.in_hours"]


def test_out_of_hours_queues_and_says_when() -> None:
    state, effects = run(
        Command("start"), Pressed(intake.ACCEPT), Pressed("area:legal"), Said("問題", NO_RISK), ctx=CLOSED
    )
    assert state.name == "queued"
    assert QueueCase(CLOSED.next_opening) in effects
    assert not any(isinstance(e, OfferCase) for e in effects)
    reply = next(e for e in effects if isinstance(e, Reply))
    assert reply.key == "queued.out_of_hours" and dict(reply.params)["opens_at"] == CLOSED.next_opening


def test_decline_records_only_the_fact() -> None:
    state, effects = run(Command("start"), Pressed(intake.DECLINE))
    assert state == IntakeState("idle")
    assert effects == [RecordContact("consent_declined"), Reply("consent.declined")]


def test_free_text_at_the_door_shows_the_notice() -> None:
    state, effects = run(Said("你好", NO_RISK))
    assert state.name == "consent" and keys(effects) == ["consent.notice"]


@pytest.mark.parametrize("name", ["consent", "area"])
def test_text_where_a_button_is_expected(name: str) -> None:
    state, effects = run(Said("嗯", NO_RISK), state=IntakeState(name))
    assert state.name == name
    assert keys(effects)[0] == "input.use_buttons" and len(keys(effects)) == 2


@pytest.mark.parametrize("name", STATES)
def test_every_state_answers_help_unknown_and_stickers(name: str) -> None:
    for event in (Command("help"), Command("frobnicate"), Unsupported("sticker")):
        state, effects = run(event, state=IntakeState(name, Category.LEGAL))
        assert state.name == name, event
        assert keys(effects), f"silence in {name} for {event}"


@pytest.mark.parametrize("name", STATES)
def test_stale_buttons_are_explained(name: str) -> None:
    for data in (intake.ACCEPT, intake.DECLINE, "area:legal", "area:nonsense", "garbage"):
        state, effects = run(Pressed(data), state=IntakeState(name))
        if (name, data) in {
            ("consent", intake.ACCEPT),
            ("consent", intake.DECLINE),
            ("idle", intake.ACCEPT),
            ("idle", intake.DECLINE),
            ("area", "area:legal"),
        }:
            continue
        assert state.name == name, (name, data)
        assert keys(effects)[0] == "input.stale_button", (name, data)


@pytest.mark.parametrize(
    ("name", "after", "expected"),
    [
        ("idle", "idle", ["cancel.nothing"]),
        ("consent", "idle", ["cancel.done"]),
        ("area", "idle", ["cancel.done"]),
        ("describe", "idle", ["cancel.done"]),
        ("queued", "idle", ["cancel.case_withdrawn"]),
        ("connected", "idle", ["cancel.left_session"]),
    ],
)
def test_cancel_always_works(name: str, after: str, expected: list[str]) -> None:
    state, effects = run(Command("cancel"), state=IntakeState(name, Category.LEGAL))
    assert state.name == after and keys(effects) == expected
    if name == "queued":
        assert WithdrawCase() in effects
    if name == "connected":
        assert NotifyCounselor("counselor.employee_left") in effects


@pytest.mark.parametrize("name", ["area", "describe", "queued", "connected"])
def test_start_mid_conversation_repeats_the_prompt(name: str) -> None:
    state, effects = run(Command("start"), state=IntakeState(name))
    assert state.name == name and keys(effects)


def test_messages_in_a_case() -> None:
    _, effects = run(Said("補充", NO_RISK), state=IntakeState("queued"))
    assert kinds(effects) == [StoreInbound, Reply] and keys(effects) == ["queued.received"]
    _, effects = run(Said("謝謝", NO_RISK), state=IntakeState("connected"))
    assert kinds(effects) == [StoreInbound, RelayToCounselor]
    _, effects = run(Unsupported("photo"), state=IntakeState("connected"))
    assert keys(effects) == ["input.unsupported_connected"]


def test_counselor_side_events() -> None:
    state, effects = run(CaseClaimed(), state=IntakeState("queued"))
    assert state.name == "connected" and keys(effects) == ["case.claimed"]
    state, effects = run(CaseReleased(), state=IntakeState("connected"))
    assert state.name == "queued" and keys(effects) == ["case.transferred"]
    for outcome in Outcome:
        state, effects = run(CaseEnded(outcome), state=IntakeState("connected", Category.LEGAL))
        assert state == IntakeState("idle") and keys(effects) == [f"case.ended.{outcome.value}"]
    # Events that do not apply are ignored, never crash.
    state, effects = run(CaseClaimed(), state=IntakeState("idle"))
    assert state.name == "idle" and effects == []


@pytest.mark.parametrize("name", STATES)
@pytest.mark.parametrize("screening", [CRISIS, ELEVATED])
def test_crisis_in_every_state(name: str, screening: Screening) -> None:
    text = "我今晚想從頂樓跳下去"
    state, effects = run(
        Said(text, screening), state=IntakeState(name, Category.FAMILY if name == "describe" else None)
    )
    expected_key = "crisis.imminent" if screening.risk is Risk.IMMINENT else "crisis.elevated"
    assert keys(effects)[0] == expected_key, "the crisis reply comes first"
    assert AlertOnDuty(screening, text) in effects
    assert MarkRisk(screening) in effects
    assert StoreInbound(text, screening) in effects
    opened = [e for e in effects if isinstance(e, OpenCase)]
    if name in intake.PRE_CASE:
        assert opened == [OpenCase(Category.FAMILY if name == "describe" else None)]
        assert state.name == "queued"
    else:
        assert opened == [] and state.name == name
    assert (RelayToCounselor(text) in effects) == (name == "connected")


DISTRESS = Screening(Risk.DISTRESS, ("learned.distress",))


@pytest.mark.parametrize("name", STATES)
def test_a_late_crisis_verdict_takes_the_crisis_path_without_keeping_the_text_twice(name: str) -> None:
    """The learned verdict came after the text was answered (as ``Said`` on the lexicon's screening): the
    crisis path runs for that text. Where its ``Said`` left it in a case, the text is there (and was
    relayed): it is marked, not kept or relayed again; before a case, the case opens with it."""
    text = "之後大家就不用再為我操心了"
    category = Category.FAMILY if name == "describe" else None
    early, _ = run(Said(text, NO_RISK), state=IntakeState(name, category))
    state, effects = run(Rescreened(text, ELEVATED), state=early)
    assert keys(effects)[0] == "crisis.elevated", "the crisis reply comes first"
    assert MarkRisk(ELEVATED) in effects and AlertOnDuty(ELEVATED, text) in effects
    assert RelayToCounselor(text) not in effects
    if early.name in intake.IN_CASE:
        assert MarkInbound(ELEVATED) in effects and not any(isinstance(e, StoreInbound) for e in effects)
        assert not any(isinstance(e, OpenCase) for e in effects) and state.name == early.name
    else:
        assert OpenCase(category) in effects and StoreInbound(text, ELEVATED) in effects
        assert state.name == "queued"


@pytest.mark.parametrize("name", STATES)
def test_a_late_distress_verdict_marks_a_kept_text_and_nothing_else(name: str) -> None:
    text = "每天都在哭，快撐不下去了"
    state, effects = run(Rescreened(text, DISTRESS), state=IntakeState(name))
    assert state.name == name
    if name in intake.IN_CASE:
        assert effects == [MarkInbound(DISTRESS), MarkRisk(DISTRESS)], "the case goes first in the queue"
    else:
        assert effects == [], "outside a case nothing was kept, and heavy distress opens none"


def test_step_is_reentrant_free() -> None:
    """The shared machine model carries nothing from one step to the next."""
    first = step(IntakeState("describe", Category.LEGAL), Said("a", NO_RISK), OPEN)
    second = step(IntakeState("describe", Category.MEDICAL), Said("a", NO_RISK), OPEN)
    assert first[1][0] == OpenCase(Category.LEGAL) and second[1][0] == OpenCase(Category.MEDICAL)
    assert step(IntakeState(), Command("start"), CLOSED)[0].name == "consent"


def test_context_time_is_not_read_from_the_clock() -> None:
    late = Context(
        datetime(2030, 1, 1, tzinfo=OPEN_HOURS.tzinfo), False, datetime(2030, 1, 2, tzinfo=OPEN_HOURS.tzinfo)
    )
    _, effects = run(Said("x", NO_RISK), ctx=late, state=IntakeState("describe"))
    assert QueueCase(late.next_opening) in effects


@pytest.mark.parametrize("name", STATES)
def test_the_employees_rights_in_every_state(name: str) -> None:
    from hotline.flows.vocabulary import ForgetMe, ShowMyData

    state, effects = run(Command("mydata"), state=IntakeState(name, Category.LEGAL))
    assert state.name == name and effects == [ShowMyData()]
    state, effects = run(Command("forget"), state=IntakeState(name, Category.LEGAL))
    assert state.name == name and keys(effects) == ["forget.explain"]
    assert [b.data for b in effects[0].buttons] == [intake.FORGET, intake.KEEP]  # type: ignore[union-attr]
    state, effects = run(Pressed(intake.KEEP), state=IntakeState(name, Category.LEGAL))
    assert state.name == name and keys(effects)[0] == "forget.kept"
    state, effects = run(Pressed(intake.FORGET), state=IntakeState(name, Category.LEGAL))
    assert state == IntakeState("idle") and effects == [ForgetMe()]
