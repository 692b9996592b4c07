"""What the effects of the chat intake flow do inside one update's transaction (any chat channel).

:class:`IntakeEffects` is the :class:`~hotline.executor.EffectContext` of an employee's update (and of a
counselor's claim, release or end of their case): rows go into the update's session, what is sent goes to
``after.out`` with the effect's urgency and leaves after the commit by the ordering rule (crisis reply
first, then alerts, then the rest). The effects are matched once, in ``hotline.executor``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.desk import Desk, Outgoing
from hotline.dispatch import Dispatch
from hotline.domain import CaseStatus, Channel
from hotline.executor import EffectContext
from hotline.flows.effects import Urgency, urgency
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
from hotline.ports import Recipient
from hotline.privacy.forget import forget, forget_unknown, my_data
from hotline.recent import Window
from hotline.storage import repo
from hotline.storage.models import Case
from hotline.timer_kinds import TimerKind

log = logging.getLogger(__name__)


@dataclass
class AfterUpdate:
    """What to do once the update's transaction has committed."""

    out: Dispatch = field(default_factory=Dispatch)  # messages and alerts, sent by the ordering rule
    offer_case: int | None = None
    limited: bool = False  # over the rate limit: store and screen everything, hold routine replies
    counselor_told: bool = False  # the counselor has been told the employee left
    ended: int | None = None  # issue 7: a served case the employee left (survey invitation)
    pseudonym: str = ""  # the employee's (their recent words are forgotten with them)


