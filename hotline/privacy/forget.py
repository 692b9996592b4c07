"""The employee's right to be forgotten (``/forget``) and to know what is kept (``/mydata``).

Forgetting erases the employee's contact data, the content of their cases (messages, mails, queued
mail), the content of their stored LINE events and Telegram updates (set aside, or left over) and the
link between them and their cases; an open case is ended as withdrawn first. What stays
is what carries no content and no identity: the case rows as statistics (code, channel, dates, area,
risk level, outcome), crisis-alert times and the audit trail — the office's figures and the record that
the erasure happened. Both are recorded in the audit trail as the (anonymous) employee's own action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.domain import CaseStatus
from hotline.flows.booking_vocab import OPEN_STATES as OPEN_BOOKING_STATES
from hotline.privacy.audit import Actor, AuditAction, record
from hotline.storage import booking_repo, inbound, line_repo
from hotline.storage.models import (
    BookingRow,
    Case,
    Conversation,
    Employee,
    Mail,
    Message,
    Outbox,
    SlotRow,
    ThreadKey,
    Timer,
)


@dataclass(frozen=True, slots=True)
class MyData:
    """What is stored about one employee, for ``/mydata``."""

    cases: tuple[tuple[str, str, str], ...]  # (code, channel, status)
    messages: int
    has_contact: bool


@dataclass
class Forgotten:
    cases: int = 0
    messages: int = 0
    mails: int = 0
    line_events: int = 0  # stored LINE events whose content was erased (set aside, or left over)
    telegram_updates: int = 0  # the same for stored Telegram updates (webhook mode)
    ended: list[tuple[int, str, int | None]] = field(default_factory=list)  # (case id, code, counselor)
    bookings_ended: list[tuple[int, datetime]] = field(default_factory=list)  # (counselor, session start)


async def my_data(s: AsyncSession, employee: Employee | None, now: datetime) -> MyData:
    await record(s, actor=Actor.employee(), action=AuditAction.MYDATA, now=now)
    if employee is None:
        return MyData((), 0, False)
    cases = (
        await s.scalars(select(Case).where(Case.employee_id == employee.id).order_by(Case.opened_at))
    ).all()
    ids = [c.id for c in cases]
    count = 0
    if ids:
        count = (
            await s.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.case_id.in_(ids), Message.content_enc.is_not(None))
            )
            or 0
        )
    return MyData(
        tuple((c.code, c.channel, c.status) for c in cases), count, employee.contact_enc is not None
    )


async def forget(s: AsyncSession, employee: Employee, now: datetime) -> Forgotten:
    """Erase everything of ``employee`` that carries content or identity (in the caller's transaction)."""
    result = Forgotten()
    cases = (await s.scalars(select(Case).where(Case.employee_id == employee.id))).all()
    ids = [c.id for c in cases]
    for case in cases:
        if case.status != CaseStatus.CLOSED.value:
            result.ended.append((case.id, case.code, case.counselor_id))
            case.status, case.outcome, case.closed_at = CaseStatus.CLOSED.value, "withdrawn", now
        case.employee_id = None
    result.cases = len(ids)
    if ids:
        await s.execute(
            update(Timer)
            .where(Timer.case_id.in_(ids), Timer.fired_at.is_(None), Timer.cancelled_at.is_(None))
            .values(cancelled_at=now)
        )
        erased = await s.execute(
            update(Message)
            .where(Message.case_id.in_(ids), Message.content_enc.is_not(None))
            .values(content_enc=None)
        )
        result.messages = int(erased.rowcount)  # type: ignore[attr-defined]
        mails = await s.execute(update(Mail).where(Mail.case_id.in_(ids)).values(raw_enc=None))
        result.mails = int(mails.rowcount)  # type: ignore[attr-defined]
        await s.execute(delete(Outbox).where(Outbox.case_id.in_(ids)))
        await s.execute(delete(ThreadKey).where(ThreadKey.case_id.in_(ids)))
    await s.execute(delete(Conversation).where(Conversation.employee_id == employee.id))
    # Open bookings end: their slot is free again and its counselor is told (no session with nobody).
    for booking in (await s.scalars(select(BookingRow).where(BookingRow.employee_id == employee.id))).all():
        if booking.state in OPEN_BOOKING_STATES:
            slot = await s.get(SlotRow, booking.slot_id) if booking.slot_id else None
            if slot is not None and booking.state in ("requested", "confirmed"):
                result.bookings_ended.append((slot.counselor_id, slot.start))
            if slot is not None and slot.booking_id == booking.id:
                slot.booking_id = None
            booking.state, booking.updated_at = "cancelled_by_employee", now
            await booking_repo.cancel_reminders(s, booking.id, now)
    # Issue 7: bookings keep their slot and state (the office's hours) but no longer point at anyone.
    await s.execute(
        update(BookingRow)
        .where(BookingRow.employee_id == employee.id)
        .values(employee_id=None, private_reason_enc=None)
    )
    await line_repo.forget_blocked(s, employee.pseudonym)  # issue 15: a LINE user's block-list entry
    result.line_events = await forget_line_events(s, employee.pseudonym, now)
    result.telegram_updates = await inbound.forget_chat(s, now)
    await s.flush()
    await s.delete(employee)
    await record(
        s,
        actor=Actor.employee(),
        action=AuditAction.FORGET,
        detail={
            "cases": result.cases,
            "messages": result.messages,
            "mails": result.mails,
            "line_events": result.line_events,
            "telegram_updates": result.telegram_updates,
        },
        now=now,
    )
    return result


async def forget_line_events(s: AsyncSession, pseudonym: str, now: datetime) -> int:
    """A LINE user's stored events that still hold content (set aside, or left over before the event
    asking to be forgotten): content and user key erased (:func:`line_repo.forget_user`). Nothing for
    anyone else (a Telegram or e-mail pseudonym names no LINE event)."""
    return await line_repo.forget_user(s, pseudonym, line_repo.CARRYING_OUT.get(), now)


async def forget_unknown(s: AsyncSession, pseudonym: str, now: datetime) -> int:
    """``/forget`` from someone the service keeps no employee row for (never accepted the notice): only
    their stored LINE events or Telegram updates can hold anything of theirs. Recorded as ``forget``
    when something went."""
    line_events = await forget_line_events(s, pseudonym, now)
    updates = await inbound.forget_chat(s, now)
    if line_events or updates:
        await record(
            s,
            actor=Actor.employee(),
            action=AuditAction.FORGET,
            detail={
                "cases": 0, "messages": 0, "mails": 0, "line_events": line_events, "telegram_updates": updates
            },
            now=now,
        )  # fmt: skip
    return line_events + updates
