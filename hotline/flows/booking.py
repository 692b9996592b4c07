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

The machine is here (:data:`TRANSITIONS`, :func:`step`); what each transition does is
:class:`~hotline.flows.booking_model.BookingModel`; states, button data and helpers are in
``booking_vocab``. The flow never reads a clock: ``ctx.now`` is the time. Button data are the constants below; the runner
appends the booking id (``f"{data}:{booking_id}"``) and maps presses back to the events. The diagram
``docs/flows/booking.mmd`` is generated from :data:`TRANSITIONS` and checked by a test.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from transitions import Machine

from hotline.domain import Category
from hotline.flows import machine
from hotline.flows.booking_model import BookingModel
from hotline.flows.booking_vocab import (
    PRE_REQUEST,
    STATES,
    AcceptSelfPay,
    BookingContext,
    BookingEffect,
    BookingEvent,
    BookingState,
    Confirm,
    CounselorCancel,
    Decline,
    EmployeeCancel,
    GiveConsent,
    HoldFailed,
    MarkAttended,
    MarkNoShow,
    RefuseConsent,
    RefuseSelfPay,
    ReminderDue,
    SlotChosen,
    is_open,
)

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


_MODEL = BookingModel()
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


__all__ = ["TRANSITIONS", "build_machine", "new_booking", "step"]