@dataclass
class IntakeEffects(EffectContext):
    """One update's effects: ``case`` is the employee's case as the effects leave it."""

    desk: Desk
    channel: Channel
    s: AsyncSession
    thread: repo.Thread
    case: Case | None
    to: Recipient
    after: AfterUpdate
    text_key: Callable[[str], str]  # the channel's own wording of a message key, where config has one
    window: Window | None = None
    opened: int | None = None  # the case this update opened (no timers of its own yet)

    def _now(self) -> datetime:
        return self.desk.now()

    def _with_case(self, effect: object) -> Case | None:
        if self.case is None:
            log.error("flow effect %s without a case; ignored", type(effect).__name__)
        return self.case

    def _to_counselor(
        self, effect: RelayToCounselor | WithdrawCase | NotifyCounselor, who: int, text: str
    ) -> None:
        self.after.out.add(urgency(effect), Outgoing(who, text))

    # -- the employee and their contact -------------------------------------------------------------
    async def reply(self, effect: Reply) -> None:
        if self.after.limited and urgency(effect) is not Urgency.CRISIS_REPLY:
            return  # flooding: the words are kept, the routine reply is held back
        params = dict(effect.params)
        if self.case is not None:
            params.setdefault("code", self.case.code)
        text = self.desk.texts.render(self.text_key(effect.key), params)
        self.after.out.add(urgency(effect), Outgoing(self.to, text, self.desk.keyboard(effect.buttons)))

    async def record_contact(self, effect: RecordContact) -> None:
        await repo.record_contact(self.s, self.channel, effect.kind, self._now())

    async def open_case(self, effect: OpenCase) -> None:
        employee = self.thread.employee
        assert employee is not None
        if self.desk.address_of(employee) != str(self.to.address):  # unchanged: no write
            employee.contact_enc = self.desk.seal_contact(self.to.address)
        self.case = await repo.open_case(
            self.s, channel=self.channel, employee_id=employee.id, category=effect.category, now=self._now()
        )
        self.opened = self.case.id

    async def forget_me(self, effect: ForgetMe) -> None:
        desk, thread, after = self.desk, self.thread, self.after
        if thread.employee is not None:
            gone = await forget(self.s, thread.employee, desk.now())
            for _case_id, code, counselor_id in gone.ended:
                if counselor_id is not None:
                    after.out.routine(
                        Outgoing(counselor_id, desk.render("counselor.employee_left", code=code))
                    )
            for counselor_id, start in gone.bookings_ended:  # their sessions end; the slots are free again
                text = desk.render("booking.counselor.forgotten", start=start)
                after.out.routine(Outgoing(counselor_id, text))
            thread.employee = thread.conversation = thread.case = None
        elif after.pseudonym:  # nothing kept of them but, on LINE, perhaps a stored event
            await forget_unknown(self.s, after.pseudonym, desk.now())
        after.out.routine(Outgoing(self.to, desk.render("forget.done")))
        if self.window is not None:
            await self.window.forget(self.s, after.pseudonym)
        self.case = None

    async def show_my_data(self, effect: ShowMyData) -> None:
        desk = self.desk
        data = await my_data(self.s, self.thread.employee, desk.now())
        if not data.cases and not data.has_contact:
            self.after.out.routine(Outgoing(self.to, desk.render("mydata.none")))
            return
        cases = "、".join(
            f"{code}（{desk.texts.get(f'status.{status}')}）" for code, _channel, status in data.cases
        )
        contact = desk.texts.get("mydata.contact_yes" if data.has_contact else "mydata.contact_no")
        text = desk.render(
            "mydata.summary",
            count=len(data.cases),
            cases=cases or "—",
            messages=data.messages,
            contact=contact,
        )
        self.after.out.routine(Outgoing(self.to, text))

    # -- the employee's case (logged and skipped when there is none) ---------------------------------
    async def store_inbound(self, effect: StoreInbound) -> None:
        if (case := self._with_case(effect)) is not None:
            await repo.add_message(
                self.s,
                self.desk.store,
                case,
                direction="inbound",
                text=effect.text,
                now=self._now(),
                screening=effect.screening,
            )

    async def offer_case(self, effect: OfferCase) -> None:
        if (case := self._with_case(effect)) is not None:
            self.after.offer_case = case.id

    async def queue_case(self, effect: QueueCase) -> None:
        if (case := self._with_case(effect)) is not None:
            await repo.schedule(self.s, TimerKind.CASE_OFFER, effect.opens_at, self._now(), case_id=case.id)
            self.desk.wake_timers()

    async def relay_to_counselor(self, effect: RelayToCounselor) -> None:
        case = self._with_case(effect)
        if case is not None and case.counselor_id is not None and not self.after.limited:
            text = self.desk.render("counselor.relay", code=case.code, text=effect.text)
            self._to_counselor(effect, case.counselor_id, text)

    async def mark_risk(self, effect: MarkRisk) -> None:
        if (case := self._with_case(effect)) is not None:
            repo.raise_risk(case, effect.screening.risk)

    async def mark_inbound(self, effect: MarkInbound) -> None:
        if (case := self._with_case(effect)) is not None:
            await repo.remark_last_inbound(self.s, case, effect.screening)

    async def alert_on_duty(self, effect: AlertOnDuty) -> None:
        if (case := self._with_case(effect)) is not None:
            # Decided and recorded in this same transaction: the alert leaves right after the commit.
            alert = await self.desk.alerts.prepare_alert(
                self.s, case, effect.screening, effect.text, self._now(), fresh=case.id == self.opened
            )
            self.after.out.alert(alert)

    async def withdraw_case(self, effect: WithdrawCase) -> None:
        case = self._with_case(effect)
        if case is None:
            return
        after, now = self.after, self._now()
        if case.status == CaseStatus.ACTIVE.value:  # issue 7: a served case ends (survey)
            after.ended = case.id
            if case.counselor_id is not None:  # also when the claim came a moment before /cancel
                text = self.desk.render("counselor.employee_left", code=case.code)
                self._to_counselor(effect, case.counselor_id, text)
                after.counselor_told = True
        await repo.close_case(self.s, case, "withdrawn", now)
        await repo.cancel_timers(
            self.s,
            case.id,
            [
                TimerKind.CASE_OFFER,
                TimerKind.SESSION_REMIND,
                TimerKind.CRISIS_ESCALATE,
                TimerKind.CRISIS_RESEND,
            ],
            now,
        )

    async def notify_counselor(self, effect: NotifyCounselor) -> None:
        case = self._with_case(effect)
        if case is not None and case.counselor_id is not None and not self.after.counselor_told:
            self._to_counselor(effect, case.counselor_id, self.desk.render(effect.key, code=case.code))


__all__ = ["AfterUpdate", "IntakeEffects"]
