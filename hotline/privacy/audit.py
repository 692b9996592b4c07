"""The audit trail: who read, revealed, exported, forgot or purged what, when and why. Append-only.

The table is declared here with SQLAlchemy Core on ``Base.metadata`` (so Alembic and the tests see it);
migration 0004 creates it together with database triggers that refuse every UPDATE and DELETE (PostgreSQL:
a plpgsql function, also refusing TRUNCATE; SQLite: ``RAISE(ABORT, ...)``). Nothing in the application can
change or remove an entry; a later migration that rebuilds the table must re-create the triggers.

An entry never holds message content or a contact identity: ``detail`` is for counts, key ids and
outcomes. Actors are staff (a counselor's Telegram id from the roster), ``system`` or ``cli:<user>``;
an employee acting on their own data (``/forget``) is recorded without any identifier.

Entries are written inside the caller's transaction, so an entry exists exactly when the audited
action committed. A refusal is returned, not raised, so the ``access_denied`` entry commits too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Table, Text, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.crypto import CONTACT_CONTEXT, Vault
from hotline.domain import Role
from hotline.storage.models import Base, Case, Counselor, Employee, Offer, Stamp

audit_log = Table(
    "audit_log",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Stamp, nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("actor_id", String(64), nullable=True),
    Column("action", String(32), nullable=False),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=True),
    Column("reason", Text, nullable=True),
    Column("detail", JSON, nullable=True),
    Index("ix_audit_log_case_id", "case_id"),
    Index("ix_audit_log_at", "at"),
)


class AuditAction(StrEnum):
    READ_CASE = "read_case"  # a case's content was shown to someone
    REVEAL_IDENTITY = "reveal_identity"  # contact data decrypted for a person (safety ground or consent)
    EXPORT = "export"  # content left the system (legal process, the employee's own copy)
    ACCESS_DENIED = "access_denied"  # an attempt outside one's role
    FORGET = "forget"  # the employee's /forget
    MYDATA = "mydata"  # the employee asked what is stored
    PURGE = "purge"  # retention purge (counts only)
    KEY_ROTATION = "key_rotation"  # re-encryption under a new key (counts, key ids)


class ActorKind(StrEnum):
    COUNSELOR = "counselor"
    SUPERVISOR = "supervisor"
    SYSTEM = "system"
    CLI = "cli"
    EMPLOYEE = "employee"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it. ``id`` is a roster Telegram id, an operator's login name, or None."""

    kind: ActorKind
    id: str | None = None

    @classmethod
    def staff(cls, telegram_id: int, role: Role | str) -> Actor:
        kind = ActorKind.SUPERVISOR if Role(role) is Role.SUPERVISOR else ActorKind.COUNSELOR
        return cls(kind, str(telegram_id))

    @classmethod
    def system(cls) -> Actor:
        return cls(ActorKind.SYSTEM)

    @classmethod
    def cli(cls, user: str) -> Actor:
        return cls(ActorKind.CLI, user[:64])

    @classmethod
    def employee(cls) -> Actor:
        """The employee themself; deliberately without an identifier (it would outlive /forget)."""
        return cls(ActorKind.EMPLOYEE)

    def __str__(self) -> str:
        return self.kind.value if self.id is None else f"{self.kind.value}:{self.id}"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: Actor
    action: str
    case_code: str | None
    reason: str | None
    detail: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "actor": str(self.actor),
            "action": self.action,
            "case": self.case_code,
            "reason": self.reason,
            "detail": self.detail,
        }


async def record(
    session: AsyncSession,
    *,
    actor: Actor,
    action: AuditAction,
    case_id: int | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
    now: datetime,
) -> None:
    """Append one entry in the caller's transaction (committed with the action it records)."""
    await session.execute(
        insert(audit_log).values(
            at=now,
            actor_kind=actor.kind.value,
            actor_id=actor.id,
            action=action.value,
            case_id=case_id,
            reason=reason,
            detail=detail,
        )
    )


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry for :func:`record_many`."""

    actor: Actor
    action: AuditAction
    now: datetime
    case_id: int | None = None
    detail: dict[str, Any] | None = None


async def record_many(session: AsyncSession, entries: Sequence[Entry]) -> None:
    """:func:`record` for several entries, in one statement (a crisis burst's alerts shown)."""
    if not entries:
        return
    rows = [
        {
            "at": e.now,
            "actor_kind": e.actor.kind.value,
            "actor_id": e.actor.id,
            "action": e.action.value,
            "case_id": e.case_id,
            "reason": None,
            "detail": e.detail,
        }
        for e in entries
    ]
    await session.execute(insert(audit_log), rows)


async def trail(session: AsyncSession, case_code: str) -> list[AuditEntry]:
    """Every entry about one case, oldest first (``hotline audit --case CODE``)."""
    query = (
        select(audit_log, Case.code)
        .join(Case, Case.id == audit_log.c.case_id)
        .where(Case.code == case_code.strip().upper())
        .order_by(audit_log.c.id)
    )
    return [_entry(row._mapping) for row in (await session.execute(query)).all()]


async def entries(session: AsyncSession, *, since: datetime | None = None) -> list[AuditEntry]:
    """The whole trail (or since a moment), oldest first, for an export to the EAP office."""
    query = select(audit_log, Case.code).outerjoin(Case, Case.id == audit_log.c.case_id)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    return [_entry(row._mapping) for row in (await session.execute(query.order_by(audit_log.c.id))).all()]


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=row["at"],
        actor=Actor(ActorKind(row["actor_kind"]), row["actor_id"]),
        action=row["action"],
        case_code=row["code"],
        reason=row["reason"],
        detail=row["detail"],
    )


