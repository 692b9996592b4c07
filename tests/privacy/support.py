"""Helpers for the privacy tests: a migrated store and cases with content, contact and mail."""

from __future__ import annotations

from datetime import datetime

from hotline.crypto import Vault
from hotline.domain import Category, Channel
from hotline.sandbox.stage import OPEN_HOURS, ROSTER
from hotline.storage import db, repo
from hotline.storage.mail_keys import stored_key
from hotline.storage.models import Case, Mail, Outbox, ThreadKey
from hotline.storage.repo import Store

KEY_A = "key-A-" + "a" * 40
KEY_B = "key-B-" + "b" * 40
NOW = OPEN_HOURS


async def make_store(url: str, vault: Vault | None = None) -> Store:
    await db.upgrade(url)
    store = Store(url, vault or Vault(KEY_A))
    async with store.unit() as s:
        await repo.sync_roster(s, ROSTER)
    return store


async def make_case(
    store: Store,
    chat_id: int,
    texts: tuple[str, ...] = ("想談談工作壓力",),
    *,
    now: datetime = NOW,
    closed_at: datetime | None = None,
    counselor_id: int | None = None,
    mail: bytes | None = None,
) -> str:
    """A Telegram-style case (contact = chat id) with messages; optionally closed, assigned, with mail."""
    vault = store.vault
    async with store.unit() as s:
        employee = await repo.ensure_employee(
            s, vault.pseudonym(Channel.TELEGRAM.value, str(chat_id)), Channel.TELEGRAM, now
        )
        employee.contact_enc = vault.encrypt(str(chat_id), context=b"contact")
        case = await repo.open_case(
            s, channel=Channel.TELEGRAM, employee_id=employee.id, category=Category.FAMILY, now=now
        )
        for text in texts:
            await repo.add_message(s, store, case, direction="inbound", text=text, now=now)
        if counselor_id is not None:
            await repo.claim(s, case.id, counselor_id, now)
        if mail is not None:
            s.add(
                Mail(
                    direction="inbound", dedup_key=stored_key(vault, f"<{case.code}@example.org>"), case_id=case.id,
                    received_at=now, raw_enc=vault.encrypt_bytes(mail, context=b"mail"), created_at=now,
                )
            )  # fmt: skip
            s.add(
                Outbox(
                    case_id=case.id, kind="answer", message_id=f"<out-{case.code}@hotline>",
                    recipient_enc=vault.encrypt("someone@example.org", context=b"contact"),
                    raw_enc=vault.encrypt_bytes(mail, context=b"mail"), next_attempt_at=now, created_at=now,
                )
            )  # fmt: skip
            s.add(ThreadKey(message_id=stored_key(vault, f"<{case.code}@example.org>"), case_id=case.id))
        if closed_at is not None:
            loaded = await s.get(Case, case.id)
            assert loaded is not None
            await repo.close_case(s, loaded, "resolved", closed_at)
        return case.code
