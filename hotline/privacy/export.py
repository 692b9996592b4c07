"""Disclosure under legal process (docs/privacy.md §4): one case's record as a JSON document, for the
operator to hand over what the supervisor approved.

The export is recorded in the audit trail (``export``, the legal reference as its reason, what was
included as its detail) in the same transaction that reads the case: nothing leaves unrecorded, and a
record that could not be written stops the export. The employee's identity (their Telegram id or e-mail
address) is included only when asked for. What retention has already erased is exported as ``null``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from hotline.crypto import CONTACT_CONTEXT, MAIL_CONTEXT, DecryptionFailed
from hotline.mailbox.parse import parse_message
from hotline.privacy.audit import Actor, AuditAction, record
from hotline.storage import repo
from hotline.storage.models import Case, Employee, Mail, Message
from hotline.storage.repo import Store


def _at(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _case(case: Case) -> dict[str, Any]:
    return {
        "code": case.code,
        "channel": case.channel,
        "status": case.status,
        "category": case.category,
        "risk": case.risk,
        "opened_at": _at(case.opened_at),
        "claimed_at": _at(case.claimed_at),
        "closed_at": _at(case.closed_at),
        "outcome": case.outcome,
        "reply_due_at": _at(case.reply_due_at),
        "first_reply_at": _at(case.first_reply_at),
        "counselor": case.counselor_id,
    }


def _mail(store: Store, mail: Mail) -> dict[str, Any]:
    parsed = None
    if mail.raw_enc is not None:
        try:
            parsed = parse_message(store.vault.decrypt_bytes(mail.raw_enc, context=MAIL_CONTEXT))
        except DecryptionFailed:
            parsed = None
    return {
        "received_at": _at(mail.received_at),
        "auto_reply": mail.auto_reply,
        "subject": parsed.subject if parsed else None,
        "text": parsed.body_text if parsed else None,  # the whole text, quoted parts included
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size, "sha256": a.sha256}
            for a in (parsed.attachments if parsed else ())
        ],
    }


async def export_case(
    store: Store, code: str, *, reason: str, actor: Actor, now: datetime, identity: bool = False
) -> dict[str, Any] | None:
    """The case's record (None: no such case), recorded as an ``export`` with ``reason``."""
    if not reason.strip():
        raise ValueError("an export needs a written reason (the legal reference)")
    async with store.unit() as s:
        case = await repo.case_by_code(s, code.strip())
        if case is None:
            return None
        messages = (
            await s.scalars(select(Message).where(Message.case_id == case.id).order_by(Message.id))
        ).all()
        mails = (
            await s.scalars(
                select(Mail).where(Mail.case_id == case.id, Mail.direction == "inbound").order_by(Mail.id)
            )
        ).all()
        document: dict[str, Any] = {
            "case": _case(case),
            "messages": [
                {
                    "at": _at(m.created_at),
                    "direction": m.direction,
                    "counselor": m.counselor_id,
                    "risk": m.risk,
                    "text": store.open(m.content_enc) if m.content_enc is not None else None,
                }
                for m in messages
            ],
            "mails": [_mail(store, m) for m in mails],
        }
        if identity:
            employee = await s.get(Employee, case.employee_id) if case.employee_id is not None else None
            contact = employee.contact_enc if employee is not None else None
            document["identity"] = {
                "channel": employee.channel if employee is not None else None,
                "contact": store.vault.decrypt(contact, context=CONTACT_CONTEXT) if contact else None,
            }
        await record(
            s,
            actor=actor,
            action=AuditAction.EXPORT,
            case_id=case.id,
            reason=reason.strip(),
            detail={"messages": len(messages), "mails": len(mails), "identity": identity},
            now=now,
        )
    document["exported"] = {"at": _at(now), "by": f"{actor.kind.value}:{actor.id}", "reason": reason.strip()}
    return document