# ---- reading a case and revealing an identity -------------------------------------------------------


async def may_read_case(
    session: AsyncSession, *, counselor_id: int, case: Case, now: datetime, what: str = "content"
) -> bool:
    """The access rule for case content, audited either way.

    A supervisor may read every case; a counselor the cases assigned or offered to them. Records
    ``read_case`` when allowed and ``access_denied`` when not (someone not on the active roster included).
    """
    staff = await session.get(Counselor, counselor_id)
    if staff is None or not staff.active:
        await record(
            session,
            actor=Actor(ActorKind.COUNSELOR, str(counselor_id)),
            action=AuditAction.ACCESS_DENIED,
            case_id=case.id,
            detail={"wanted": what, "why": "not on the roster"},
            now=now,
        )
        return False
    actor = Actor.staff(staff.telegram_id, staff.role)
    allowed = staff.role == Role.SUPERVISOR.value or case.counselor_id == counselor_id
    if not allowed:
        offered = await session.scalar(
            select(Offer.id).where(Offer.case_id == case.id, Offer.counselor_id == counselor_id).limit(1)
        )
        allowed = offered is not None
    await record(
        session,
        actor=actor,
        action=AuditAction.READ_CASE if allowed else AuditAction.ACCESS_DENIED,
        case_id=case.id,
        detail={"wanted": what} if allowed else {"wanted": what, "why": "not assigned or offered"},
        now=now,
    )
    return allowed


@dataclass(frozen=True, slots=True)
class Revealed:
    """The contact data of a case's employee: a Telegram chat id (as text) or an e-mail address."""

    channel: str
    contact: str


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a reveal was refused; the refusal itself is in the audit trail."""

    why: str


async def reveal_identity(
    session: AsyncSession,
    vault: Vault,
    *,
    requester_id: int,
    case_code: str,
    reason: str | None,
    consent: bool = False,
    now: datetime,
) -> Revealed | Refused:
    """Decrypt the contact data behind a case, only on a safety ground or with the employee's consent.

    Without consent: the requester must be an active supervisor and give a written reason. With the
    employee's consent (``consent=True``, e.g. they pressed "share my contact"): any active counselor
    on the roster. Either way the entry is recorded *before* the contact is decrypted and returned; a
    refusal is recorded as ``access_denied``. The caller commits (``Store.unit()``).
    """
    case = await session.scalar(select(Case).where(Case.code == case_code.strip().upper()))
    staff = await session.get(Counselor, requester_id)
    reason = (reason or "").strip() or None
    case_id = case.id if case is not None else None
    actor = (
        Actor.staff(staff.telegram_id, staff.role)
        if staff is not None
        else Actor(ActorKind.COUNSELOR, str(requester_id))
    )

    async def deny(why: str) -> Refused:
        await record(
            session,
            actor=actor,
            action=AuditAction.ACCESS_DENIED,
            case_id=case_id,
            reason=reason,
            detail={"wanted": "identity", "why": why},
            now=now,
        )
        return Refused(why)

    if staff is None or not staff.active:
        return await deny("not on the roster")
    if case is None:
        return await deny("no such case")
    if not consent:
        if staff.role != Role.SUPERVISOR.value:
            return await deny("only a supervisor may reveal an identity without the employee's consent")
        if reason is None:
            return await deny("a written reason is required")
    employee = await session.get(Employee, case.employee_id) if case.employee_id is not None else None
    if employee is None or employee.contact_enc is None:
        return await deny("no contact data is stored for this case")
    await record(
        session,
        actor=actor,
        action=AuditAction.REVEAL_IDENTITY,
        case_id=case.id,
        reason=reason,
        detail={"ground": "consent" if consent else "safety", "channel": employee.channel},
        now=now,
    )
    return Revealed(employee.channel, vault.decrypt(employee.contact_enc, context=CONTACT_CONTEXT))


__all__ = [
    "Actor",
    "ActorKind",
    "AuditAction",
    "AuditEntry",
    "Refused",
    "Revealed",
    "audit_log",
    "entries",
    "may_read_case",
    "record",
    "reveal_identity",
    "trail",
]
