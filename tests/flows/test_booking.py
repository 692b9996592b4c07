"""The booking flow, pure: the seeds' rules at their edges, and every state against every event."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hotline.domain import Category
from hotline.flows import booking, booking_vocab
from hotline.flows import booking_rules as rules
from hotline.flows.booking import step
from hotline.flows.booking_rules import SlotProblem
from hotline.flows.booking_vocab import (
    AcceptSelfPay,
    BookingContext,
    BookingEffect,
    BookingEvent,
    BookingState,
    CancelReminder,
    Confirm,
    CounselorCancel,
    Decline,
    EmployeeCancel,
    GiveConsent,
    HoldFailed,
    HoldSlot,
    KeepPrivateReason,
    MarkAttended,
    MarkNoShow,
    OfferFreeSlots,
    RecordNoShow,
    RefuseConsent,
    RefuseSelfPay,
    ReleaseSlot,
    ReminderDue,
    RevealIdentity,
    ScheduleReminder,
    Slot,
    SlotChosen,
    TellCounselor,
    TellEmployee,
)
from hotline.flows.survey import InviteSurvey

TAIPEI = ZoneInfo("Asia/Taipei")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=TAIPEI)
START = datetime(2026, 3, 10, 18, 30, tzinfo=TAIPEI)  # after hours: allowed
SLOT = Slot(7, 9001, START, 60, "台北市政府 員工協談室")
CTX = BookingContext(NOW, used_minutes=0, free_hours_per_year=4, cancel_min_hours=24, remind_hours=(24, 2))
CONSENT_AT = NOW
REQUESTED = BookingState("requested", SLOT, Category.FAMILY, 0, CONSENT_AT)
CONFIRMED = BookingState("confirmed", SLOT, Category.FAMILY, 0, CONSENT_AT)
ROOT = Path(__file__).resolve().parents[2]


def at(moment: datetime, **changes: int) -> BookingContext:
    return BookingContext(
        moment,
        used_minutes=changes.get("used_minutes", 0),
        free_hours_per_year=changes.get("free_hours_per_year", 4),
        cancel_min_hours=changes.get("cancel_min_hours", 24),
    )


def employee_keys(effects: list[BookingEffect]) -> list[str]:
    return [e.key for e in effects if isinstance(e, TellEmployee)]


def counselor_keys(effects: list[BookingEffect]) -> list[str]:
    return [e.key for e in effects if isinstance(e, TellCounselor)]


def run(
    state: BookingState, *events: BookingEvent, ctx: BookingContext = CTX
) -> tuple[BookingState, list[BookingEffect]]:
    effects: list[BookingEffect] = []
    for event in events:
        state, effects = step(state, event, ctx)
    return state, effects


# ---- the happy path -------------------------------------------------------------------------------


def test_choose_consent_request_confirm_remind_attend() -> None:
    state, effects = run(booking.new_booking(Category.FAMILY), SlotChosen(SLOT))
    assert state.name == "consent" and employee_keys(effects) == ["booking.consent"]
    state, effects = step(state, GiveConsent(), CTX)
    assert state.name == "requested" and state.consent_at == NOW
    assert HoldSlot(SLOT.id) in effects
    assert counselor_keys(effects) == ["booking.counselor.request"]
    request = next(e for e in effects if isinstance(e, TellCounselor))
    assert [b.data for b in request.buttons] == [booking_vocab.CONFIRM, booking_vocab.DECLINE]
    assert not any(isinstance(e, RevealIdentity) for e in effects), "no identity before confirmation"

    state, effects = step(state, Confirm(), CTX)
    assert state.name == "confirmed"
    assert RevealIdentity(9001, NOW) in effects
    assert ScheduleReminder(START - timedelta(days=1)) in effects  # NOW is 8 days before START
    assert employee_keys(effects) == ["booking.confirmed"] and counselor_keys(effects) == [
        "booking.counselor.confirmed"
    ]

    state, effects = step(state, ReminderDue(), CTX)
    assert state.name == "confirmed"
    assert employee_keys(effects) == ["booking.reminder"] and counselor_keys(effects) == [
        "booking.counselor.reminder"
    ]

    state, effects = step(state, MarkAttended(), at(START + timedelta(minutes=50)))
    assert state.name == "attended"
    assert InviteSurvey("face_to_face", START + timedelta(minutes=50)) in effects


def test_confirmation_text_says_no_recording_without_consent() -> None:
    texts = tomllib.loads((ROOT / "config" / "messages.booking.zh-TW.toml").read_text(encoding="utf-8"))
    confirmed = texts["booking"]["confirmed"]
    assert "不錄音" in confirmed and "同意" in confirmed


def promises(effects: list[BookingEffect]) -> tuple[TellEmployee, list[ScheduleReminder]]:
    told = next(e for e in effects if isinstance(e, TellEmployee))
    return told, [e for e in effects if isinstance(e, ScheduleReminder)]


def test_the_confirmation_promises_exactly_what_is_scheduled() -> None:
    """Issue 17: a promise is kept. Two days ahead: the reminder the day before, cancelling until then."""
    told, scheduled = promises(run(REQUESTED, Confirm(), ctx=at(START - timedelta(days=2)))[1])
    assert told.key == "booking.confirmed"
    assert told.lines == ("booking.confirmed_cancel", "booking.confirmed_remind")
    params = dict(told.params)
    assert scheduled == [ScheduleReminder(START - timedelta(hours=24))]
    assert params["remind_at"] == START - timedelta(hours=24) and params["remind_hours"] == 24
    assert params["cancel_by"] == START - timedelta(hours=24) and params["cancel_min_hours"] == 24


def test_a_session_confirmed_5_hours_ahead_is_reminded_2_hours_before() -> None:
    told, scheduled = promises(run(REQUESTED, Confirm(), ctx=at(START - timedelta(hours=5)))[1])
    assert scheduled == [ScheduleReminder(START - timedelta(hours=2))]
    assert told.lines == ("booking.confirmed_cancel_closed", "booking.confirmed_remind")
    assert dict(told.params)["remind_at"] == START - timedelta(hours=2)


def test_a_session_confirmed_within_the_last_lead_promises_no_reminder() -> None:
    told, scheduled = promises(run(REQUESTED, Confirm(), ctx=at(START - timedelta(hours=1)))[1])
    assert scheduled == []
    assert told.lines == ("booking.confirmed_cancel_closed", "booking.confirmed_no_remind")
    assert "remind_at" not in dict(told.params)


def test_reminder_plan_takes_the_longest_lead_still_ahead() -> None:
    leads = (2, 24, 24)
    assert rules.reminder_plan(START, START - timedelta(hours=30), leads) == (
        START - timedelta(hours=24),
        24,
    )
    assert rules.reminder_plan(START, START - timedelta(hours=24), leads) == (START - timedelta(hours=2), 2)
    assert rules.reminder_plan(START, START - timedelta(hours=2), leads) is None


def test_confirming_a_slot_that_has_passed_is_refused() -> None:
    state, effects = run(REQUESTED, Confirm(), ctx=at(START))
    assert state == REQUESTED and counselor_keys(effects) == ["booking.counselor.slot_passed"]


# ---- quota ------------------------------------------------------------------------------------------


def test_quota_edge_exactly_four_hours_is_still_free() -> None:
    state, effects = run(BookingState(), SlotChosen(SLOT), ctx=at(NOW, used_minutes=180))
    assert state.name == "consent" and state.paid_minutes == 0
    assert employee_keys(effects) == ["booking.consent"]


def test_past_the_quota_the_employee_is_told_before_booking() -> None:
    state, effects = run(BookingState(), SlotChosen(SLOT), ctx=at(NOW, used_minutes=210))
    assert state.name == "self_pay" and state.paid_minutes == 30
    told = next(e for e in effects if isinstance(e, TellEmployee))
    assert told.key == "booking.self_pay" and dict(told.params)["paid_hours"] == "0.5"
    assert not any(isinstance(e, HoldSlot | TellCounselor) for e in effects), "nothing sent before accepting"
    state, effects = step(state, AcceptSelfPay(), CTX)
    assert state.name == "consent" and state.paid_minutes == 30
    state, effects = step(state, GiveConsent(), CTX)
    request = next(e for e in effects if isinstance(e, TellCounselor))
    assert dict(request.params)["paid_hours"] == "0.5"


def test_taipei_six_free_hours() -> None:
    state, _ = run(BookingState(), SlotChosen(SLOT), ctx=at(NOW, used_minutes=300, free_hours_per_year=6))
    assert state.name == "consent"
    state, _ = run(BookingState(), SlotChosen(SLOT), ctx=at(NOW, used_minutes=301, free_hours_per_year=6))
    assert state.name == "self_pay" and state.paid_minutes == 1


def test_refusing_self_pay_or_consent_sends_nothing() -> None:
    for state, event in (
        (BookingState("self_pay", SLOT, paid_minutes=60), RefuseSelfPay()),
        (BookingState("consent", SLOT), RefuseConsent()),
    ):
        after, effects = run(state, event)
        assert after.name == "choosing" and after.slot is None and after.paid_minutes == 0
        assert OfferFreeSlots() in effects
        assert not any(isinstance(e, HoldSlot | TellCounselor) for e in effects)


@pytest.mark.parametrize(
    ("used", "minutes", "free", "paid"),
    [(0, 60, 4, 0), (180, 60, 4, 0), (181, 60, 4, 1), (240, 90, 4, 90), (400, 60, 4, 60), (300, 60, 6, 0)],
)
def test_self_paid_minutes(used: int, minutes: int, free: int, paid: int) -> None:
    assert rules.self_paid_minutes(used, minutes, free) == paid


def test_counted_minutes_by_calendar_year_in_taipei() -> None:
    new_year = Slot(
        1, 9001, datetime(2026, 12, 31, 16, 30, tzinfo=ZoneInfo("UTC")), 60, "online"
    )  # 2027 in Taipei
    sessions = [
        ("attended", Slot(2, 9001, datetime(2026, 1, 5, 9, tzinfo=TAIPEI), 60, "online")),
        ("confirmed", Slot(3, 9001, datetime(2026, 2, 5, 9, tzinfo=TAIPEI), 90, "online")),
        ("requested", Slot(4, 9001, datetime(2026, 2, 6, 9, tzinfo=TAIPEI), 30, "online")),
        ("cancelled_by_employee", Slot(5, 9001, datetime(2026, 3, 5, 9, tzinfo=TAIPEI), 60, "online")),
        ("declined", Slot(6, 9001, datetime(2026, 3, 6, 9, tzinfo=TAIPEI), 60, "online")),
        ("cancelled_by_counselor", Slot(8, 9001, datetime(2026, 3, 7, 9, tzinfo=TAIPEI), 60, "online")),
        ("no_show", Slot(9, 9001, datetime(2026, 3, 8, 9, tzinfo=TAIPEI), 60, "online")),
        ("attended", new_year),
    ]
    assert rules.counted_minutes(sessions, 2026) == 180
    assert rules.counted_minutes(sessions, 2027) == 60
    assert rules.quota_year(new_year.start) == 2027


# ---- cancellation -------------------------------------------------------------------------------


def test_employee_cancels_exactly_24_hours_before() -> None:
    state, effects = run(CONFIRMED, EmployeeCancel(), ctx=at(START - timedelta(hours=24)))
    assert state.name == "cancelled_by_employee"
    assert CancelReminder() in effects and ReleaseSlot(SLOT.id) in effects
    assert employee_keys(effects) == ["booking.cancelled"] and counselor_keys(effects) == [
        "booking.counselor.withdrawn"
    ]


def test_employee_cannot_cancel_23h59_before_and_is_told_whom_to_call() -> None:
    state, effects = run(CONFIRMED, EmployeeCancel(), ctx=at(START - timedelta(hours=23, minutes=59)))
    assert state == CONFIRMED
    told = next(e for e in effects if isinstance(e, TellEmployee))
    assert told.key == "booking.cancel_too_late"
    assert dict(told.params)["cancel_min_hours"] == 24
    assert not any(isinstance(e, CancelReminder | ReleaseSlot | TellCounselor) for e in effects)


def test_may_cancel_rule() -> None:
    assert rules.may_cancel(START, START - timedelta(hours=24), 24)
    assert not rules.may_cancel(START, START - timedelta(hours=23, minutes=59), 24)
    assert rules.may_cancel(START, START - timedelta(hours=48), 48)


def test_employee_withdraws_a_waiting_request_any_time() -> None:
    state, effects = run(REQUESTED, EmployeeCancel(), ctx=at(START - timedelta(hours=1)))
    assert state.name == "cancelled_by_employee" and ReleaseSlot(SLOT.id) in effects
    assert CancelReminder() not in effects


@pytest.mark.parametrize("name", ["requested", "confirmed"])
def test_counselor_cancels_any_time_and_the_employee_is_told_at_once(name: str) -> None:
    state, effects = run(
        BookingState(name, SLOT, None, 0, NOW), CounselorCancel("生病"), ctx=at(START - timedelta(minutes=5))
    )
    assert state.name == "cancelled_by_counselor"
    assert employee_keys(effects) == ["booking.counselor_cancelled"]
    assert KeepPrivateReason("cancelled", "生病") in effects and OfferFreeSlots() in effects
    assert (CancelReminder() in effects) == (name == "confirmed")
    assert not any("生病" in str(getattr(e, "params", "")) for e in effects if isinstance(e, TellEmployee))


def test_decline_keeps_the_reason_private_and_frees_the_slot() -> None:
    state, effects = run(REQUESTED, Decline("與當事人有雙重關係"))
    assert state.name == "declined"
    assert KeepPrivateReason("declined", "與當事人有雙重關係") in effects
    assert ReleaseSlot(SLOT.id) in effects and OfferFreeSlots() in effects
    assert employee_keys(effects) == ["booking.declined"]
    assert all("雙重" not in repr(e) for e in effects if isinstance(e, TellEmployee))
    assert not any(isinstance(e, RevealIdentity) for e in effects)


def test_no_show_is_recorded_after_the_start_only() -> None:
    state, effects = run(CONFIRMED, MarkNoShow(), ctx=at(START - timedelta(minutes=1)))
    assert state == CONFIRMED and counselor_keys(effects) == ["booking.counselor.not_started"]
    state, effects = run(CONFIRMED, MarkAttended(), ctx=at(START - timedelta(minutes=1)))
    assert state == CONFIRMED and counselor_keys(effects) == ["booking.counselor.not_started"]
    state, effects = run(CONFIRMED, MarkNoShow(), ctx=at(START + timedelta(minutes=15)))
    assert state.name == "no_show" and RecordNoShow(SLOT.id) in effects
    assert employee_keys(effects) == ["booking.no_show"]


# ---- choosing ---------------------------------------------------------------------------------------


def test_a_taken_or_past_slot_is_refused() -> None:
    for event, ctx in ((SlotChosen(SLOT, free=False), CTX), (SlotChosen(SLOT), at(START))):
        state, effects = run(BookingState(), event, ctx=ctx)
        assert state.name == "choosing" and state.slot is None
        assert employee_keys(effects) == ["booking.slot_gone"] and OfferFreeSlots() in effects


def test_changing_the_slot_before_the_request_resets_quota_and_consent() -> None:
    other = Slot(8, 9002, START + timedelta(days=1), 120, "online")
    state, _ = run(
        BookingState("self_pay", SLOT, paid_minutes=60), SlotChosen(other), ctx=at(NOW, used_minutes=0)
    )
    assert state.name == "consent" and state.slot == other and state.paid_minutes == 0


def test_hold_failure_sends_the_employee_back_to_choose() -> None:
    state, effects = run(REQUESTED, HoldFailed())
    assert state.name == "choosing" and state.slot is None and OfferFreeSlots() in effects


@pytest.mark.parametrize("name", booking_vocab.PRE_REQUEST)
def test_cancel_before_the_request_books_nothing(name: str) -> None:
    state, effects = run(BookingState(name, SLOT if name != "choosing" else None), EmployeeCancel())
    assert state.name == "choosing" and employee_keys(effects) == ["booking.nothing_booked"]


# ---- every state x every event ------------------------------------------------------------------

EVENTS: list[BookingEvent] = [
    SlotChosen(SLOT),
    AcceptSelfPay(),
    RefuseSelfPay(),
    GiveConsent(),
    RefuseConsent(),
    EmployeeCancel(),
    HoldFailed(),
    Confirm(),
    Decline("x"),
    CounselorCancel("y"),
    MarkAttended(),
    MarkNoShow(),
    ReminderDue(),
]

# (state, event type) -> the state after it, at NOW (more than a day before the start)
EXPECTED: dict[tuple[str, type], str] = {
    ("choosing", SlotChosen): "consent",
    ("self_pay", SlotChosen): "consent",
    ("consent", SlotChosen): "consent",
    ("self_pay", AcceptSelfPay): "consent",
    ("self_pay", RefuseSelfPay): "choosing",
    ("consent", GiveConsent): "requested",
    ("consent", RefuseConsent): "choosing",
    ("choosing", EmployeeCancel): "choosing",
    ("self_pay", EmployeeCancel): "choosing",
    ("consent", EmployeeCancel): "choosing",
    ("requested", EmployeeCancel): "cancelled_by_employee",
    ("confirmed", EmployeeCancel): "cancelled_by_employee",
    ("requested", HoldFailed): "choosing",
    ("requested", Confirm): "confirmed",
    ("requested", Decline): "declined",
    ("requested", CounselorCancel): "cancelled_by_counselor",
    ("confirmed", CounselorCancel): "cancelled_by_counselor",
    ("confirmed", MarkAttended): "confirmed",  # not started yet at NOW
    ("confirmed", MarkNoShow): "confirmed",
    ("confirmed", ReminderDue): "confirmed",
}
_PEOPLE_EVENTS = (*booking._EMPLOYEE_EVENTS, *booking._COUNSELOR_EVENTS)


@pytest.mark.parametrize("name", booking_vocab.STATES)
@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_state_and_event(name: str, event: BookingEvent) -> None:
    state = BookingState(name, SLOT, Category.LEGAL, 0, NOW)
    after, effects = step(state, event, CTX)
    expected = EXPECTED.get((name, type(event)), name)
    assert after.name == expected
    if isinstance(event, _PEOPLE_EVENTS):
        assert effects, f"silence in {name} for {event}"
    if (name, type(event)) not in EXPECTED:
        if isinstance(event, booking._EMPLOYEE_EVENTS):
            stale = "booking.stale" if booking_vocab.is_open(state) else "booking.closed"
            assert employee_keys(effects) == [stale]
        elif isinstance(event, booking._COUNSELOR_EVENTS):
            assert counselor_keys(effects) == ["booking.counselor.stale"]
        else:
            assert effects == []
        assert after == state


def test_step_leaves_nothing_behind() -> None:
    first = step(BookingState(), SlotChosen(SLOT), CTX)
    second = step(BookingState(), SlotChosen(SLOT), at(NOW, used_minutes=240))
    assert first[0].name == "consent" and second[0].name == "self_pay"
    assert booking._MODEL.ctx is None and booking._MODEL.event is None


# ---- slots ------------------------------------------------------------------------------------------


def test_slot_validation() -> None:
    existing = [SLOT, Slot(20, 9002, START, 60, "online")]
    late = Slot(21, 9001, datetime(2026, 3, 14, 20, 0, tzinfo=TAIPEI), 60, "online")  # Saturday evening
    assert rules.validate_slot(late, existing, NOW) is None
    touching = Slot(22, 9001, SLOT.end, 60, "online")
    assert rules.validate_slot(touching, existing, NOW) is None
    overlapping = Slot(23, 9001, START + timedelta(minutes=59), 30, "online")
    assert rules.validate_slot(overlapping, existing, NOW) is SlotProblem.OVERLAP
    assert rules.validate_slot(SLOT, existing, NOW) is None, "a slot does not overlap itself"
    other_counselor = Slot(24, 9003, START, 60, "online")
    assert rules.validate_slot(other_counselor, existing, NOW) is None
    assert rules.validate_slot(Slot(25, 9001, NOW, 60, "x"), [], NOW) is SlotProblem.IN_THE_PAST
    naive = Slot(26, 9001, datetime(2026, 4, 1, 9), 60, "x")
    assert rules.validate_slot(naive, [], NOW) is SlotProblem.NAIVE_TIME
    assert rules.validate_slot(Slot(27, 9001, START, 0, "x"), [], NOW) is SlotProblem.BAD_LENGTH
    assert rules.validate_slot(Slot(28, 9001, START, 481, "x"), [], NOW) is SlotProblem.BAD_LENGTH
    assert rules.validate_slot(Slot(29, 9001, START, 60, " "), [], NOW) is SlotProblem.NO_LOCATION


def test_every_message_key_exists() -> None:
    data = tomllib.loads((ROOT / "config" / "messages.booking.zh-TW.toml").read_text(encoding="utf-8"))
    flat: set[str] = set()

    def walk(prefix: str, table: dict[str, object]) -> None:
        for key, value in table.items():
            if isinstance(value, dict):
                walk(f"{prefix}{key}.", value)
            else:
                flat.add(prefix + key)

    walk("", data)
    source = (ROOT / "hotline" / "flows" / "booking.py").read_text(encoding="utf-8")
    used = set(re.findall(r'"(booking\.[a-z_.]+)"', source))
    assert used and used <= flat, used - flat
    assert {f"booking.slot_problem.{p.value}" for p in SlotProblem} <= flat


def test_the_quota_is_counted_again_when_the_request_goes_out() -> None:
    """Two referrals, two slots chosen while both were free, consent to both: the second pays."""
    state, _ = run(BookingState(), SlotChosen(SLOT), ctx=at(NOW, used_minutes=0))
    assert state.name == "consent" and state.paid_minutes == 0
    state, effects = step(state, GiveConsent(), at(NOW, used_minutes=210))
    assert state.name == "self_pay" and state.paid_minutes == 30
    assert employee_keys(effects) == ["booking.self_pay"]
    assert not any(isinstance(e, HoldSlot | TellCounselor) for e in effects), "asked again before sending"
    state, _ = step(state, AcceptSelfPay(), at(NOW, used_minutes=210))
    state, effects = step(state, GiveConsent(), at(NOW, used_minutes=210))
    assert state.name == "requested" and any(isinstance(e, HoldSlot) for e in effects)


def test_a_counselor_cancel_before_confirming_frees_the_time() -> None:
    _, effects = step(REQUESTED, CounselorCancel("臨時有事"), CTX)
    assert ReleaseSlot(SLOT.id) in effects
    _, effects = step(CONFIRMED, CounselorCancel("臨時有事"), CTX)
    assert ReleaseSlot(SLOT.id) not in effects, "a confirmed time the counselor cannot keep is not re-offered"
