"""One run of the outbox's sender: claimed messages go into a queue that a few SMTP sessions work through
side by side (a message costs three round trips to the server, so one session would mostly wait).

What the server accepts is recorded by group commit (`hotline.loops.GroupCommit`); what it refuses is
handed back to the outbox, which retries it later or gives up. Jobs can be fed while the run goes on: a
mail poll feeds each stored batch's acknowledgements while it fetches the next batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from hotline.crypto import CONTACT_CONTEXT, MAIL_CONTEXT, Vault
from hotline.desk import Outgoing
from hotline.loops import GroupCommit
from hotline.mailbox.errors import MailSendFailed
from hotline.mailbox.smtp import SmtpConfig, SmtpSession

# SMTP sessions side by side, each connecting only when it has a message (measured on 1,000
# acknowledgements: 8 sessions took ~8 % less time than 4; 16 no clearly less than 8, and relays limit
# connections per client).
SESSIONS = 8
# Marking sent rows waits this long to gather a group: a commit per mail cost more than the sending.
MARK_LINGER = 0.01
# A queued message whose lease ends within this is not sent by the run: once the lease is over another
# sender may claim it (it stays due, and this run may claim it again).
LEASE_MARGIN = timedelta(seconds=30)


class Job(NamedTuple):
    """One claimed outbox row, as the sessions need it."""

    row_id: int
    case_id: int | None
    kind: str
    counselor_id: int | None
    attempts: int  # so far
    recipient_enc: bytes
    raw_enc: bytes
    leased_until: datetime | None = None  # claimed (or stored claimed) for this run until then


RecordSent = Callable[[Sequence[Job]], Awaitable[list[Outgoing]]]
RecordFailed = Callable[[Job, MailSendFailed], Awaitable[list[Outgoing]]]
Deliver = Callable[[list[Outgoing]], Awaitable[object]]


class SendRun:
    def __init__(
        self,
        *,
        smtp: SmtpConfig,
        session_factory: Callable[[SmtpConfig], SmtpSession],
        mail_from: str,
        vault: Vault,
        record_sent: RecordSent,
        record_failed: RecordFailed,
        deliver: Deliver,
        now: Callable[[], datetime],
        sessions: int = SESSIONS,
    ) -> None:
        self._smtp = smtp
        self._session_factory = session_factory
        self._mail_from = mail_from
        self._vault = vault
        self._record_failed = record_failed
        self._deliver = deliver
        self._now = now
        self._sessions = sessions
        self._queue: asyncio.Queue[Job | None] = asyncio.Queue()
        self._marks: GroupCommit[Job, Outgoing] = GroupCommit(record_sent, linger=MARK_LINGER)
        self._workers: list[asyncio.Task[list[Outgoing]]] = []
        self._seen: set[int] = set()  # row ids fed to this run: none is sent twice by it
        self._room = asyncio.Event()

    @property
    def backlog(self) -> int:
        """Jobs queued and not yet taken by a session."""
        return self._queue.qsize()

    async def room(self, limit: int) -> None:
        """Wait until fewer than ``limit`` jobs are queued."""
        while self._queue.qsize() >= limit:
            self._room.clear()
            await self._room.wait()

    def feed(self, jobs: Sequence[Job]) -> None:
        """Queue claimed jobs (a row already fed is skipped); the sessions start with the first."""
        fresh = [job for job in jobs if job.row_id not in self._seen]
        self._seen.update(job.row_id for job in fresh)
        if fresh and not self._workers:
            loop = asyncio.get_running_loop()
            self._workers = [loop.create_task(self._session()) for _ in range(self._sessions)]
        for job in fresh:
            self._queue.put_nowait(job)

    async def finish(self, *, abandon: bool = False) -> int:
        """Wait until every queued job is sent (or, with ``abandon``, only those under way: the rest stay
        claimed until their lease runs out) and recorded, and tell counselors what they should know;
        return how many were sent. Raises what a session or the recording raised, after all that."""
        if abandon:
            while not self._queue.empty():
                self._queue.get_nowait()
        for _ in self._workers:
            self._queue.put_nowait(None)
        shares = await asyncio.gather(*self._workers, return_exceptions=True)
        notes = [note for share in shares if isinstance(share, list) for note in share]
        try:
            notes += await self._marks.settle()  # what the server accepted is recorded, on the way out too
        finally:
            await self._deliver(notes)
        for share in shares:
            if isinstance(share, BaseException):
                raise share
        return self._marks.count

    async def _session(self) -> list[Outgoing]:
        notes: list[Outgoing] = []
        vault = self._vault
        async with self._session_factory(self._smtp) as session:
            while (job := await self._queue.get()) is not None:
                self._room.set()
                if self._marks.failed:  # what was sent cannot be recorded: send no more until it can
                    continue
                if job.leased_until is not None and self._now() >= job.leased_until - LEASE_MARGIN:
                    self._seen.discard(job.row_id)  # not sent: a claim may feed it again
                    continue
                to = vault.decrypt(job.recipient_enc, context=CONTACT_CONTEXT)
                raw = vault.decrypt_bytes(job.raw_enc, context=MAIL_CONTEXT)
                try:
                    await session.send_raw(self._mail_from, [to], raw)
                except MailSendFailed as exc:
                    notes += await self._record_failed(job, exc)
                    continue
                self._marks.add(job)
        return notes
