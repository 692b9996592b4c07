"""Migration 0009 (issue 19) on SQLite and PostgreSQL: Message-IDs kept under the old scheme become stale,
and the service's re-keying makes them again under the new one (a sender's ids with the sender)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import select, text

from hotline.crypto import MAIL_CONTEXT, Vault
from hotline.mailbox.parse import parse_message
from hotline.privacy.rekey_mail import rekey_dedup_keys, rekey_thread_keys, stale_mail_keys
from hotline.storage import db
from hotline.storage.mail_keys import sender_key, stored_key
from hotline.storage.models import Mail, ThreadKey
from hotline.storage.repo import Store

SECRET = "m" * 40
RAW = (
    b"From: someone@example.org\r\nSubject: help\r\nMessage-ID: <k1@example.org>\r\n"
    b"References: <k0@example.org>\r\n\r\nbody\r\n"
)


async def test_kept_keys_are_made_stale_then_made_again(db_url: str) -> None:
    await db.upgrade(db_url)
    await asyncio.to_thread(command.downgrade, db.alembic_config(db_url), "0008")
    vault = Vault(SECRET)
    moment = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
    now: object = str(moment.replace(tzinfo=None)) if db_url.startswith("sqlite") else moment
    old_dedup, old_thread = vault.mail_key("<k1@example.org>"), vault.mail_key("<k0@example.org>")
    store = Store(db_url, vault)
    try:
        async with store.unit() as s:  # as 0008 kept them (no ORM: the models are 0009's)
            await s.execute(
                text(
                    "INSERT INTO cases (id, code, channel, status, risk, opened_at, message_count, survey_invited)"
                    " VALUES (1, 'HL-ABCDEF', 'email', 'waiting', 'none', :now, 1, false)"
                ),
                {"now": now},
            )
            await s.execute(
                text(
                    "INSERT INTO mails (direction, dedup_key, case_id, received_at, raw_enc, auto_reply,"
                    " malformed, needs_human, attachments, created_at)"
                    " VALUES ('inbound', :key, 1, :now, :raw, false, false, false, 0, :now)"
                ),
                {
                    "key": old_dedup,
                    "now": now,
                    "raw": vault.encrypt_bytes(RAW, context=MAIL_CONTEXT),
                },
            )
            await s.execute(
                text("INSERT INTO thread_keys (message_id, case_id) VALUES (:key, 1)"), {"key": old_thread}
            )
        await db.upgrade(db_url)
        async with store.unit() as s:
            assert await s.scalar(select(Mail.dedup_key)) == "v0:" + old_dedup
            assert await s.scalar(select(Mail.other_sender)) is False
            assert await stale_mail_keys(s, vault) == {"mails.dedup_key": 1, "thread_keys.message_id": 1}
        assert await rekey_dedup_keys(store) == 1
        assert await rekey_thread_keys(store) == 1
        async with store.unit() as s:
            assert await s.scalar(select(Mail.dedup_key)) == stored_key(vault, parse_message(RAW).dedup_key)
            assert set((await s.scalars(select(ThreadKey.message_id))).all()) == {
                sender_key(vault, "someone@example.org", "<k1@example.org>"),
                sender_key(vault, "someone@example.org", "<k0@example.org>"),
            }
            assert sum((await stale_mail_keys(s, vault)).values()) == 0
    finally:
        await store.close()


async def test_a_persons_codes_go_with_them(db_url: str) -> None:
    """Forgetting someone (or purging them) takes their one-time erasure codes too (ON DELETE CASCADE)."""
    from hotline.domain import Channel
    from hotline.privacy.forget import forget
    from hotline.station.erasure_code import hash_code, new_code
    from hotline.storage import repo
    from hotline.storage.models import ForgetToken

    await db.upgrade(db_url)
    store = Store(db_url, Vault(SECRET))
    moment = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
    try:
        async with store.unit() as s:
            kept = await repo.ensure_employee(s, "k" * 64, Channel.EMAIL, moment)
            gone = await repo.ensure_employee(s, "g" * 64, Channel.EMAIL, moment)
            for person in (kept, gone):
                s.add(ForgetToken(token_hash=hash_code(new_code()), employee_id=person.id, expires_at=moment))
        async with store.unit() as s:
            leaving = await s.get(type(gone), gone.id)
            assert leaving is not None
            await forget(s, leaving, moment)
        async with store.unit() as s:
            assert (await s.scalars(select(ForgetToken.employee_id))).all() == [kept.id]
    finally:
        await store.close()
