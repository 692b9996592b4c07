"""Every effect any flow emits, as one closed type, and the rule for what goes out first.

:data:`AnyEffect` is the union of the effects of all flows (intake, e-mail case, booking, survey). The
functions below :keyword:`match` over it and end in :func:`typing.assert_never`, so a new effect type that
is added to a flow's union but not handled here (and in the executor of that flow) fails ``mypy --strict``.

The ordering rule is explicit, not list position: what an effect sends is delivered by :func:`urgency`,
crisis replies to the employee first, then crisis alerts to counselors, then everything else in the order
the flow emitted it. The effects themselves still run in flow order inside their transaction (a case is
opened before a reply can name its code); only the sending after the commit is reordered.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TypeVar, assert_never

from hotline.flows.booking_vocab import (
    BookingEffect,
    CancelReminder,
    HoldSlot,
    KeepPrivateReason,
    OfferFreeSlots,
    RecordNoShow,
    ReleaseSlot,
    RevealIdentity,
    ScheduleReminder,
    TellCounselor,
    TellEmployee,
)
from hotline.flows.mailcase import (
    Acknowledge,
    CrisisReply,
    ExplainForget,
    FlagForHuman,
    ForgetSender,
    KeepOnly,
    MailEffect,
    Reopen,
    StartReplyWindow,
)
from hotline.flows.survey import (
    DiscardToken,
    InviteSurvey,
    IssueToken,
    MarkCaseInvited,
    StoreSurveyAnswer,
    SurveyEffect,
)
from hotline.flows.vocabulary import (
    AlertOnDuty,
    Effect,
    ForgetMe,
    MarkInbound,
    MarkRisk,
    NotifyCounselor,
    OfferCase,
    OpenCase,
    QueueCase,
    RecordContact,
    RelayToCounselor,
    Reply,
    ShowMyData,
    StoreInbound,
    WithdrawCase,
)

T = TypeVar("T")

AnyEffect = Effect | MailEffect | BookingEffect | SurveyEffect

CRISIS_KEY_PREFIX = "crisis."  # message keys of the caring reply on the crisis path


class Urgency(IntEnum):
    """The order in which what effects send is delivered (lower first)."""

    CRISIS_REPLY = 0  # the caring reply with 1925 (110/119) to the employee
    ALERT = 1  # the crisis alert to the counselors on duty (supervisors when none)
    ROUTINE = 2  # everything else, in flow order


def urgency(effect: AnyEffect) -> Urgency:
    """Where what ``effect`` sends goes in the delivery order (see the module doc)."""
    match effect:
        case Reply(key=key):
            return Urgency.CRISIS_REPLY if key.startswith(CRISIS_KEY_PREFIX) else Urgency.ROUTINE
        case CrisisReply():
            return Urgency.CRISIS_REPLY
        case Acknowledge(crisis=crisis):  # a new thread's acknowledgement leads with the crisis text
            return Urgency.ROUTINE if crisis is None else Urgency.CRISIS_REPLY
        case AlertOnDuty():
            return Urgency.ALERT
        case (
            RecordContact() | OpenCase() | StoreInbound() | OfferCase() | QueueCase() | RelayToCounselor()
            | MarkRisk() | MarkInbound() | WithdrawCase() | NotifyCounselor() | ShowMyData() | ForgetMe()
        ):  # fmt: skip
            return Urgency.ROUTINE
        case (
            StartReplyWindow() | Reopen() | FlagForHuman() | KeepOnly() | ExplainForget() | ForgetSender()
        ):  # fmt: skip
            return Urgency.ROUTINE
        case (
            TellEmployee() | TellCounselor() | OfferFreeSlots() | HoldSlot() | ReleaseSlot()
            | RevealIdentity() | ScheduleReminder() | CancelReminder() | KeepPrivateReason()
            | RecordNoShow() | InviteSurvey()
        ):  # fmt: skip
            return Urgency.ROUTINE
        case MarkCaseInvited() | IssueToken() | StoreSurveyAnswer() | DiscardToken():
            return Urgency.ROUTINE
        case _:
            assert_never(effect)


def in_delivery_order(items: list[tuple[Urgency, T]]) -> list[T]:
    """``items`` by urgency, keeping the order they were added within one urgency (a stable sort)."""
    return [item for _, item in sorted(items, key=lambda pair: pair[0])]


__all__ = ["CRISIS_KEY_PREFIX", "AnyEffect", "Urgency", "in_delivery_order", "urgency"]
