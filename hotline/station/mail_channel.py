"""Employees by e-mail: the :class:`~hotline.ports.EmployeeChannel` adapter over the outbox.

A mail recipient's address is the e-mail address (as stored sealed in ``Employee.contact_enc``). What a
mail send needs beyond the port's ``(recipient, text)`` is bound into the adapter when it is made, by the
caller that knows it:

- the thread (:class:`MailThread`: subject, the mail answered, the references, the case), so every mail
  of a case is threaded the same way;
- the kind (``ack``, ``crisis``, ``answer``, ``referral``, ``survey``, ``forget_explain``, ``forget_done``),
  which decides whether the row is erased once sent (``outbox.ERASE_AFTER_SEND``); and the counselor, for
  the record;
- the caller's unit of work (:data:`Queue`): a send composes the mail once and queues its outbox row, and
  links its Message-ID to the case, in the caller's transaction (a mail batch, or a session); nothing
  leaves before that commits (the outbox loop sends it, retried).

So an adapter is made per reply, not registered in ``Desk.channels``: ``recipient_of`` keeps answering
with chat recipients only, and the chat paths (case events, survey invitations) are unchanged. A mail
cannot carry buttons or be edited once sent: :meth:`MailReplies.send_choices` and
:meth:`MailReplies.edit` raise ``ChannelError``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.crypto import Vault
from hotline.domain import Channel
from hotline.errors import ChannelError
from hotline.mailbox.compose import reply_subject
from hotline.mailbox.parse import ParsedMail
from hotline.ports import ButtonRow, Recipient
from hotline.station.batch import Batch
from hotline.storage.mail_keys import stored_key
from hotline.storage.models import Case, ThreadKey
from hotline.storage.models import Outbox as OutboxRow

if TYPE_CHECKING:  # the outbox queues counselors' answers through this adapter
    from hotline.station.outbox import Outbox

Queue = Callable[[dict[str, Any], Case | None], None]
"""Put one composed outbox row (and, for a case, its Message-ID as a thread key) into the caller's
unit of work."""


def mail_recipient(address: str) -> Recipient:
    return Recipient(Channel.EMAIL.value, address)


def quotable(mail: ParsedMail) -> str:
    """The subject to quote back to a mail's sender: only one that decoded cleanly (never a guess)."""
    return mail.subject if mail.subject_clean else ""


def thread_subject(subject: str, code: str) -> str:
    """A case's mail subject: the code goes in once, so follow-ups thread by subject too (the composer
    adds the "Re:")."""
    return reply_subject(subject, code).removeprefix("Re: ").removeprefix("Re:")


@dataclass(frozen=True, slots=True)
class MailThread:
    """Where a mail goes in: its subject, the Message-ID it answers, the thread's references, its case."""

    subject: str
    in_reply_to: str | None
    references: tuple[str, ...]
    case: Case | None

    @classmethod
    def replying_to(cls, mail: ParsedMail, case: Case | None) -> MailThread:
        """A reply to ``mail``, titled after it (with the case's code when there is a case)."""
        subject = thread_subject(quotable(mail), case.code) if case is not None else quotable(mail)
        return cls(subject, mail.message_id, tuple(mail.references), case)


def batch_queue(batch: Batch) -> Queue:
    """Rows queued in a mail batch (inserted in its one flush, the case's id filled in there)."""

    def queue(row: dict[str, Any], case: Case | None) -> None:
        batch.insert(OutboxRow, {**row, "case_id": None}, case)
        if case is not None:
            batch.link_ours(case, (row["message_id"],))

    return queue


def session_queue(s: AsyncSession, vault: Vault) -> Queue:
    """Rows added to an open session (a stored case: it has its id)."""

    def queue(row: dict[str, Any], case: Case | None) -> None:
        case_id = case.id if case is not None else None
        s.add(OutboxRow(**{**row, "case_id": case_id}))
        if case_id is not None:
            s.add(ThreadKey(message_id=stored_key(vault, row["message_id"]), case_id=case_id))

    return queue


class MailReplies:
    """One reply in ``thread``, of ``kind``, queued by ``queue``; ``auto`` marks it machine-sent
    (``Auto-Submitted``), ``counselor_id`` records who answered."""

    channel = Channel.EMAIL.value

    def __init__(
        self, outbox: Outbox, thread: MailThread, queue: Queue, *, kind: str, auto: bool = True,
        counselor_id: int | None = None,
    ) -> None:  # fmt: skip
        self.outbox = outbox
        self.thread = thread
        self.queue = queue
        self.kind = kind
        self.auto = auto
        self.counselor_id = counselor_id

    async def send_text(self, to: Recipient, text: str) -> str:
        """Compose the mail once and queue it; the reference is its Message-ID."""
        if to.channel != self.channel:
            raise ChannelError(f"the e-mail adapter cannot reach a {to.channel!r} recipient")
        thread = self.thread
        row = self.outbox.compose(
            self.kind, to.address, thread.subject, text, auto=self.auto, in_reply_to=thread.in_reply_to,
            references=thread.references, counselor_id=self.counselor_id,
        )  # fmt: skip
        self.queue(row, thread.case)
        message_id: str = row["message_id"]
        return message_id

    async def send_choices(self, to: Recipient, text: str, choices: Sequence[ButtonRow]) -> str:
        raise ChannelError("a mail cannot carry buttons")

    async def edit(self, to: Recipient, ref: str, text: str, choices: Sequence[ButtonRow] = ()) -> None:
        raise ChannelError("a mail cannot be changed once sent")


__all__ = [
    "MailReplies", "MailThread", "Queue", "batch_queue", "mail_recipient", "quotable", "session_queue",
    "thread_subject",
]  # fmt: skip
