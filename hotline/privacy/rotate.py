"""Key rotation: re-encrypt every encrypted column under the current key, in resumable batches.

Procedure (docs/privacy.md): stop the service; set ``HOTLINE_SECRET_KEY`` to the new key and put the old
one in ``HOTLINE_OLD_SECRET_KEYS``; run ``hotline keys rotate``; start the service; once the command
reports nothing left on old keys, remove the old key from the configuration and destroy it.

* Every encrypted column is listed once, in :data:`ENCRYPTED_COLUMNS` (a test checks that each ``*_enc``
  column of the schema is there). Add new columns there.
* Each batch is its own transaction; a row is only rewritten if it still holds the blob that was read
  (compare-and-set), so a concurrent writer is never overwritten. An interrupted run is resumed by
  running again: it continues with the rows still on old keys. Running it twice changes nothing.
* Pseudonyms are HMACs under the *current* key, so ``employees.pseudonym`` is recomputed from the
  decrypted contact data (a Telegram private chat id equals the user id the pseudonym is made from; an
  e-mail address is used as stored). Employees without contact data cannot be re-keyed: without a case
  they are pre-consent contacts and are deleted; with a case they keep the old, now unlinkable pseudonym.
  If the new pseudonym already exists (the person came back while the service ran on the new key), the
  two rows are merged: cases move to the new row and the old row is deleted.
* A value no configured key can decrypt is counted as ``undecryptable`` and left alone.
* Kept Message-IDs are keyed digests; they are made again from the mails (`hotline.privacy.rekey_mail`).
* LINE (issue 15): a block-list entry (a pseudonym) follows its employee's new pseudonym; entries of
  people without contact data cannot be re-keyed and are deleted (nothing can be sent to them anyway).
  The user key of an event not yet done is made again from the user id in its sealed copy (or in the
  replies it still has to send).
* On SQLite the file is compacted afterwards (old ciphertext would otherwise stay in free pages and the WAL).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Table, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.crypto import CONTACT_CONTEXT, CONTENT_CONTEXT, MAIL_CONTEXT, DecryptionFailed, Vault
from hotline.domain import Channel, email_identity
from hotline.privacy.audit import Actor, AuditAction, record
from hotline.privacy.purge import compact
from hotline.privacy.rekey_mail import rekey_dedup_keys, rekey_thread_keys, stale_mail_keys
from hotline.storage import auto_mails as auto_mail_rows
from hotline.storage.inbound import UPDATE_CONTEXT, InboundUpdate
from hotline.storage.line_repo import EVENT_CONTEXT, user_of
from hotline.storage.models import (
    BookingRow,
    Case,
    Conversation,
    Employee,
    LineBlocked,
    LineEvent,
    Mail,
    Message,
    Outbox,
    SurveyAnswer,
    SurveyPending,
)
from hotline.storage.recent import RecentWord
from hotline.storage.repo import Store


@dataclass(frozen=True, slots=True)
class EncryptedColumn:
    """One column holding ``Vault`` blobs, and the AAD context it is sealed with."""

    table: Table
    column: Column[Any]
    context: bytes

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column.name}"


def _enc(model: Any, column: str, context: bytes) -> EncryptedColumn:
    table: Table = model.__table__
    return EncryptedColumn(table, table.c[column], context)


# The one list of encrypted columns. employees.contact_enc comes first: its pass also re-keys pseudonyms.
ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    _enc(Employee, "contact_enc", CONTACT_CONTEXT),
    _enc(Message, "content_enc", CONTENT_CONTEXT),
    _enc(Mail, "raw_enc", MAIL_CONTEXT),
    _enc(Outbox, "recipient_enc", CONTACT_CONTEXT),
    _enc(Outbox, "raw_enc", MAIL_CONTEXT),
    _enc(BookingRow, "private_reason_enc", CONTENT_CONTEXT),  # issue 7
    _enc(SurveyAnswer, "comment_enc", CONTENT_CONTEXT),  # issue 7
    _enc(SurveyPending, "sealed_enc", CONTENT_CONTEXT),  # issue 17
    _enc(InboundUpdate, "payload_enc", UPDATE_CONTEXT),  # issue 14: updates received, until processed
    _enc(InboundUpdate, "replies_enc", UPDATE_CONTEXT),  # ... and their replies, until sent
    _enc(LineEvent, "payload_enc", EVENT_CONTEXT),  # issue 15: LINE events not yet carried out
    _enc(LineEvent, "replies_enc", UPDATE_CONTEXT),  # ... and their replies, until sent (several workers)
    _enc(RecentWord, "text_enc", CONTENT_CONTEXT),  # issue 14: the screening window (minutes)
)


def identity_of(channel: str, contact: str) -> str:
    """The identity a pseudonym is made of, from the stored contact data.

    Telegram: the stored contact is the private chat id, which Telegram makes equal to the user id the
    runner hashes. LINE: the user id itself. E-mail: the address normalised as the mail station hashes
    it (``email_identity``).
    """
    if channel == Channel.TELEGRAM.value:
        return str(int(contact))
    if channel == Channel.LINE.value:
        return contact
    return email_identity(contact)


@dataclass(frozen=True, slots=True)
class RotationProgress:
    column: str
    rewritten: int  # in this column so far
    batch: int  # rows in the batch just committed


@dataclass
class RotationReport:
    key_id: str
    rewritten: dict[str, int] = field(default_factory=dict)  # per column
    pseudonyms: int = 0  # employees re-keyed
    merged: int = 0  # employees merged into a row created under the new key
    dropped: int = 0  # pre-consent employees without contact data, deleted
    undecryptable: int = 0  # values no configured key opens (left alone)
    mail_ids: int = 0  # dedup keys and cases' thread keys made again under the new key
    line_keys: int = 0  # LINE block-list entries and pending events' user keys re-keyed
    line_dropped: int = 0  # LINE block-list entries of people without contact data, deleted
    completed: bool = False

    @property
    def total(self) -> int:
        return sum(self.rewritten.values())

    def as_detail(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "rewritten": dict(self.rewritten),
            "pseudonyms": self.pseudonyms,
            "merged": self.merged,
            "dropped": self.dropped,
            "undecryptable": self.undecryptable,
            "mail_ids": self.mail_ids,
            "line_keys": self.line_keys,
            "line_dropped": self.line_dropped,
            "completed": self.completed,
        }


Progress = Callable[[RotationProgress], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _stale(vault: Vault, column: Column[Any]) -> Any:
    """SQL: the blob is present and its key id (bytes 2-5) is not the current one."""
    return column.is_not(None) & (func.substr(column, 2, 4) != vault.current_key_id)


async def rotate_keys(
    store: Store,
    *,
    batch_size: int = 500,
    progress: Progress | None = None,
    actor: Actor | None = None,
    now: Callable[[], datetime] | None = None,
    compact_after: bool = True,
) -> RotationReport:
    """Re-encrypt everything still on an old key (see the module docstring). Records ``key_rotation``."""
    clock = now or _utcnow
    vault = store.vault
    report = RotationReport(key_id=vault.current_key_id.hex())
    try:
        await _drop_unkeyable(store, report, clock())
        for target in ENCRYPTED_COLUMNS:
            await _rotate_column(store, target, report, batch_size, progress)
        report.mail_ids += await rekey_dedup_keys(store, batch_size)
        report.mail_ids += await rekey_thread_keys(store)
        report.line_keys += await _rekey_line_events(store, batch_size)
        report.completed = True
    finally:
        # Recorded whether or not the run finished: an interrupted rotation is a fact worth keeping.
        async with store.unit() as s:
            await record(
                s,
                actor=actor or Actor.system(),
                action=AuditAction.KEY_ROTATION,
                detail=report.as_detail(),
                now=clock(),
            )
    if compact_after and report.total + report.dropped + report.merged:
        await compact(store)
    return report


async def _drop_unkeyable(store: Store, report: RotationReport, started: datetime) -> None:
    """Employees without contact data and without a case cannot be re-keyed: pre-consent contacts."""
    async with store.unit() as s:
        no_case = ~select(Case.id).where(Case.employee_id == Employee.id).exists()
        doomed = select(Employee.id).where(
            Employee.contact_enc.is_(None), no_case, Employee.created_at < started
        )
        ids = list((await s.scalars(doomed)).all())
        if ids:
            await s.execute(delete(Conversation).where(Conversation.employee_id.in_(ids)))
            await s.execute(delete(Employee).where(Employee.id.in_(ids)))
        report.dropped += len(ids)
        keyable = select(Employee.id).where(
            Employee.pseudonym == LineBlocked.pseudonym, Employee.contact_enc.is_not(None)
        )
        gone = await s.execute(
            delete(LineBlocked).where(~keyable.exists()).execution_options(synchronize_session=False)
        )
        report.line_dropped += int(gone.rowcount)  # type: ignore[attr-defined]


async def _rotate_column(
    store: Store, target: EncryptedColumn, report: RotationReport, batch_size: int, progress: Progress | None
) -> None:
    vault = store.vault
    pk = next(iter(target.table.primary_key.columns))
    is_contact = target.table is Employee.__table__
    extra = [target.table.c.channel] if is_contact else []
    last: Any = None
    report.rewritten.setdefault(target.name, 0)
    while True:
        async with store.unit() as s:
            query = select(pk, target.column, *extra).where(_stale(vault, target.column))
            if last is not None:
                query = query.where(pk > last)
            rows = (await s.execute(query.order_by(pk).limit(batch_size))).all()
            if not rows:
                return
            done = 0
            for row in rows:
                last = row[0]
                old: bytes = row[1]
                try:
                    plain = vault.decrypt_bytes(old, context=target.context)
                except DecryptionFailed:
                    report.undecryptable += 1
                    continue
                new = vault.encrypt_bytes(plain, context=target.context)
                if is_contact:
                    done += await _rekey_employee(s, vault, row[0], row[2], old, new, plain, report)
                else:
                    result = await s.execute(
                        update(target.table)
                        .where(pk == row[0], target.column == old)
                        .values({target.column: new})
                    )
                    done += int(result.rowcount)  # type: ignore[attr-defined]
        report.rewritten[target.name] += done
        if progress is not None:
            progress(RotationProgress(target.name, report.rewritten[target.name], len(rows)))


async def _rekey_employee(
    s: AsyncSession,
    vault: Vault,
    employee_id: int,
    channel: str,
    old: bytes,
    new: bytes,
    plain: bytes,
    report: RotationReport,
) -> int:
    pseudonym = vault.pseudonym(channel, identity_of(channel, plain.decode("utf-8")))
    twin = await s.scalar(select(Employee).where(Employee.pseudonym == pseudonym, Employee.id != employee_id))
    before = await s.scalar(select(Employee.pseudonym).where(Employee.id == employee_id))
    if before is not None and before != pseudonym:  # LINE: the block-list entry follows the person
        report.line_keys += await _rekey_blocked(s, before, pseudonym)
        await auto_mail_rows.rekey(s, before, pseudonym)  # e-mail: so does the day's count of automatic mails
    if twin is not None:
        # Same person, already back under the new key: their cases join the new row.
        await s.execute(update(Case).where(Case.employee_id == employee_id).values(employee_id=twin.id))
        await s.execute(
            update(BookingRow).where(BookingRow.employee_id == employee_id).values(employee_id=twin.id)
        )
        if twin.contact_enc is None:
            twin.contact_enc = new
        await s.execute(delete(Conversation).where(Conversation.employee_id == employee_id))
        await s.execute(delete(Employee).where(Employee.id == employee_id))
        report.merged += 1
        return 1
    result = await s.execute(
        update(Employee)
        .where(Employee.id == employee_id, Employee.contact_enc == old)
        .values(contact_enc=new, pseudonym=pseudonym)
        .execution_options(synchronize_session=False)
    )
    changed = int(result.rowcount)  # type: ignore[attr-defined]
    report.pseudonyms += changed
    return changed


async def _rekey_blocked(s: AsyncSession, old: str, new: str) -> int:
    entry = await s.get(LineBlocked, old)
    if entry is None:
        return 0
    await s.delete(entry)
    if await s.get(LineBlocked, new) is None:
        s.add(LineBlocked(pseudonym=new, since=entry.since))
    await s.flush()
    return 1


def _line_user_in(vault: Vault, payload: bytes | None, replies: bytes | None) -> str | None:
    if payload is not None:
        return user_of(json.loads(vault.decrypt(payload, context=EVENT_CONTEXT)))
    if replies is not None:  # as hotline.bot.inbox.seal_replies writes them
        for reply in json.loads(vault.decrypt_bytes(replies, context=UPDATE_CONTEXT)):
            to = reply["to"]
            if isinstance(to, dict) and to.get("channel") == Channel.LINE.value:
                return str(to["address"])
    return None


async def _rekey_line_events(store: Store, batch_size: int) -> int:
    """The user key of each LINE event not yet done (or set aside), made again under the current key."""
    vault, changed, last = store.vault, 0, 0
    while True:
        async with store.unit() as s:
            rows = (
                await s.execute(
                    select(LineEvent.seq, LineEvent.user_key, LineEvent.payload_enc, LineEvent.replies_enc)
                    .where(
                        or_(LineEvent.done_at.is_(None), LineEvent.payload_enc.is_not(None)),
                        LineEvent.seq > last,
                    )
                    .order_by(LineEvent.seq)
                    .limit(batch_size)
                )
            ).all()
            if not rows:
                return changed
            for seq, key, payload, replies in rows:
                last = seq
                try:
                    user = _line_user_in(vault, payload, replies)
                except DecryptionFailed:
                    continue
                new = vault.pseudonym(Channel.LINE.value, user) if user is not None else None
                if new != key:
                    await s.execute(update(LineEvent).where(LineEvent.seq == seq).values(user_key=new))
                    changed += 1


async def stale_counts(store: Store) -> dict[str, int]:
    """How many values each encrypted column, and each kept Message-ID column, still holds under an old
    key (0 everywhere: done)."""
    counts: dict[str, int] = {}
    async with store.unit() as s:
        for target in ENCRYPTED_COLUMNS:
            query = select(func.count()).select_from(target.table).where(_stale(store.vault, target.column))
            counts[target.name] = int(await s.scalar(query) or 0)
        counts.update(await stale_mail_keys(s, store.vault))
    return counts


__all__ = [
    "ENCRYPTED_COLUMNS",
    "EncryptedColumn",
    "RotationProgress",
    "RotationReport",
    "identity_of",
    "rotate_keys",
    "stale_counts",
]
