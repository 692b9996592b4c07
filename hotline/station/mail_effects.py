"""What the effects of the e-mail case flow do for one mail of a batch (``flows/mailcase``).

:class:`MailEffects` is the :class:`~hotline.executor.EffectContext` of one mail: rows are queued in the
batch (inserted in one flush at its end, see ``station.sink``), the acknowledgement and the crisis reply
go through the e-mail :class:`~hotline.ports.EmployeeChannel` (``station.mail_channel``), which queues
them in the outbox with the batch (sent after the commit), alerts and counselor notices are
collected in ``after`` and go out after the commit. Nothing here touches the database or the network
itself. The effects are matched once, in ``hotline.executor``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hotline.alerts import RESEND, RESEND_AFTER
from hotline.desk import Desk
from hotline.domain import CaseStatus, Channel, Risk
from hotline.executor import EffectContext
from hotline.flows import mailcase
from hotline.flows.vocabulary import (
    AlertOnDuty,
    MarkRisk,
    OfferCase,
    OpenCase,
    QueueCase,
    RelayToCounselor,
    StoreInbound,
)
from hotline.mailbox.parse import ParsedMail
from hotline.ports import EmployeeChannel, Recipient
from hotline.station.batch import After, Batch
from hotline.station.erasure import MailErasure
from hotline.station.mail_channel import MailReplies, MailThread, batch_queue, mail_recipient
from hotline.station.outbox import Outbox
from hotline.storage import repo
from hotline.storage.models import Case, Employee, Message
from hotline.timer_kinds import TimerKind


@dataclass
class MailEffects(EffectContext):
    """One mail's effects: ``case`` is the mail's case as the effects leave it (the flow opens one
    first; without a case the mail is only kept, and the effects that act on a case do nothing)."""

    desk: Desk
    outbox: Outbox
    erasure: MailErasure
    batch: Batch
    case: Case | None
    employee: Employee | None
    mail: ParsedMail
    row: dict[str, Any]  # the mail's own row, inserted after its effects
    after: After

    def _marked(self, text: str) -> str:
        """A mail from someone other than the case's own correspondent is marked for the counselor."""
        if self.row["other_sender"]:
            return f"{self.desk.render('counselor.mail.other_sender')}\n{text}"
        return text

    # -- the mail and its sender ----------------------------------------------------------------------
    async def open_case(self, effect: OpenCase) -> None:
        batch = self.batch
        new = Case(
            code=batch.new_codes.pop(),
            channel=Channel.EMAIL.value,
            status=CaseStatus.WAITING.value,
            category=None,
            risk=Risk.NONE.value,
            employee=self.employee,
            opened_at=self.row["received_at"],
            message_count=0,
        )
        batch.make(new)
        batch.codes[new.code] = new
        self.case = new

    async def explain_forget(self, effect: mailcase.ExplainForget) -> None:
        if self.employee is not None:  # always: only a known sender's request is explained
            await self.erasure.explain(self.batch, effect, self.case, self.employee, self.mail)
            self.after.stored += 1

    async def forget_sender(self, effect: mailcase.ForgetSender) -> None:
        if self.employee is not None:
            self.batch.forgets.append((self.employee, self.mail.from_address, self.mail))
            self.row["raw_enc"] = None  # nothing of theirs stays, whatever case the mail lands in

    def _reply(self, kind: str) -> EmployeeChannel:
        """The e-mail channel for one machine-sent reply to this mail, in its thread (and its case's, if
        any), queued in the batch: it leaves after the batch commits."""
        thread = MailThread.replying_to(self.mail, self.case)
        return MailReplies(self.outbox, thread, batch_queue(self.batch), kind=kind)

    @property
    def _sender(self) -> Recipient:
        return mail_recipient(self.mail.from_address)

    async def crisis_reply(self, effect: mailcase.CrisisReply) -> None:
        case = self.case
        key = "mail.crisis_imminent" if effect.risk is Risk.IMMINENT else "mail.crisis_elevated"
        text = self.desk.render(key, code=case.code if case else "—")
        await self._reply("crisis").send_text(self._sender, text)

    async def flag_for_human(self, effect: mailcase.FlagForHuman) -> None:
        self.row["needs_human"] = True
        self.after.flagged.append((self.case, effect.reason))

    async def keep_only(self, effect: mailcase.KeepOnly) -> None:
        pass

    # -- the mail's case ------------------------------------------------------------------------------
    async def start_reply_window(self, effect: mailcase.StartReplyWindow) -> None:
        if (case := self.case) is None:
            return
        batch = self.batch
        case.reply_due_at = effect.due_at
        if case.id is not None:
            batch.closed_windows.add(case.id)
        batch.schedule(case, TimerKind.EMAIL_REMIND, max(effect.remind_at, batch.now))
        batch.schedule(case, TimerKind.EMAIL_ESCALATE, effect.due_at)
        if case.id is not None:
            batch.awaiting.add(case.id)

    async def acknowledge(self, effect: mailcase.Acknowledge) -> None:
        if (case := self.case) is None:
            return
        # The one acknowledgement of a new case; for a crisis it leads with the crisis reply (1925, and
        # 110/119 when imminent): one mail, not two.
        desk = self.desk
        key = {None: "mail.ack_text", Risk.IMMINENT: "mail.ack_crisis_imminent"}.get(
            effect.crisis, "mail.ack_crisis_elevated"
        )
        due_date = desk.texts.format_date(effect.due_at.astimezone(desk.hours.zone).date())
        await self._reply("ack").send_text(self._sender, desk.render(key, code=case.code, due_date=due_date))

    async def reopen(self, effect: mailcase.Reopen) -> None:
        if (case := self.case) is not None:
            case.status, case.counselor_id, case.outcome, case.closed_at = (
                CaseStatus.WAITING.value,
                None,
                None,
                None,
            )

    async def store_inbound(self, effect: StoreInbound) -> None:
        if (case := self.case) is None:
            return
        message = {
            "direction": "inbound", "counselor_id": None, "content_enc": self.desk.store.seal(effect.text),
            "risk": effect.screening.risk.value, "cues": list(effect.screening.cues),
            "created_at": self.batch.now, "other_sender": self.row["other_sender"],
        }  # fmt: skip
        self.batch.insert(Message, message, case)
        case.message_count = (case.message_count or 0) + 1
        repo.raise_risk(case, effect.screening.risk)

    async def offer_case(self, effect: OfferCase) -> None:
        if self.case is not None:
            self.after.offers.append(self.case)

    async def queue_case(self, effect: QueueCase) -> None:
        if self.case is not None:
            self.batch.schedule(self.case, TimerKind.CASE_OFFER, effect.opens_at)

    async def relay_to_counselor(self, effect: RelayToCounselor) -> None:
        case = self.case
        if case is not None and case.counselor_id is not None:
            self.after.relays.append((case.counselor_id, case.code, self._marked(effect.text)))

    async def mark_risk(self, effect: MarkRisk) -> None:
        if self.case is not None:
            repo.raise_risk(self.case, effect.screening.risk)

    async def alert_on_duty(self, effect: AlertOnDuty) -> None:
        if (case := self.case) is None:
            return
        now = self.batch.now
        self.after.alerts.append((case, effect.screening, self._marked(effect.text), now))
        # In the batch's own transaction: should the process stop before the alert is out, the timer
        # loop sends it (the alert after the commit takes this timer over).
        self.batch.schedule(case, RESEND, now + RESEND_AFTER)


__all__ = ["MailEffects"]
