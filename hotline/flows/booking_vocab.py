"""The booking flow's vocabulary: slots, the state of one booking, its context, events and effects.

Plain frozen data (see :mod:`hotline.flows.booking` for the machine that uses them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hotline.domain import Category
from hotline.flows.survey import InviteSurvey
from hotline.flows.vocabulary import Button


@dataclass(frozen=True, slots=True)
class Slot:
    """A time a counselor offers: start (aware), length in minutes, a place or :data:`ONLINE`."""

    id: int
    counselor_id: int
    start: datetime
    minutes: int
    location: str

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)


@dataclass(frozen=True, slots=True)
class BookingState:
    """Where one booking stands; stored per booking."""

    name: str = "choosing"
    slot: Slot | None = None
    area: Category | None = None
    paid_minutes: int = 0  # self-paid minutes the employee accepted for this booking
    consent_at: datetime | None = None  # when the employee agreed to be identified on confirmation


@dataclass(frozen=True, slots=True)
class BookingContext:
    """What the flow may know: the time, the rules and the employee's counted minutes (see module doc)."""

    now: datetime
    used_minutes: int = 0
    free_hours_per_year: int = 4
    cancel_min_hours: int = 24
    remind_hours: tuple[int, ...] = (24, 2)  # reminder leads, hours before a session (see reminder_plan)


# ---- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlotChosen:
    """The employee picked a slot; ``free`` says whether nobody else holds it (read by the runner)."""

    slot: Slot
    free: bool = True


@dataclass(frozen=True, slots=True)
class AcceptSelfPay:
    """The employee accepts that the hours past the free quota are self-paid."""


@dataclass(frozen=True, slots=True)
class RefuseSelfPay:
    pass


@dataclass(frozen=True, slots=True)
class GiveConsent:
    """The employee agrees that the confirming counselor sees who they are."""


@dataclass(frozen=True, slots=True)
class RefuseConsent:
    pass


@dataclass(frozen=True, slots=True)
class EmployeeCancel:
    pass


@dataclass(frozen=True, slots=True)
class HoldFailed:
    """The runner could not hold the slot (someone else took it between choosing and requesting)."""


@dataclass(frozen=True, slots=True)
class Confirm:
    """The slot's counselor confirms the request."""


@dataclass(frozen=True, slots=True)
class Decline:
    """The counselor declines (seed: 得不予安排); the reason is kept privately, never shown to the employee."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class CounselorCancel:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class MarkAttended:
    pass


@dataclass(frozen=True, slots=True)
class MarkNoShow:
    pass


@dataclass(frozen=True, slots=True)
class ReminderDue:
    """The reminder timer fired."""


EmployeeEvent = SlotChosen | AcceptSelfPay | RefuseSelfPay | GiveConsent | RefuseConsent | EmployeeCancel
CounselorEvent = Confirm | Decline | CounselorCancel | MarkAttended | MarkNoShow
BookingEvent = EmployeeEvent | CounselorEvent | HoldFailed | ReminderDue

# ---- effects --------------------------------------------------------------------------------------

Params = tuple[tuple[str, object], ...]


@dataclass(frozen=True, slots=True)
class TellEmployee:
    """One message to the employee: ``key``, then each of ``lines`` on a line of its own (same params)."""

    key: str
    params: Params = ()
    buttons: tuple[Button, ...] = ()
    lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TellCounselor:
    """To the counselor of the booking's slot (by case code, never by the employee's identity)."""

    key: str
    params: Params = ()
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class OfferFreeSlots:
    """Show the employee the free future slots as buttons (each pressed slot comes back as SlotChosen)."""


@dataclass(frozen=True, slots=True)
class HoldSlot:
    """Mark the slot taken by this booking, atomically; if it is taken already, step :class:`HoldFailed`."""

    slot_id: int


@dataclass(frozen=True, slots=True)
class ReleaseSlot:
    slot_id: int


@dataclass(frozen=True, slots=True)
class RevealIdentity:
    """Show the employee's identity to this counselor only; audit it with the consent time."""

    counselor_id: int
    consented_at: datetime


@dataclass(frozen=True, slots=True)
class ScheduleReminder:
    at: datetime


@dataclass(frozen=True, slots=True)
class CancelReminder:
    pass


@dataclass(frozen=True, slots=True)
class KeepPrivateReason:
    """Store the counselor's reason (decline or cancel) visible to counselors only."""

    kind: str  # "declined" | "cancelled"
    reason: str


@dataclass(frozen=True, slots=True)
class RecordNoShow:
    slot_id: int


BookingEffect = (
    TellEmployee
    | TellCounselor
    | OfferFreeSlots
    | HoldSlot
    | ReleaseSlot
    | RevealIdentity
    | ScheduleReminder
    | CancelReminder
    | KeepPrivateReason
    | RecordNoShow
    | InviteSurvey
)


# ---- states, button data and helpers the machine and the runner share ----------------------------

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


def is_open(state: BookingState) -> bool:
    return state.name in OPEN_STATES


def hours_text(minutes: int) -> str:
    return f"{minutes / 60:g}"


def slot_params(slot: Slot) -> Params:
    """Message parameters describing a slot: ``{start}`` (datetime), ``{hours}``, ``{location}``."""
    return (("start", slot.start), ("hours", hours_text(slot.minutes)), ("location", slot.location))
