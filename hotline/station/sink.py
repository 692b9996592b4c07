"""Received mail into cases: the IMAP poller's cursor store and sink, backed by the database.

Each batch is one transaction: the mails (raw bytes encrypted), their cases, messages, thread keys,
acknowledgements queued in the outbox, timers, and the mailbox cursor. A crash anywhere before the commit
stores nothing and moves no cursor; the dedup keys make a re-fetched mail a no-op. Telegram messages to
counselors (cards, alerts, follow-ups) go out after the commit (``station.aftercommit``). The mail flow's
effects are executed by the one executor (``hotline.executor``) in each mail's
:class:`~hotline.station.mail_effects.MailEffects`.

A batch costs a fixed handful of queries, not a handful per mail: everything the rules need to know
(known dedup keys, correspondents, thread keys, cases, open reply windows) is read up front
(`station.prepare`), new rows are linked by relationship and inserted in one flush at the end (DESIGN §5b:
batch where a batch is natural).

Who sent a mail is taken from its From line, which anyone can forge (issue 19): a sender's Message-IDs
thread only that sender's mail, a mail from another address in a case's thread is marked for the
counselor, and an erasure needs the one-time code mailed to the address (`station.erasure`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.crypto import CONTACT_CONTEXT, MAIL_CONTEXT
from hotline.desk import Desk
from hotline.domain import CaseStatus, Channel, Screening, email_identity
from hotline.executor import execute
from hotline.flows import mailcase
from hotline.mailbox.compose import is_address
from hotline.mailbox.parse import ParsedMail, parse_message
from hotline.mailbox.ports import FetchedMail
from hotline.screening.fragments import WHOLE_LIMIT
from hotline.screening_service import ScreeningService
from hotline.station.aftercommit import after_commit
from hotline.station.batch import (
    MAIL_TIMERS,
    After,
    Batch,
    forget_kind,
    inbound_row,
    keyed,
    same_person,
)
from hotline.station.erasure import MailErasure
from hotline.station.mail_effects import MailEffects
from hotline.station.outbox import Outbox
from hotline.station.prepare import prepare
from hotline.station.setaside import SetAside, advance_cursor, store_each
from hotline.storage.mail_keys import sender_key, stored_key
from hotline.storage.models import Case, Employee, Mail, MailCursor, Timer

log = logging.getLogger(__name__)


def screened_reading(mail: ParsedMail) -> tuple[str, tuple[str, ...]]:
    """What of a mail is screened, as ``ScreeningService.screen_all`` reads it: the new text (quoted earlier
    mail is not) and the subject. A new text short enough to be read whole is read by the learned layer
    as a message of its own, and the subject apart (read only joined to an ordinary subject, a short crisis
    text was diluted below the threshold: docs/screening.md, thirteenth round); the lexicon reads them
    joined. A longer one is read by sentence anyway, the subject among them: it stays joined to it."""
    body, subject = mail.new_text.strip(), mail.subject.strip()
    if not body or not subject:
        return body or subject, ()
    if len(body) > WHOLE_LIMIT:
        return f"{subject}\n{body}", ()
    return body, (subject,)


class MailStation:
    """Implements :class:`~hotline.mailbox.ports.MailCursorStore` and :class:`MailSink`."""

    def __init__(self, desk: Desk, outbox: Outbox, screening: ScreeningService) -> None:
        self.desk = desk
        self.outbox = outbox
        self.screening = screening
        self.erasure = MailErasure(desk, outbox)

    # -- cursor store ---------------------------------------------------------------------------------
    async def load_cursor(self, mailbox: str) -> tuple[int, int] | None:
        async with self.desk.store.unit() as s:
            row = await s.get(MailCursor, mailbox)
            return (row.uidvalidity, row.last_uid) if row is not None else None

    # -- sink -----------------------------------------------------------------------------------------
    async def store_batch(
        self,
        mailbox: str,
        uidvalidity: int,
        messages: Sequence[FetchedMail],
        parsed_ahead: Sequence[ParsedMail] | None = None,
    ) -> None:
        """Store one batch; if the database refuses it, a mail a transaction, setting aside each mail
        that still cannot be stored (`station.setaside`): one mail never stops intake."""
        try:
            after = await self._store_batch(mailbox, uidvalidity, messages, parsed_ahead)
        except Exception as exc:
            log.error("a batch of %d mails could not be stored (%s)", len(messages), type(exc).__name__)
            set_aside = SetAside(self.desk.store, self._key, self.desk.now())
            done = await store_each(
                self._store_batch, set_aside, mailbox, uidvalidity, messages, parsed_ahead
            )
        else:
            done = [after]
        for each in done:  # after the commits: alerts out, counselors told
            await after_commit(self.desk, self.outbox, each)

    async def _store_batch(
        self,
        mailbox: str,
        uidvalidity: int,
        messages: Sequence[FetchedMail],
        parsed_ahead: Sequence[ParsedMail] | None = None,
    ) -> After:
        """Store one batch (see the module doc); ``parsed_ahead``: the mails already parsed, in order
        (by the `mail poll --once` helper process)."""
        mails = parsed_ahead if parsed_ahead is not None else [parse_message(m.raw) for m in messages]
        parsed = [(fetched, keyed(mail, self._key)) for fetched, mail in zip(messages, mails, strict=True)]
        # Screened before the transaction: the learned layer works in a thread, on the whole batch at once.
        readings = [screened_reading(mail) for _, mail in parsed]
        screenings = dict(
            zip(
                (id(mail) for _, mail in parsed),
                await self.screening.screen_all(
                    [text for text, _ in readings], [prior for _, prior in readings]
                ),
                strict=True,
            )
        )
        after = After()
        async with self.desk.store.unit() as s:
            keys = [mail.dedup_key for _, mail in parsed]
            seen = set((await s.scalars(select(Mail.dedup_key).where(Mail.dedup_key.in_(keys)))).all())
            fresh: list[tuple[FetchedMail, ParsedMail]] = []
            for fetched, mail in parsed:
                if mail.dedup_key not in seen:
                    seen.add(mail.dedup_key)
                    fresh.append((fetched, mail))
            batch = await self._prepare(s, [mail for _, mail in fresh])
            batch.lease_until = self.outbox.lease_for_hand_off(batch.now)
            with s.no_autoflush:
                for fetched, mail in fresh:
                    await self._one_or_keep(
                        batch, mailbox, uidvalidity, fetched, mail, screenings[id(mail)], after
                    )
                if batch.closed_windows:  # before the new timers are flushed, so only old ones close
                    await s.execute(
                        update(Timer)
                        .where(
                            Timer.case_id.in_(batch.closed_windows), Timer.kind.in_(MAIL_TIMERS),
                            Timer.fired_at.is_(None), Timer.cancelled_at.is_(None),
                        )
                        .values(cancelled_at=batch.now)
                        .execution_options(synchronize_session=False)
                    )  # fmt: skip
            await batch.flush()
            # The batch's alerts are recorded in its own transaction (one look at who is on duty), and
            # sent after the commit; should the process stop in between, the RESEND timers send them.
            after.prepared = await self.desk.alerts.prepare_alerts(s, after.alerts)
            await self.erasure.erase(s, batch)
            after.handed = await batch.still_handed()
            if messages:
                await advance_cursor(s, mailbox, uidvalidity, max(m.uid for m in messages))
        return after

    def _key(self, message_id: str) -> str:
        return stored_key(self.desk.store.vault, message_id)

    def _their_key(self, sender: str, message_id: str) -> str:
        return sender_key(self.desk.store.vault, sender, message_id)

    def _pseudonym(self, address: str) -> str:
        return self.desk.store.vault.pseudonym(Channel.EMAIL.value, email_identity(address))

    async def _prepare(self, s: AsyncSession, mails: Sequence[ParsedMail]) -> Batch:
        batch = Batch(s, self.desk.now(), self._key, self._their_key)
        await prepare(batch, mails, self._pseudonym, self.desk.settings.email)
        return batch

    # -- one mail -------------------------------------------------------------------------------------
    async def _one_or_keep(
        self,
        batch: Batch,
        mailbox: str,
        uidvalidity: int,
        fetched: FetchedMail,
        mail: ParsedMail,
        screening: Screening | None,
        after: After,
    ) -> None:
        """One mail; if it cannot be handled, undo what it began, keep its bytes for a human and go on:
        one odd mail must never hold up the mails behind it (a crisis among them)."""
        rows, made, forgets = len(batch.rows), len(batch.made), len(batch.forgets)
        maps = (dict(batch.employees), dict(batch.threads), dict(batch.codes), list(batch.new_codes))
        issued, spent = len(batch.codes_issued), set(batch.codes_spent)
        counted, sent = dict(batch.auto_mails), len(batch.auto_sent)
        try:
            if screening is None:
                raise ValueError("the mail could not be screened")
            await self._one(batch, mailbox, uidvalidity, fetched, mail, screening, after)
        except Exception as exc:
            log.error(
                "mail uid %s could not be handled (%s); kept for a human", fetched.uid, type(exc).__name__
            )
            del batch.rows[rows:], batch.forgets[forgets:]
            del batch.made[made:]
            batch.employees, batch.threads, batch.codes, batch.new_codes = maps
            del batch.codes_issued[issued:]
            batch.codes_spent = spent
            batch.auto_mails = counted
            del batch.auto_sent[sent:]
            raw = self.desk.store.vault.encrypt_bytes(fetched.raw, context=MAIL_CONTEXT)
            kept = inbound_row(
                mail, mailbox=mailbox, uidvalidity=uidvalidity, uid=fetched.uid, received_at=fetched.internaldate,
                raw_enc=raw, now=batch.now, needs_human=True, malformed=True,
            )  # fmt: skip
            batch.insert(Mail, kept, None)
            after.unreadable += 1

    def _employee(self, batch: Batch, address: str) -> Employee | None:
        if not address:
            return None
        pseudonym = self._pseudonym(address)
        employee = batch.employees.get(pseudonym)
        if employee is None:
            employee = Employee(pseudonym=pseudonym, channel=Channel.EMAIL.value, created_at=batch.now)
            batch.make(employee)
            batch.employees[pseudonym] = employee
        if employee.contact_enc is None:
            employee.contact_enc = self.desk.store.vault.encrypt(address.strip(), context=CONTACT_CONTEXT)
        return employee

    def _thread_case(self, batch: Batch, mail: ParsedMail, employee: Employee | None) -> Case | None:
        """The case of the mail's thread: one of our mails it answers, or an earlier mail of the same
        sender it refers to or that referred to it; else the case code in its subject, when it is that case's own sender."""
        for message_id in mail.thread_keys:
            for key in (self._key(message_id), self._their_key(mail.from_address, message_id)):
                if key in batch.threads:
                    return batch.threads[key]
        # Its own id, which an earlier mail of the same sender referred to (mail arrives out of order).
        own = self._their_key(mail.from_address, mail.message_id) if mail.message_id else None
        if own in batch.threads:
            return batch.threads[own]
        code = mail.case_code_in_subject.upper() if mail.case_code_in_subject else None
        case = batch.codes.get(code) if code else None
        # Only the case's own correspondent can join it by quoting the code.
        if case is not None and case.channel == Channel.EMAIL.value and same_person(case, employee):
            return case
        return None

    async def _one(
        self,
        batch: Batch,
        mailbox: str,
        uidvalidity: int,
        fetched: FetchedMail,
        mail: ParsedMail,
        screening: Screening,
        after: After,
    ) -> None:
        desk = self.desk
        sender = mail.from_address if is_address(mail.from_address) else ""  # "": nobody to answer
        asks = "" if mail.is_auto_reply or not sender else forget_kind(mail, self.desk.settings.email)
        who = self._pseudonym(sender) if sender else ""
        cap = desk.settings.email.auto_mails_per_day
        if asks and who not in batch.employees:
            row = inbound_row(
                mail, mailbox=mailbox, uidvalidity=uidvalidity, uid=fetched.uid,
                received_at=fetched.internaldate, raw_enc=None, now=batch.now,
            )  # fmt: skip
            if batch.auto_mails.get(who, 0) < cap:
                await self.erasure.nothing_held(batch, mail, row)
                batch.auto_mail_sent(who)
            else:  # nothing held, nothing to do: only the dedup key stays
                log.warning("an erasure request from an address past its daily automatic mails: not answered")
                batch.insert(Mail, {**row, "raw_enc": None}, None)
            return
        employee = None if mail.is_auto_reply else self._employee(batch, sender)
        case = self._thread_case(batch, mail, employee)
        if asks and case is None and employee is not None and employee.id is not None:
            # A request outside the thread: the explanation is threaded to their latest case. (Only a
            # code sent to this address confirms an erasure, and erasure takes all their cases.)
            case = batch.latest_case.get(employee.id)
        proof = batch.proof(mail, employee) if asks == "confirm" else None
        facts = mailcase.MailFacts(
            received_at=fetched.internaldate,
            # What counselors see and what is kept: the subject with the new text (a cry for help may
            # be only in the subject).
            new_text="\n".join(part for part in (mail.subject.strip(), mail.new_text) if part),
            screening=screening,
            auto_reply=mail.is_auto_reply,
            malformed=mail.malformed,
            has_sender=bool(sender),
            forget=asks,
            forget_proven=proof is not None,
            sender_unusable=mail.sender_unusable,
            bounce=mail.is_bounce,
            auto_mails_today=batch.auto_mails.get(who, 0),
        )
        case_facts = None
        if case is not None:
            awaiting = case.id in batch.awaiting if case.id is not None else True
            case_facts = mailcase.CaseFacts(CaseStatus(case.status), awaiting, case.counselor_id is not None)
        due = mailcase.reply_due(fetched.internaldate, desk.settings.email.reply_days, desk.hours.zone)
        ctx = mailcase.MailContext(
            now=batch.now,
            in_service_hours=desk.hours.is_open(batch.now),
            next_opening=desk.hours.next_opening(batch.now),
            reply_due_at=due,
            remind_at=mailcase.reminder_time(due, desk.hours.is_working_day, desk.hours.zone),
            auto_mail_cap=cap,
        )
        row = inbound_row(
            mail, mailbox=mailbox, uidvalidity=uidvalidity, uid=fetched.uid, received_at=fetched.internaldate,
            raw_enc=desk.store.vault.encrypt_bytes(fetched.raw, context=MAIL_CONTEXT), now=batch.now,
        )  # fmt: skip
        # Someone else writing in a case's thread (from home, or not the employee at all) is marked for
        # the counselor, never shown by address, and never changes where answers go (issue 19).
        row["other_sender"] = case is not None and not self._same_sender(batch, case, sender)
        effects = mailcase.on_mail(facts, case_facts, ctx)
        if sender:
            batch.auto_mail_sent(who, mailcase.automatic_mails(effects))
        if proof is not None and mailcase.ForgetSender() in effects:
            batch.codes_spent.add(proof)
        run = MailEffects(self.desk, self.outbox, self.erasure, batch, case, employee, mail, row, after)
        await execute(effects, run)
        case = run.case
        batch.insert(Mail, row, case)
        if case is not None:
            # The mail's own id and the ids it refers to: that sender's later mails referring to any of
            # them join.
            batch.link_theirs(case, mail.from_address, (mail.message_id, *mail.thread_keys))
        after.stored += 1

    def _same_sender(self, batch: Batch, case: Case, sender: str) -> bool:
        return bool(sender) and same_person(case, batch.employees.get(self._pseudonym(sender)))


__all__ = ["MailStation"]
