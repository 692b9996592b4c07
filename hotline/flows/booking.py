"""Face-to-face counseling: one booking's life as a state machine (transitions), pure.

    choosing --slot chosen--> self_pay (only past the free hours) --accept--> consent --agree--> requested
    requested --confirm--> confirmed --attended / no-show--> attended | no_show
    requested --decline--> declined;   requested | confirmed --employee cancels--> cancelled_by_employee
    requested | confirmed --counselor cancels--> cancelled_by_counselor

Rules from the seeds: Taipei 000 (cancel at least one day before; the counselor may decline; sessions may be
after hours; no recording without consent) and Taoyuan 004 (free hours per person per year, self-paid
beyond). A booking starts from a referral (its booking code); the runner keeps one :class:`BookingState`
per booking and starts a new one, ``BookingState()``, when the employee picks a slot and their latest
booking is closed (:func:`is_open`).

Identity: a request shows the counselor the case code and the slot only. The employee agrees, before the
request is sent, that the counselor who confirms will see who they are; on confirmation the flow emits
:class:`RevealIdentity` (the runner records it in the audit trail with the consent time).

Quota: :class:`BookingContext` carries the employee's minutes already counted in the calendar year
(Asia/Taipei) of the slot concerned, excluding this booking (see :func:`counted_minutes`). Past the free
hours the employee is told the extra is self-paid and must accept it BEFORE the request goes out.

Promises (issue 17): the confirmation says until when cancelling online works (or that it no longer
does) and when the reminder will come (:func:`reminder_plan` over ``ctx.remind_hours``: the day before,
else a few hours before, else none and the confirmation says so); what it says is what is scheduled.
How to reach the EAP office (``{call_office}``) is the runner's to render from settings, never the flow's.

The flow never reads a clock: ``ctx.now`` is the time. Button data are the constants below; the runner
appends the booking id (``f"{data}:{booking_id}"``) and maps presses back to the events. The diagram
``docs/flows/booking.mmd`` is generated from :data:`TRANSITIONS` and checked by a test.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from transitions import Machine

from hotline.domain import Category
from hotline.flows import machine
from hotline.flows.booking_rules import (
    may_cancel,
    reminder_plan,
    self_paid_minutes,
)
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
    Params,
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
from hotline.flows.vocabulary import Button

ONLINE = "online"  # the location of a session held online

OPEN_STATES = ("choosing", "self_pay", "consent", "requested", "confirmed")
CLOSED_STATES = ("declined", "cancelled_by_employee", "cancelled_by_counselor", "attended", "no_show")
STATES = (*OPEN_STATES, *CLOSED_STATES)
PRE_REQUEST = ("choosing", "self_pay", "consent")

# Button data (the runner appends ":<booking id>").
ACCEPT_PAY = "bk:pay:yes"
REFUSE_PAY = "bk:pay:no"
GIVE_CONSENT = "bk:consent:yes"
REFUSE_CONSENT = "bk:consent:no"
CANCEL = "bk:cancel"
CONFIRM = "bk:confirm"
DECLINE = "bk:decline"
PAY_BUTTONS = (
    Button("booking.button.accept_pay", ACCEPT_PAY),
    Button("booking.button.refuse_pay", REFUSE_PAY),
)
CONSENT_BUTTONS = (
    Button("booking.button.give_consent", GIVE_CONSENT),
    Button("booking.button.refuse_consent", REFUSE_CONSENT),
)
CANCEL_BUTTONS = (Button("booking.button.cancel", CANCEL),)
COUNSELOR_BUTTONS = (Button("booking.button.confirm", CONFIRM), Button("booking.button.decline", DECLINE))


# ---- pure helpers ---------------------------------------------------------------------------------


def is_open(state: BookingState) -> bool:
    return state.name in OPEN_STATES


def _hours(minutes: int) -> str:
    return f"{minutes / 60:g}"


def slot_params(slot: Slot) -> Params:
    """Message parameters describing a slot: ``{start}`` (datetime), ``{hours}``, ``{location}``."""
    return (("start", slot.start), ("hours", _hours(slot.minutes)), ("location", slot.location))


# ---- the machine ----------------------------------------------------------------------------------


@dataclass
class _Model:
    state: str = "choosing"
    booking: BookingState = field(default_factory=BookingState)
    ctx: BookingContext | None = None
    event: BookingEvent | None = None
    effects: list[BookingEffect] = field(default_factory=list)

    @property
    def slot(self) -> Slot:
        assert self.booking.slot is not None
        return self.booking.slot

    @property
    def now(self) -> datetime:
        assert self.ctx is not None
        return self.ctx.now

    def tell(
        self,
        key: str,
        *params: tuple[str, object],
        buttons: tuple[Button, ...] = (),
        lines: tuple[str, ...] = (),
    ) -> None:
        self.effects.append(TellEmployee(key, tuple(params), buttons, lines))

    def tell_counselor(self, key: str, *params: tuple[str, object], buttons: tuple[Button, ...] = ()) -> None:
        self.effects.append(TellCounselor(key, tuple(params), buttons))

    # -- conditions -------------------------------------------------------------------------------
    def slot_ok(self) -> bool:
        assert isinstance(self.event, SlotChosen)
        return self.event.free and self.event.slot.start > self.now

    def over_quota(self) -> bool:
        assert isinstance(self.event, SlotChosen) and self.ctx is not None
        return (
            self_paid_minutes(self.ctx.used_minutes, self.event.slot.minutes, self.ctx.free_hours_per_year)
            > 0
        )

    def quota_changed(self) -> bool:
        assert self.ctx is not None
        paid = self_paid_minutes(self.ctx.used_minutes, self.slot.minutes, self.ctx.free_hours_per_year)
        return paid > self.booking.paid_minutes

    def cancel_allowed(self) -> bool:
        assert self.ctx is not None
        return may_cancel(self.slot.start, self.now, self.ctx.cancel_min_hours)

    def started(self) -> bool:
        return self.now >= self.slot.start

    def in_future(self) -> bool:
        return self.slot.start > self.now

    # -- callbacks --------------------------------------------------------------------------------
    def take_slot(self) -> None:
        assert isinstance(self.event, SlotChosen)
        self.booking = replace(self.booking, slot=self.event.slot, paid_minutes=0, consent_at=None)

    def ask_self_pay(self) -> None:
        assert self.ctx is not None
        paid = self_paid_minutes(self.ctx.used_minutes, self.slot.minutes, self.ctx.free_hours_per_year)
        self.booking = replace(self.booking, paid_minutes=paid)
        self.tell(
            "booking.self_pay",
            *slot_params(self.slot),
            ("free_hours", self.ctx.free_hours_per_year),
            ("used_hours", _hours(self.ctx.used_minutes)),
            ("paid_hours", _hours(paid)),
            buttons=PAY_BUTTONS,
        )

    def ask_consent(self) -> None:
        self.tell("booking.consent", *slot_params(self.slot), buttons=CONSENT_BUTTONS)

    def slot_gone(self) -> None:
        self.booking = replace(self.booking, slot=None, paid_minutes=0, consent_at=None)
        self.tell("booking.slot_gone")
        self.effects.append(OfferFreeSlots())

    def back_to_choosing(self) -> None:
        assert self.event is not None
        key = (
            "booking.self_pay_refused" if isinstance(self.event, RefuseSelfPay) else "booking.consent_refused"
        )
        self.booking = replace(self.booking, slot=None, paid_minutes=0, consent_at=None)
        self.tell(key)
        self.effects.append(OfferFreeSlots())

    def send_request(self) -> None:
        self.booking = replace(self.booking, consent_at=self.now)
        self.effects.append(HoldSlot(self.slot.id))
        self.tell("booking.requested", *slot_params(self.slot), buttons=CANCEL_BUTTONS)
        self.tell_counselor(
            "booking.counselor.request",
            *slot_params(self.slot),
            ("area", self.booking.area),
            ("paid_hours", _hours(self.booking.paid_minutes)),
            buttons=COUNSELOR_BUTTONS,
        )

    def nothing_booked(self) -> None:
        self.booking = replace(self.booking, slot=None, paid_minutes=0, consent_at=None)
        self.tell("booking.nothing_booked")

    def withdraw_request(self) -> None:
        self.effects.append(ReleaseSlot(self.slot.id))
        self.tell("booking.cancelled", *slot_params(self.slot))
        self.tell_counselor("booking.counselor.withdrawn", *slot_params(self.slot))

    def cancel_confirmed(self) -> None:
        self.effects.append(CancelReminder())
        self.withdraw_request()

    def refuse_late_cancel(self) -> None:
        assert self.ctx is not None
        self.tell(
            "booking.cancel_too_late",
            *slot_params(self.slot),
            ("cancel_min_hours", self.ctx.cancel_min_hours),
        )

    def lost_hold(self) -> None:
        self.booking = replace(self.booking, slot=None, paid_minutes=0, consent_at=None)
        self.tell("booking.slot_gone")
        self.effects.append(OfferFreeSlots())

    def confirmed(self) -> None:
        assert self.booking.consent_at is not None
        self.effects.append(RevealIdentity(self.slot.counselor_id, self.booking.consent_at))
        self.tell(
            "booking.confirmed",
            *slot_params(self.slot),
            *self._promises(),
            buttons=CANCEL_BUTTONS,
            lines=self._lines(),
        )
        self.tell_counselor("booking.counselor.confirmed", *slot_params(self.slot))
        plan = self._reminder()
        if plan is not None:
            self.effects.append(ScheduleReminder(plan[0]))

    def _reminder(self) -> tuple[datetime, int] | None:
        assert self.ctx is not None
        return reminder_plan(self.slot.start, self.now, self.ctx.remind_hours)

    def _promises(self) -> Params:
        """What the confirmation promises: until when cancelling online works, when the reminder comes."""
        assert self.ctx is not None
        hours = self.ctx.cancel_min_hours
        params: Params = (
            ("cancel_min_hours", hours),
            ("cancel_by", self.slot.start - timedelta(hours=hours)),
        )
        plan = self._reminder()
        return params + ((("remind_at", plan[0]), ("remind_hours", plan[1])) if plan else ())

    def _lines(self) -> tuple[str, ...]:
        cancel = "booking.confirmed_cancel" if self.cancel_allowed() else "booking.confirmed_cancel_closed"
        remind = "booking.confirmed_remind" if self._reminder() else "booking.confirmed_no_remind"
        return (cancel, remind)

    def too_late_to_confirm(self) -> None:
        self.tell_counselor("booking.counselor.slot_passed", *slot_params(self.slot))

    def declined(self) -> None:
        assert isinstance(self.event, Decline)
        self.effects.append(KeepPrivateReason("declined", self.event.reason))
        self.effects.append(ReleaseSlot(self.slot.id))
        self.tell("booking.declined", *slot_params(self.slot))
        self.effects.append(OfferFreeSlots())
        self.tell_counselor("booking.counselor.declined", *slot_params(self.slot))

    def counselor_cancelled(self) -> None:
        assert isinstance(self.event, CounselorCancel)
        self.effects.append(KeepPrivateReason("cancelled", self.event.reason))
        self.tell("booking.counselor_cancelled", *slot_params(self.slot))
        self.effects.append(OfferFreeSlots())
        self.tell_counselor("booking.counselor.cancelled", *slot_params(self.slot))

    def release_slot(self) -> None:
        self.effects.append(ReleaseSlot(self.slot.id))

    def drop_reminder(self) -> None:
        self.effects.append(CancelReminder())

    def record_attendance(self) -> None:
        self.tell_counselor("booking.counselor.attended", *slot_params(self.slot))
        self.effects.append(InviteSurvey("face_to_face", self.now))

    def record_no_show(self) -> None:
        self.effects.append(RecordNoShow(self.slot.id))
        self.tell_counselor("booking.counselor.no_show", *slot_params(self.slot))
        self.tell("booking.no_show", *slot_params(self.slot))

    def not_yet(self) -> None:
        self.tell_counselor("booking.counselor.not_started", *slot_params(self.slot))

    def remind(self) -> None:
        self.tell("booking.reminder", *slot_params(self.slot), buttons=CANCEL_BUTTONS)
        self.tell_counselor("booking.counselor.reminder", *slot_params(self.slot))


_PRE = list(PRE_REQUEST)
_ACTIVE = ["requested", "confirmed"]
TRANSITIONS: list[dict[str, Any]] = [
    # the employee chooses (or changes) a slot before the request goes out
    {
        "trigger": "choose",
        "source": _PRE,
        "dest": "self_pay",
        "conditions": ["slot_ok", "over_quota"],
        "before": "take_slot",
        "after": "ask_self_pay",
    },
    {
        "trigger": "choose",
        "source": _PRE,
        "dest": "consent",
        "conditions": "slot_ok",
        "before": "take_slot",
        "after": "ask_consent",
    },
    {"trigger": "choose", "source": _PRE, "dest": "choosing", "after": "slot_gone"},
    {"trigger": "accept_pay", "source": "self_pay", "dest": "consent", "after": "ask_consent"},
    {"trigger": "refuse_pay", "source": "self_pay", "dest": "choosing", "after": "back_to_choosing"},
    # The quota is counted again when the request goes out: another booking may have used the free hours
    # since this slot was chosen (two referrals, two slots, consent given to both).
    {
        "trigger": "give_consent",
        "source": "consent",
        "dest": "self_pay",
        "conditions": "quota_changed",
        "after": "ask_self_pay",
    },
    {"trigger": "give_consent", "source": "consent", "dest": "requested", "after": "send_request"},
    {"trigger": "refuse_consent", "source": "consent", "dest": "choosing", "after": "back_to_choosing"},
    {"trigger": "hold_failed", "source": "requested", "dest": "choosing", "after": "lost_hold"},
    # cancelling
    {"trigger": "employee_cancel", "source": _PRE, "dest": "choosing", "after": "nothing_booked"},
    {
        "trigger": "employee_cancel",
        "source": "requested",
        "dest": "cancelled_by_employee",
        "after": "withdraw_request",
    },
    {
        "trigger": "employee_cancel",
        "source": "confirmed",
        "dest": "cancelled_by_employee",
        "conditions": "cancel_allowed",
        "after": "cancel_confirmed",
    },
    {"trigger": "employee_cancel", "source": "confirmed", "dest": "=", "after": "refuse_late_cancel"},
    {
        "trigger": "counselor_cancel",
        "source": "requested",
        "dest": "cancelled_by_counselor",
        # not yet confirmed: like a decline, the time is free again for someone else
        "after": ["release_slot", "counselor_cancelled"],
    },
    {
        "trigger": "counselor_cancel",
        "source": "confirmed",
        "dest": "cancelled_by_counselor",
        "after": ["drop_reminder", "counselor_cancelled"],
    },
    # the counselor's answer
    {
        "trigger": "confirm",
        "source": "requested",
        "dest": "confirmed",
        "conditions": "in_future",
        "after": "confirmed",
    },
    {"trigger": "confirm", "source": "requested", "dest": "=", "after": "too_late_to_confirm"},
    {"trigger": "decline", "source": "requested", "dest": "declined", "after": "declined"},
    # the session
    {"trigger": "reminder", "source": "confirmed", "dest": "=", "after": "remind"},
    {
        "trigger": "attended",
        "source": "confirmed",
        "dest": "attended",
        "conditions": "started",
        "after": "record_attendance",
    },
    {
        "trigger": "no_show",
        "source": "confirmed",
        "dest": "no_show",
        "conditions": "started",
        "after": "record_no_show",
    },
    {"trigger": "attended", "source": "confirmed", "dest": "=", "after": "not_yet"},
    {"trigger": "no_show", "source": "confirmed", "dest": "=", "after": "not_yet"},
]

_TRIGGERS: dict[type, str] = {
    SlotChosen: "choose",
    AcceptSelfPay: "accept_pay",
    RefuseSelfPay: "refuse_pay",
    GiveConsent: "give_consent",
    RefuseConsent: "refuse_consent",
    EmployeeCancel: "employee_cancel",
    HoldFailed: "hold_failed",
    Confirm: "confirm",
    Decline: "decline",
    CounselorCancel: "counselor_cancel",
    MarkAttended: "attended",
    MarkNoShow: "no_show",
    ReminderDue: "reminder",
}
_EMPLOYEE_EVENTS = (SlotChosen, AcceptSelfPay, RefuseSelfPay, GiveConsent, RefuseConsent, EmployeeCancel)
_COUNSELOR_EVENTS = (Confirm, Decline, CounselorCancel, MarkAttended, MarkNoShow)


def build_machine(model: object, **kwargs: Any) -> Machine:
    """The booking machine bound to ``model`` (also used to draw the diagram)."""
    return machine.build_machine(model, STATES, TRANSITIONS, "choosing", **kwargs)


_MODEL = _Model()
_MACHINE = build_machine(_MODEL)


def step(
    state: BookingState, event: BookingEvent, ctx: BookingContext
) -> tuple[BookingState, list[BookingEffect]]:
    """Apply one event to a booking; return the new state and the effects. Never silent to a person:
    an event that does not apply in the current state is answered with ``booking.stale`` (employee) or
    ``booking.counselor.stale`` (counselor); a stale timer or hold failure is ignored."""
    model = _MODEL
    _MACHINE.set_state(state.name, model)
    model.booking = state
    model.ctx = ctx
    model.event = event
    model.effects = []
    try:
        handled = model.trigger(_TRIGGERS[type(event)])  # type: ignore[attr-defined]
        if not handled:
            if isinstance(event, _EMPLOYEE_EVENTS):
                model.tell("booking.stale" if is_open(state) else "booking.closed")
            elif isinstance(event, _COUNSELOR_EVENTS):
                model.tell_counselor("booking.counselor.stale")
        return replace(model.booking, name=model.state), model.effects
    finally:
        model.ctx = None
        model.event = None


def new_booking(area: Category | None) -> BookingState:
    """A fresh booking for a referral in ``area`` (the employee then chooses a slot)."""
    return BookingState(area=area)


__all__ = ["CLOSED_STATES", "OPEN_STATES", "STATES", "build_machine", "is_open", "new_booking", "step"]
