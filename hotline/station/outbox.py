"""Mail out: acknowledgements and counselors' answers, kept in the ``outbox`` table until sent.

Each message is composed once and stored (encrypted) as the exact bytes to send, with its Message-ID:
a retry sends the same message. A failure is retried with exponential backoff (capped); a permanent
refusal (5xx) stops and tells the counselor. A row is marked sent as soon as the server accepted it, so a
restart does not send it again: rows accepted while one commit is under way are marked together in the
next (group commit), so marking costs a commit per group, not per mail, and the one window left is still
a crash between the server's acceptance and that commit (the unchanged Message-ID then lets mail clients
fold the copy).

Rows are claimed with a lease (``SEND_LEASE``) before they are sent: no other sender takes them
meanwhile, and a run does not send a queued row whose lease is about to end (``sending.LEASE_MARGIN``:
another sender may claim it then). A mail poll's stored batches write their rows already claimed, in the
batch's own transaction, and hand them to the sender beside the poll after the commit (`hand`): no claim
transaction for them, and the same guarantee across a crash as for claimed rows (due when the lease is
over, then sent once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, select, update

from hotline.crypto import CONTACT_CONTEXT, MAIL_CONTEXT
from hotline.desk import Desk, Outgoing
from hotline.domain import email_identity
from hotline.loops import WakeableLoop
from hotline.mailbox.compose import compose_reply_bytes
from hotline.mailbox.errors import MailSendFailed
from hotline.mailbox.parse import parse_message
from hotline.mailbox.smtp import SmtpConfig, SmtpSession
from hotline.ports import EmployeeChannel
from hotline.station.mail_channel import (
    MailReplies,
    MailThread,
    mail_recipient,
    quotable,
    session_queue,
    thread_subject,
)
from hotline.station.sending import SESSIONS, Job, SendRun
from hotline.storage import repo
from hotline.storage.models import Case, Employee, Mail
from hotline.storage.models import Outbox as OutboxRow
from hotline.timer_kinds import TimerKind

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_WAIT_SECONDS = 30.0
BATCH = 200
CLAIM_AHEAD = 8 * SESSIONS  # what a mail poll's sender keeps queued (minutes from its lease running out)
SEND_LEASE = timedelta(minutes=5)  # a message being sent is not due for anyone else meanwhile

# Mail to someone being forgotten (or asking to be), and survey invitations (their code must not stay
# with the case): the row goes once sent, so no address or code stays behind.
ERASE_AFTER_SEND = frozenset({"forget_explain", "forget_done", "survey"})


class Outbox:
    def __init__(
        self,
        desk: Desk,
        smtp: SmtpConfig | None,
        mail_from: str,
        *,
        session_factory: Callable[[SmtpConfig], SmtpSession] = SmtpSession,
    ) -> None:
        self.desk = desk
        self.smtp = smtp
        self.mail_from = mail_from
        self.domain = mail_from.rpartition("@")[2] or "localhost"
        self._session_factory = session_factory
        self._loop = WakeableLoop("hotline-outbox", self._step, error_wait=5.0)
        self._queued = asyncio.Event()  # for `send_alongside`: something was queued since the last look
        self._alongside: SendRun | None = None  # the run of `send_alongside`, while it goes on

    # -- composing ------------------------------------------------------------------------------------
    def compose(
        self, kind: str, to: str, subject: str, text: str, *, auto: bool, in_reply_to: str | None,
        references: Sequence[str], counselor_id: int | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The values of one outbox row (no case id yet): the message composed once, encrypted."""
        desk = self.desk
        raw, message_id = compose_reply_bytes(
            to=to,
            mail_from=self.mail_from,
            subject=subject,
            in_reply_to=in_reply_to,
            references=references,
            text=text,
            html=None,
            message_id_domain=self.domain,
            date=desk.now(),
            auto_submitted=auto,
        )
        vault = desk.store.vault
        return {
            "kind": kind,
            "message_id": message_id,
            "recipient_enc": vault.encrypt(to, context=CONTACT_CONTEXT),
            "raw_enc": vault.encrypt_bytes(raw, context=MAIL_CONTEXT),
            "counselor_id": counselor_id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": desk.now(),
            "created_at": desk.now(),
        }

    async def answer(self, case_id: int, text: str, counselor_id: int, *, kind: str = "answer") -> bool:
        """Queue a counselor's answer (or a referral) in the case's thread; False if it cannot be sent.

        It goes to the case's own sender, threaded on (and titled after) that sender's latest mail: a
        mail from another address in the thread never changes where or how answers go (issue 19)."""
        desk = self.desk
        async with desk.store.unit() as s:
            case = await s.get(Case, case_id)
            if case is None or case.employee_id is None:
                return False
            employee = await s.get(Employee, case.employee_id)
            if employee is None or employee.contact_enc is None:
                return False
            to = desk.store.vault.decrypt(employee.contact_enc, context=CONTACT_CONTEXT)
            last = await s.scalar(
                select(Mail)
                .where(
                    Mail.case_id == case.id,
                    Mail.direction == "inbound",
                    Mail.auto_reply.is_(False),
                    Mail.other_sender.is_(False),
                )
                .order_by(Mail.received_at.desc(), Mail.id.desc())
                .limit(1)
            )
            original = (
                parse_message(desk.store.vault.decrypt_bytes(last.raw_enc, context=MAIL_CONTEXT))
                if last and last.raw_enc
                else None
            )
            # Our own earlier mails in the thread (their ids are ours, kept as sent; the employee's are
            # kept only keyed, and come from the mail answered, whose References carry the thread).
            # (Only those sent to this same address: a crisis reply to someone else in the thread is not
            # part of the employee's conversation.)
            sent = await s.execute(
                select(OutboxRow.message_id, OutboxRow.recipient_enc)
                .where(OutboxRow.case_id == case.id)
                .order_by(OutboxRow.id)
            )
            vault = desk.store.vault
            ours = [
                message_id
                for message_id, recipient_enc in sent.all()
                if email_identity(vault.decrypt(recipient_enc, context=CONTACT_CONTEXT)) == email_identity(to)
            ]
            in_reply_to = original.message_id if original else None
            thread = MailThread(
                subject=thread_subject(quotable(original) if original else "", case.code),
                in_reply_to=in_reply_to,
                references=(
                    *(original.references if original else ()),
                    *(m for m in ours if m != in_reply_to),
                ),
                case=case,
            )
            port: EmployeeChannel = MailReplies(
                self, thread, session_queue(s, vault), kind=kind, auto=False, counselor_id=counselor_id
            )
            await port.send_text(
                mail_recipient(to), desk.render("mail.answer_text", code=case.code, text=text)
            )
            if kind == "survey":
                # The invitation carries the survey's one-time code: it must not stay with the case, or
                # the answer could be joined back to it. The case keeps only the fact; the outbox row goes
                # once sent (ERASE_AFTER_SEND).
                text = desk.texts.get("survey.mail_invite_sent")
            else:
                await repo.cancel_timers(
                    s, case.id, [TimerKind.EMAIL_REMIND, TimerKind.EMAIL_ESCALATE], desk.now()
                )
            await repo.add_message(
                s,
                desk.store,
                case,
                direction="outbound",
                text=text,
                now=desk.now(),
                counselor_id=None if kind == "survey" else counselor_id,
            )
        self.wake()
        return True

    # -- sending --------------------------------------------------------------------------------------
    def wake(self) -> None:
        self._loop.wake()
        self._queued.set()

    def start(self) -> None:
        if self.smtp is not None:
            self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    @property
    def alive(self) -> bool:
        return self._loop.alive

    def _backoff(self, attempts: int) -> timedelta:
        cfg = self.desk.settings.email
        return timedelta(
            seconds=min(cfg.send_retry_max_seconds, cfg.send_retry_seconds * 2 ** max(0, attempts - 1))
        )

    def _run(self) -> SendRun:
        assert self.smtp is not None
        return SendRun(
            smtp=self.smtp, session_factory=self._session_factory, mail_from=self.mail_from,
            vault=self.desk.store.vault, record_sent=self._sent, record_failed=self._failed,
            deliver=self.desk.deliver, now=self.desk.now,
        )  # fmt: skip

    async def _claim(self, limit: int = BATCH) -> list[Job]:
        """Up to ``limit`` due messages, claimed with a lease in one statement: another process sending
        at the same time (a `mail poll --once` beside `run`, or a second instance) finds them not due."""
        now = self.desk.now()
        async with self.desk.store.unit() as s:
            due = (
                select(OutboxRow.id)
                .where(OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now)
                .order_by(OutboxRow.id)
                .limit(limit)
                .with_for_update(skip_locked=True)  # PostgreSQL: rows another worker is claiming are skipped
                .scalar_subquery()
            )
            claimed = await s.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(due), OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now)
                .values(next_attempt_at=now + SEND_LEASE)
                .returning(
                    OutboxRow.id, OutboxRow.case_id, OutboxRow.kind, OutboxRow.counselor_id,
                    OutboxRow.attempts, OutboxRow.recipient_enc, OutboxRow.raw_enc,
                )
                .execution_options(synchronize_session=False)
            )  # fmt: skip
            return sorted(
                (Job(*row, leased_until=now + SEND_LEASE) for row in claimed.all()),
                key=lambda job: job.row_id,
            )

    async def send_due(self) -> int:
        """Send up to BATCH due messages (over a few SMTP sessions); return how many were sent."""
        if self.smtp is None:
            return 0
        run = self._run()
        run.feed(await self._claim())
        return await run.finish()

    def lease_for_hand_off(self, now: datetime) -> datetime | None:
        """Until when a stored batch's rows are stored claimed, to be handed to the sender running beside
        the poll (`hand`) once the batch has committed; None when no sender runs beside it (the rows are
        stored due, for whoever claims them)."""
        return now + SEND_LEASE if self._alongside is not None else None

    def hand(self, jobs: Sequence[Job]) -> None:
        """A committed batch's rows, stored claimed: straight to the sender, without a claim. Should the
        sender be gone, or the process stop before they are sent, they are due once their lease is over,
        as claimed rows are (nothing lost; nothing sent twice, the lease keeps other senders off)."""
        if self._alongside is not None and jobs:
            self._alongside.feed(jobs)

    async def send_alongside(self, work: Awaitable[T]) -> tuple[T, int]:
        """Run ``work`` (a mail poll) and send what it queues while it goes on: each stored batch's
        acknowledgements go out while the next batch is fetched; then what is left. Returns what
        ``work`` returned and how many were sent. What is due is sent even when ``work`` fails."""
        task = asyncio.ensure_future(work)
        if self.smtp is None:
            return await task, 0
        run = self._alongside = self._run()
        try:
            while True:
                finished = task.done()  # then everything it stored is there for the claim below
                self._queued.clear()
                # Claimed a few at a time, as the sessions get through them: a claim's lease must not run
                # out while its mail still waits in the queue (it could then be claimed and sent again).
                # Refilled when half of it is sent, not after each mail: a claim is a write transaction on
                # a database the stored batches need too (claims of one or two rows took ~500 of them for
                # 1,000 acknowledgements; issue 12 §3).
                await run.room(CLAIM_AHEAD // 2)
                limit = CLAIM_AHEAD - run.backlog
                jobs = await self._claim(limit)
                run.feed(jobs)
                if len(jobs) == limit:
                    continue
                if finished:
                    break
                woken = asyncio.ensure_future(self._queued.wait())
                await asyncio.wait({task, woken}, return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
        except (
            BaseException
        ):  # claiming failed (or we are cancelled): stop the work, finish what is under way
            task.cancel()
            await asyncio.wait({task})
            self._alongside = None
            await run.finish(abandon=True)
            raise
        self._alongside = None  # the work is over: nothing more is handed
        sent = await run.finish()  # first: what the work stored is sent even when the work failed
        return task.result(), sent

    async def _sent(self, jobs: Sequence[Job]) -> list[Outgoing]:
        """Record one group of messages the server accepted, in one commit."""
        desk = self.desk
        now = desk.now()
        erase = [job.row_id for job in jobs if job.kind in ERASE_AFTER_SEND]
        kept = [job for job in jobs if job.kind not in ERASE_AFTER_SEND]
        # The promise is kept when the first answer leaves (a survey invitation is no answer either).
        answers = [
            job for job in kept if job.kind not in ("ack", "survey", "crisis") and job.case_id is not None
        ]
        async with desk.store.unit() as s:
            if erase:
                await s.execute(delete(OutboxRow).where(OutboxRow.id.in_(erase)))
            if kept:
                await s.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_([job.row_id for job in kept]))
                    .values(status="sent", sent_at=now, attempts=OutboxRow.attempts + 1, last_error=None)
                    .execution_options(synchronize_session=False)
                )
            if not answers:
                return []
            case_ids = {job.case_id for job in answers}
            await s.execute(
                update(Case)
                .where(Case.id.in_(case_ids), Case.first_reply_at.is_(None))
                .values(first_reply_at=now)
                .execution_options(synchronize_session=False)
            )
            rows = await s.execute(select(Case.id, Case.code).where(Case.id.in_(case_ids)))
            codes: dict[int, str] = {case_id: code for case_id, code in rows}
        return [
            Outgoing(
                job.counselor_id, desk.render("counselor.mail.sent", code=codes.get(job.case_id or 0, "—"))
            )
            for job in answers
            if job.counselor_id is not None
        ]

    async def _failed(self, job: Job, exc: MailSendFailed) -> list[Outgoing]:
        row_id, case_id, counselor_id, attempts = job.row_id, job.case_id, job.counselor_id, job.attempts + 1
        desk = self.desk
        now = desk.now()
        kind = "temporary" if exc.temporary else "permanent"
        log.warning("sending outbox row %s failed (attempt %d, %s)", row_id, attempts, kind)
        async with desk.store.unit() as s:
            row = await s.get(OutboxRow, row_id)
            case = await s.get(Case, case_id) if case_id is not None else None
            assert row is not None
            # Only the kind of failure: the server's words often quote the recipient's address.
            row.attempts, row.last_error = attempts, f"{kind} failure ({exc.__class__.__name__})"
            if exc.temporary:
                row.next_attempt_at = now + self._backoff(attempts)
            else:
                row.status = "failed"
            code = case.code if case is not None else "—"
        if counselor_id is None:
            return []
        if not exc.temporary:
            return [Outgoing(counselor_id, desk.render("counselor.mail.failed", code=code))]
        if attempts == 1:
            return [Outgoing(counselor_id, desk.render("counselor.mail.pending", code=code))]
        return []

    async def _seconds_to_next(self) -> float:
        async with self.desk.store.unit() as s:
            due = await s.scalar(
                select(OutboxRow.next_attempt_at)
                .where(OutboxRow.status == "pending")
                .order_by(OutboxRow.next_attempt_at)
                .limit(1)
            )
        if due is None:
            return MAX_WAIT_SECONDS
        return max(0.0, min(MAX_WAIT_SECONDS, (due - self.desk.now()).total_seconds()))

    async def _step(self) -> float:
        await self.send_due()
        return await self._seconds_to_next()
