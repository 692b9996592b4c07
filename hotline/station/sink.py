"""Received mail into cases: the IMAP poller's cursor store and sink, backed by the database.

Each batch is one transaction: the mails (raw bytes encrypted), their cases, messages, thread keys,
acknowledgements queued in the outbox, timers, and the mailbox cursor. A crash anywhere before the commit
stores nothing and moves no cursor; the dedup keys make a re-fetched mail a no-op. Telegram messages to
counselors (cards, alerts, follow-ups) go out after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.bot.desk import Desk, Outgoing
from hotline.domain import CaseStatus, Channel, Screening
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
from hotline.mailbox.parse import ParsedMail, parse_message
from hotline.mailbox.ports import FetchedMail
from hotline.station.outbox import Outbox
from hotline.storage import repo
from hotline.storage.models import Case, Employee, Mail, MailCursor, ThreadKey

log = logging.getLogger(__name__)

MAIL_CONTEXT = b"mail"
MAIL_TIMERS = ("email.remind", "email.escalate")


@dataclass
class _After:
    offers: list[int] = field(default_factory=list)
    alerts: list[tuple[int, Screening, str]] = field(default_factory=list)
    sends: list[Outgoing] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    stored: int = 0


class MailStation:
    """Implements :class:`~hotline.mailbox.ports.MailCursorStore` and :class:`MailSink`."""

    def __init__(self, desk: Desk, outbox: Outbox, screen: Callable[[str], Screening]) -> None:
        self.desk = desk
        self.outbox = outbox
        self.screen = screen

    # -- cursor store ---------------------------------------------------------------------------------
    async def load_cursor(self, mailbox: str) -> tuple[int, int] | None:
        async with self.desk.store.unit() as s:
            row = await s.get(MailCursor, mailbox)
            return (row.uidvalidity, row.last_uid) if row is not None else None

    # -- sink -----------------------------------------------------------------------------------------
    async def store_batch(self, mailbox: str, uidvalidity: int, messages: Sequence[FetchedMail]) -> None:
        parsed = [(fetched, parse_message(fetched.raw)) for fetched in messages]
        after = _After()
        async with self.desk.store.unit() as s:
            keys = [mail.dedup_key for _, mail in parsed]
            seen = set((await s.scalars(select(Mail.dedup_key).where(Mail.dedup_key.in_(keys)))).all())
            for fetched, mail in parsed:
                if mail.dedup_key in seen:
                    continue
                seen.add(mail.dedup_key)
                await self._one(s, mailbox, uidvalidity, fetched, mail, after)
            if messages:
                await self._advance(s, mailbox, uidvalidity, max(m.uid for m in messages))
        await self._after(after)

    async def _advance(self, s: AsyncSession, mailbox: str, uidvalidity: int, last_uid: int) -> None:
        row = await s.get(MailCursor, mailbox)
        if row is None:
            s.add(MailCursor(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=last_uid))
        else:
            row.uidvalidity, row.last_uid = (
                uidvalidity,
                max(last_uid, row.last_uid if row.uidvalidity == uidvalidity else 0),
            )

    # -- one mail -------------------------------------------------------------------------------------
    async def _employee(self, s: AsyncSession, address: str) -> Employee | None:
        if not address:
            return None
        vault = self.desk.store.vault
        pseudonym = vault.pseudonym(Channel.EMAIL.value, address.strip().lower())
        employee = await s.scalar(select(Employee).where(Employee.pseudonym == pseudonym))
        if employee is None:
            employee = await repo.ensure_employee(s, pseudonym, Channel.EMAIL, self.desk.now())
        if employee.contact_enc is None:
            employee.contact_enc = vault.encrypt(address.strip(), context=b"contact")
        return employee

    async def _thread_case(self, s: AsyncSession, mail: ParsedMail, employee: Employee | None) -> Case | None:
        if mail.thread_keys:
            found = await s.scalar(
                select(ThreadKey.case_id).where(ThreadKey.message_id.in_(mail.thread_keys))
            )
            if found is not None:
                return await s.get(Case, found)
        if mail.case_code_in_subject and employee is not None:
            case = await repo.case_by_code(s, mail.case_code_in_subject)
            # Only the case's own correspondent can join it by quoting the code.
            if case is not None and case.channel == Channel.EMAIL.value and case.employee_id == employee.id:
                return case
        return None

    async def _one(
        self,
        s: AsyncSession,
        mailbox: str,
        uidvalidity: int,
        fetched: FetchedMail,
        mail: ParsedMail,
        after: _After,
    ) -> None:
        desk = self.desk
        now = desk.now()
        employee = None if mail.is_auto_reply else await self._employee(s, mail.from_address)
        case = await self._thread_case(s, mail, employee)
        screened = "\n".join(part for part in (mail.subject, mail.new_text) if part)
        facts = mailcase.MailFacts(
            received_at=fetched.internaldate,
            new_text=mail.new_text,
            screening=self.screen(screened),
            auto_reply=mail.is_auto_reply,
            malformed=mail.malformed,
            has_sender=bool(mail.from_address),
        )
        case_facts = None
        if case is not None:
            awaiting = await repo.has_pending_timer(s, case.id, "email.escalate")
            case_facts = mailcase.CaseFacts(CaseStatus(case.status), awaiting, case.counselor_id is not None)
        due = mailcase.reply_due(fetched.internaldate, desk.settings.email.reply_days, desk.hours.zone)
        ctx = mailcase.MailContext(
            now=now,
            in_service_hours=desk.hours.is_open(now),
            next_opening=desk.hours.next_opening(now),
            reply_due_at=due,
            remind_at=mailcase.reminder_time(due, desk.hours.is_working_day, desk.hours.zone),
        )
        row = Mail(
            direction="inbound",
            dedup_key=mail.dedup_key,
            mailbox=mailbox,
            uidvalidity=uidvalidity,
            uid=fetched.uid,
            received_at=fetched.internaldate,
            raw_enc=desk.store.vault.encrypt_bytes(fetched.raw, context=MAIL_CONTEXT),
            auto_reply=mail.is_auto_reply,
            malformed=mail.malformed,
            attachments=len(mail.attachments),
            created_at=now,
        )
        for effect in mailcase.on_mail(facts, case_facts, ctx):
            case = await self._apply(s, effect, case, employee, mail, row, after)
        row.case_id = case.id if case is not None else None
        s.add(row)
        if case is not None:
            # The mail's own id and the ids it refers to: later mails referring to any of them join.
            for key in (mail.message_id, *mail.thread_keys):
                if key:
                    await self._thread_key(s, key, case.id)
        after.stored += 1

    async def _thread_key(self, s: AsyncSession, message_id: str, case_id: int) -> None:
        if await s.get(ThreadKey, message_id) is None:
            s.add(ThreadKey(message_id=message_id, case_id=case_id))

    async def _apply(
        self,
        s: AsyncSession,
        effect: mailcase.MailEffect,
        case: Case | None,
        employee: Employee | None,
        mail: ParsedMail,
        row: Mail,
        after: _After,
    ) -> Case | None:
        desk = self.desk
        now = desk.now()
        if isinstance(effect, OpenCase):
            return await repo.open_case(
                s,
                channel=Channel.EMAIL,
                employee_id=employee.id if employee else None,
                category=None,
                now=row.received_at,
            )
        if isinstance(effect, mailcase.KeepOnly) or case is None:
            return case
        if isinstance(effect, mailcase.StartReplyWindow):
            case.reply_due_at = effect.due_at
            await repo.cancel_timers(s, case.id, MAIL_TIMERS, now)
            await repo.schedule(s, "email.remind", max(effect.remind_at, now), now, case_id=case.id)
            await repo.schedule(s, "email.escalate", effect.due_at, now, case_id=case.id)
            desk.wake_timers()
        elif isinstance(effect, mailcase.Acknowledge):
            message_id = await self.outbox.acknowledge(s, case, mail, effect.due_at)
            await self._thread_key(s, message_id, case.id)
        elif isinstance(effect, mailcase.Reopen):
            case.status, case.counselor_id, case.outcome, case.closed_at = (
                CaseStatus.WAITING.value,
                None,
                None,
                None,
            )
        elif isinstance(effect, StoreInbound):
            await repo.add_message(
                s,
                desk.store,
                case,
                direction="inbound",
                text=effect.text,
                now=now,
                screening=effect.screening,
            )
        elif isinstance(effect, OfferCase):
            after.offers.append(case.id)
        elif isinstance(effect, QueueCase):
            await repo.schedule(s, "case.offer", effect.opens_at, now, case_id=case.id)
        elif isinstance(effect, RelayToCounselor) and case.counselor_id is not None:
            text = desk.render("counselor.mail.followup", code=case.code, text=effect.text)
            after.sends.append(Outgoing(case.counselor_id, text))
        elif isinstance(effect, MarkRisk):
            repo.raise_risk(case, effect.screening.risk)
        elif isinstance(effect, AlertOnDuty):
            after.alerts.append((case.id, effect.screening, effect.text))
        elif isinstance(effect, mailcase.FlagForHuman):
            row.needs_human = True
            after.flagged.append(case.code)
        return case

    async def _after(self, after: _After) -> None:
        desk = self.desk
        for case_id, screening, text in after.alerts:
            await desk.alert(case_id, screening, text)
        await desk.deliver(after.sends)
        for case_id in after.offers:
            await desk.offer(case_id)
        if after.flagged:
            async with desk.store.unit() as s:
                people = await repo.on_duty(s) or await repo.supervisors(s)
            await desk.deliver(
                [
                    Outgoing(p.telegram_id, desk.render("counselor.mail.flagged", code=code))
                    for code in after.flagged
                    for p in people
                ]
            )
        if after.stored:
            self.outbox.wake()

    # -- timers -----------------------------------------------------------------------------------------
    async def remind(self, case_id: int, *, overdue: bool) -> None:
        """``email.remind`` (on-duty counselors) and ``email.escalate`` (supervisors) timers."""
        desk = self.desk
        async with desk.store.unit() as s:
            case = await s.get(Case, case_id)
            if case is None or case.status == CaseStatus.CLOSED.value or case.reply_due_at is None:
                return
            people = await repo.supervisors(s) if overdue else await repo.on_duty(s)
            if not overdue and case.counselor_id is not None:
                holder = await repo.counselor(s, case.counselor_id)
                people = [holder] if holder is not None else people
            if not people:
                people = await repo.supervisors(s)
            key = "counselor.mail.overdue" if overdue else "counselor.mail.reminder"
            text = desk.render(key, code=case.code, due=desk.texts.format_datetime(case.reply_due_at))
        await desk.deliver([Outgoing(p.telegram_id, text) for p in people])
