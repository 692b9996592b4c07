"""The one place where effects are executed: :func:`execute`, one ``match`` over every effect type.

Every effect any flow emits (:data:`~hotline.flows.effects.AnyEffect`) is matched once, below, ending in
:func:`typing.assert_never`: a new effect type that nobody executes fails ``mypy --strict`` here
(``tests/test_executor.py`` shows it). What an effect does depends on where it runs, and that is the
job of an :class:`EffectContext`, the port the executor drives:

- a chat update's transaction (``hotline.intake_effects.IntakeEffects``: rows in the session, messages to
  the employee's channel adapter and to counselors),
- a mail batch (``hotline.station.mail_effects.MailEffects``: rows queued in the batch, the
  acknowledgement and crisis reply queued in the outbox),
- a face-to-face booking (``hotline.bot.booking_effects.BookingEffects``),
- an anonymous survey (``hotline.bot.survey.InviteEffects`` and ``AnswerEffects``).

A context implements the effects its flow emits; one it does not expect raises :class:`UnexpectedEffect`
(never silently dropped; ``tests/test_executor.py`` checks that each context implements every effect of
its flow's union). Nothing here sends: what an effect sends is queued by the context with the effect's
:func:`~hotline.flows.effects.urgency` and delivered after the commit by the ordering rule (crisis reply
first, then alerts, then the rest: ``hotline.dispatch``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import assert_never

from hotline.flows.booking_vocab import (
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
from hotline.flows.effects import AnyEffect
from hotline.flows.mailcase import (
    Acknowledge,
    CrisisReply,
    ExplainForget,
    FlagForHuman,
    ForgetSender,
    KeepOnly,
    Reopen,
    StartReplyWindow,
)
from hotline.flows.survey import (
    DiscardToken,
    InviteSurvey,
    IssueToken,
    MarkCaseInvited,
    StoreSurveyAnswer,
)
from hotline.flows.vocabulary import (
    AlertOnDuty,
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


class UnexpectedEffect(TypeError):
    """A context was handed an effect its flow never emits (a programming error)."""


class EffectContext:
    """Where effects run; one method per effect type. The defaults refuse: a context overrides what
    its flow emits. ``stopped`` set by a method ends :func:`execute` before the next effect (a slot
    already taken, an invitation another ending won)."""

    stopped: bool = False

    def _unexpected(self, effect: object) -> None:
        raise UnexpectedEffect(f"{type(self).__name__} does not execute {type(effect).__name__}")

    # -- the chat intake (flows/intake) and the e-mail case (flows/mailcase) --------------------------
    async def reply(self, effect: Reply) -> None:
        self._unexpected(effect)

    async def record_contact(self, effect: RecordContact) -> None:
        self._unexpected(effect)

    async def open_case(self, effect: OpenCase) -> None:
        self._unexpected(effect)

    async def store_inbound(self, effect: StoreInbound) -> None:
        self._unexpected(effect)

    async def offer_case(self, effect: OfferCase) -> None:
        self._unexpected(effect)

    async def queue_case(self, effect: QueueCase) -> None:
        self._unexpected(effect)

    async def relay_to_counselor(self, effect: RelayToCounselor) -> None:
        self._unexpected(effect)

    async def mark_risk(self, effect: MarkRisk) -> None:
        self._unexpected(effect)

    async def mark_inbound(self, effect: MarkInbound) -> None:
        self._unexpected(effect)

    async def alert_on_duty(self, effect: AlertOnDuty) -> None:
        self._unexpected(effect)

    async def withdraw_case(self, effect: WithdrawCase) -> None:
        self._unexpected(effect)

    async def notify_counselor(self, effect: NotifyCounselor) -> None:
        self._unexpected(effect)

    async def show_my_data(self, effect: ShowMyData) -> None:
        self._unexpected(effect)

    async def forget_me(self, effect: ForgetMe) -> None:
        self._unexpected(effect)

    # -- the e-mail case only ---------------------------------------------------------------------------
    async def start_reply_window(self, effect: StartReplyWindow) -> None:
        self._unexpected(effect)

    async def acknowledge(self, effect: Acknowledge) -> None:
        self._unexpected(effect)

    async def reopen(self, effect: Reopen) -> None:
        self._unexpected(effect)

    async def flag_for_human(self, effect: FlagForHuman) -> None:
        self._unexpected(effect)

    async def keep_only(self, effect: KeepOnly) -> None:
        self._unexpected(effect)

    async def explain_forget(self, effect: ExplainForget) -> None:
        self._unexpected(effect)

    async def forget_sender(self, effect: ForgetSender) -> None:
        self._unexpected(effect)

    async def crisis_reply(self, effect: CrisisReply) -> None:
        self._unexpected(effect)

    # -- face-to-face booking -----------------------------------------------------------------------------
    async def tell_employee(self, effect: TellEmployee) -> None:
        self._unexpected(effect)

    async def tell_counselor(self, effect: TellCounselor) -> None:
        self._unexpected(effect)

    async def offer_free_slots(self, effect: OfferFreeSlots) -> None:
        self._unexpected(effect)

    async def hold_slot(self, effect: HoldSlot) -> None:
        self._unexpected(effect)

    async def release_slot(self, effect: ReleaseSlot) -> None:
        self._unexpected(effect)

    async def reveal_identity(self, effect: RevealIdentity) -> None:
        self._unexpected(effect)

    async def schedule_reminder(self, effect: ScheduleReminder) -> None:
        self._unexpected(effect)

    async def cancel_reminder(self, effect: CancelReminder) -> None:
        self._unexpected(effect)

    async def keep_private_reason(self, effect: KeepPrivateReason) -> None:
        self._unexpected(effect)

    async def record_no_show(self, effect: RecordNoShow) -> None:
        self._unexpected(effect)

    async def invite_survey(self, effect: InviteSurvey) -> None:
        self._unexpected(effect)

    # -- the survey ---------------------------------------------------------------------------------------
    async def mark_case_invited(self, effect: MarkCaseInvited) -> None:
        self._unexpected(effect)

    async def issue_token(self, effect: IssueToken) -> None:
        self._unexpected(effect)

    async def store_survey_answer(self, effect: StoreSurveyAnswer) -> None:
        self._unexpected(effect)

    async def discard_token(self, effect: DiscardToken) -> None:
        self._unexpected(effect)


async def execute(effects: Iterable[AnyEffect], on: EffectContext) -> bool:
    """Execute ``effects`` in flow order in the context ``on``; False when one of them stopped the run
    (nothing after it was executed)."""
    for effect in effects:
        await execute_one(effect, on)
        if on.stopped:
            return False
    return True


async def execute_one(effect: AnyEffect, on: EffectContext) -> None:
    """The one ``match``: each effect type to the method of the context that executes it."""
    match effect:
        case Reply():
            await on.reply(effect)
        case RecordContact():
            await on.record_contact(effect)
        case OpenCase():
            await on.open_case(effect)
        case StoreInbound():
            await on.store_inbound(effect)
        case OfferCase():
            await on.offer_case(effect)
        case QueueCase():
            await on.queue_case(effect)
        case RelayToCounselor():
            await on.relay_to_counselor(effect)
        case MarkRisk():
            await on.mark_risk(effect)
        case MarkInbound():
            await on.mark_inbound(effect)
        case AlertOnDuty():
            await on.alert_on_duty(effect)
        case WithdrawCase():
            await on.withdraw_case(effect)
        case NotifyCounselor():
            await on.notify_counselor(effect)
        case ShowMyData():
            await on.show_my_data(effect)
        case ForgetMe():
            await on.forget_me(effect)
        case StartReplyWindow():
            await on.start_reply_window(effect)
        case Acknowledge():
            await on.acknowledge(effect)
        case Reopen():
            await on.reopen(effect)
        case FlagForHuman():
            await on.flag_for_human(effect)
        case KeepOnly():
            await on.keep_only(effect)
        case ExplainForget():
            await on.explain_forget(effect)
        case ForgetSender():
            await on.forget_sender(effect)
        case CrisisReply():
            await on.crisis_reply(effect)
        case TellEmployee():
            await on.tell_employee(effect)
        case TellCounselor():
            await on.tell_counselor(effect)
        case OfferFreeSlots():
            await on.offer_free_slots(effect)
        case HoldSlot():
            await on.hold_slot(effect)
        case ReleaseSlot():
            await on.release_slot(effect)
        case RevealIdentity():
            await on.reveal_identity(effect)
        case ScheduleReminder():
            await on.schedule_reminder(effect)
        case CancelReminder():
            await on.cancel_reminder(effect)
        case KeepPrivateReason():
            await on.keep_private_reason(effect)
        case RecordNoShow():
            await on.record_no_show(effect)
        case InviteSurvey():
            await on.invite_survey(effect)
        case MarkCaseInvited():
            await on.mark_case_invited(effect)
        case IssueToken():
            await on.issue_token(effect)
        case StoreSurveyAnswer():
            await on.store_survey_answer(effect)
        case DiscardToken():
            await on.discard_token(effect)
        case _:
            assert_never(effect)


__all__ = ["EffectContext", "UnexpectedEffect", "execute", "execute_one"]
