"""What each transition of the booking machine does (``hotline.flows.booking``): the machine's model.

Its callbacks read the event and context of the step and append effects; its conditions decide which
transition applies. Pure: no clock, no I/O (``ctx.now`` is the time).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from hotline.flows.booking_rules import (
    may_cancel,
    reminder_plan,
    self_paid_minutes,
)
from hotline.flows.booking_vocab import (
    CANCEL_BUTTONS,
    CONSENT_BUTTONS,
    COUNSELOR_BUTTONS,
    PAY_BUTTONS,
    BookingContext,
    BookingEffect,
    BookingEvent,
    BookingState,
    CancelReminder,
    CounselorCancel,
    Decline,
    HoldSlot,
    KeepPrivateReason,
    OfferFreeSlots,
    Params,
    RecordNoShow,
    RefuseSelfPay,
    ReleaseSlot,
    RevealIdentity,
    ScheduleReminder,
    Slot,
    SlotChosen,
    TellCounselor,
    TellEmployee,
    hours_text,
    slot_params,
)
from hotline.flows.survey import InviteSurvey
from hotline.flows.vocabulary import Button


@dataclass
class BookingModel:
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
            ("used_hours", hours_text(self.ctx.used_minutes)),
            ("paid_hours", hours_text(paid)),
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
            ("paid_hours", hours_text(self.booking.paid_minutes)),
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


__all__ = ["BookingModel"]
