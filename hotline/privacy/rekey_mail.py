"""Key rotation of the kept Message-IDs (part of ``hotline keys rotate``).

``mails.dedup_key`` and ``thread_keys.message_id`` hold keyed digests (`hotline.storage.mail_keys`),
each after the id of the key it was made with. A digest cannot be re-keyed by itself, so each is made
again from what it was made of: the received mail, decrypted (any configured key) and parsed again (a
sender's ids keyed with the sender, `mail_keys.sender_key`), and our own mails' ids, kept as sent in
``outbox.message_id``. Keys made under an older scheme (marked ``v0:`` by migration 0009) are stale too. What cannot be made again because the mail's
bytes were erased is replaced by a value that matches nothing: a thread key is dropped, a dedup key
becomes ``<key id>:gone:<row id>``. A mail no configured key opens is left as it is (still stale), and so
are its case's thread keys: configure the old key and run again. Batches are their own transactions;
running again resumes. The service runs this at start when it finds stale ids (an upgrade from plain
ids, or a rotation not finished).
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.crypto import MAIL_CONTEXT, DecryptionFailed, Vault
from hotline.mailbox.parse import ParsedMail, parse_message
from hotline.storage.mail_keys import sender_key, stored_key
from hotline.storage.models import Mail, Outbox, ThreadKey
from hotline.storage.repo import Store


class _Unreadable(Exception):
    """No configured key opens the mail."""


def _parsed(vault: Vault, raw_enc: bytes | None) -> ParsedMail | None:
    """The mail parsed again; None when its bytes were erased; `_Unreadable` when no key opens them."""
    if raw_enc is None:
        return None
    try:
        return parse_message(vault.decrypt_bytes(raw_enc, context=MAIL_CONTEXT))
    except DecryptionFailed as exc:
        raise _Unreadable from exc


async def rekey_dedup_keys(store: Store, batch_size: int = 500) -> int:
    """Re-make every dedup key not under the current key; return how many were rewritten."""
    vault, done, last = store.vault, 0, 0
    fresh = vault.mail_key_prefix
    while True:
        async with store.unit() as s:
            rows = (
                await s.execute(
                    select(Mail.id, Mail.dedup_key, Mail.raw_enc)
                    .where(Mail.id > last, ~Mail.dedup_key.startswith(fresh))
                    .order_by(Mail.id)
                    .limit(batch_size)
                )
            ).all()
            if not rows:
                return done
            for row_id, old, raw_enc in rows:
                last = row_id
                try:
                    mail = _parsed(vault, raw_enc)
                except _Unreadable:
                    continue
                new = stored_key(vault, mail.dedup_key) if mail is not None else f"{fresh}gone:{row_id}"
                result = await s.execute(
                    update(Mail).where(Mail.id == row_id, Mail.dedup_key == old).values(dedup_key=new)
                )
                done += int(result.rowcount)  # type: ignore[attr-defined]


async def _keys_of_case(s: AsyncSession, vault: Vault, case_id: int) -> set[str]:
    """Every thread key the case is known by: its received mails' ids (each with its sender) and ours."""
    keys: set[str] = set()
    for raw_enc in (await s.scalars(select(Mail.raw_enc).where(Mail.case_id == case_id))).all():
        mail = _parsed(vault, raw_enc)
        if mail is not None:
            ids = (i for i in (mail.message_id, *mail.thread_keys) if i)
            keys.update(sender_key(vault, mail.from_address, i) for i in ids)
    ours = (await s.scalars(select(Outbox.message_id).where(Outbox.case_id == case_id))).all()
    keys.update(stored_key(vault, i) for i in ours)
    return keys


async def rekey_thread_keys(store: Store, batch_size: int = 100) -> int:
    """Re-make the thread keys of every case that has one not under the current key; return how many
    cases were done."""
    vault, done, skipped = store.vault, 0, set[int]()
    fresh = vault.mail_key_prefix
    while True:
        async with store.unit() as s:
            stale = ~ThreadKey.message_id.startswith(fresh)
            query = select(ThreadKey.case_id).where(stale, ThreadKey.case_id.not_in(skipped)).distinct()
            case_ids = (await s.scalars(query.limit(batch_size))).all()
            if not case_ids:
                return done
            for case_id in case_ids:
                try:
                    wanted = await _keys_of_case(s, vault, case_id)
                except _Unreadable:
                    skipped.add(case_id)
                    continue
                await s.execute(delete(ThreadKey).where(ThreadKey.case_id == case_id, stale))
                taken = set(
                    (
                        await s.scalars(select(ThreadKey.message_id).where(ThreadKey.message_id.in_(wanted)))
                    ).all()
                )
                s.add_all(ThreadKey(message_id=key, case_id=case_id) for key in sorted(wanted - taken))
                done += 1


async def stale_mail_keys(s: AsyncSession, vault: Vault) -> dict[str, int]:
    fresh = vault.mail_key_prefix
    dedup = await s.scalar(select(func.count()).where(~Mail.dedup_key.startswith(fresh)))
    threads = await s.scalar(select(func.count()).where(~ThreadKey.message_id.startswith(fresh)))
    return {"mails.dedup_key": int(dedup or 0), "thread_keys.message_id": int(threads or 0)}
