"""Employees and their conversations: the thread of an update, contact records, who is known.

Each function works inside the caller's session (``Store.unit()``); nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.domain import Channel
from hotline.errors import StorageError
from hotline.storage import rows
from hotline.storage.models import (
    Case,
    ContactEvent,
    Conversation,
    Employee,
)
from hotline.storage.store import Store

_NEW_EMPLOYEE = insert(rows.table(Employee)).returning(*rows.table(Employee).c)
_NEW_CONVERSATION = insert(rows.table(Conversation))


@dataclass
class Thread:
    """An employee with their conversation and open case, loaded for one update."""

    employee: Employee | None
    conversation: Conversation | None
    case: Case | None


async def load_thread(s: AsyncSession, pseudonym: str, *, lock: bool) -> Thread:
    employee = await s.scalar(select(Employee).where(Employee.pseudonym == pseudonym))
    if employee is None:
        return Thread(None, None, None)
    query = select(Conversation).where(Conversation.employee_id == employee.id)
    conversation = await s.scalar(query.with_for_update() if lock else query)
    case = None
    if conversation is not None and conversation.case_id is not None:
        case = await s.get(Case, conversation.case_id)
    return Thread(employee, conversation, case)


async def ensure_employee(
    s: AsyncSession, pseudonym: str, channel: Channel, now: datetime, contact_enc: bytes | None = None
) -> Employee:
    """A new employee's row (``contact_enc``: their sealed address, when they open a case at once),
    inserted at once in one Core statement and returned as a persistent object of ``s``
    (``hotline/storage/rows.py``)."""
    conn = await rows.connection(s)
    values = {"pseudonym": pseudonym, "channel": channel.value, "contact_enc": contact_enc, "created_at": now}
    row = (await conn.execute(_NEW_EMPLOYEE, values)).one()
    return rows.attach(s, Employee(**row._asdict()))


async def save_state(
    s: AsyncSession, thread: Thread, state: str, category: str | None, case_id: int | None, now: datetime
) -> None:
    assert thread.employee is not None
    if thread.conversation is None:  # inserted at once, one Core statement (hotline/storage/rows.py)
        values = {
            "employee_id": thread.employee.id,
            "state": state,
            "category": category,
            "case_id": case_id,
            "updated_at": now,
            "survey_token_hash": None,
        }
        conn = await rows.connection(s)
        await conn.execute(_NEW_CONVERSATION, values)
        thread.conversation = rows.attach(s, Conversation(**values))
    else:
        conv = thread.conversation
        conv.state, conv.category, conv.case_id, conv.updated_at = state, category, case_id, now


async def forget_contact(s: AsyncSession, thread: Thread) -> None:
    """Remove an employee who never opened a case (e.g. declined the notice): nothing stays but a count."""
    if thread.conversation is not None:
        await s.delete(thread.conversation)
    if thread.employee is not None:
        has_case = await s.scalar(select(func.count()).where(Case.employee_id == thread.employee.id))
        if not has_case:
            await s.flush()
            await s.delete(thread.employee)


async def record_contact(s: AsyncSession, channel: Channel, kind: str, now: datetime) -> None:
    s.add(ContactEvent(channel=channel.value, kind=kind, at=now))


async def employee_for_case(
    s: AsyncSession, case: Case, *, lock: bool = False
) -> tuple[Employee, Conversation | None] | None:
    """The employee of ``case`` and their conversation (locked for update where the database can, so a
    counselor's action and the employee's own message do not overwrite each other's state)."""
    if case.employee_id is None:
        return None
    employee = await s.get(Employee, case.employee_id)
    if employee is None:
        return None
    query = select(Conversation).where(Conversation.employee_id == employee.id)
    return employee, await s.scalar(query.with_for_update() if lock else query)


async def pseudonyms(store: Store, channel: Channel) -> set[str]:
    async with store.unit() as s:
        return set(
            (await s.scalars(select(Employee.pseudonym).where(Employee.channel == channel.value))).all()
        )


async def is_known(store: Store, pseudonym: str) -> bool:
    """Whether anything is stored for this pseudonym: one indexed read, no transaction (the hot path of
    a first contact, which must write nothing)."""
    try:
        async with store.engine.connect() as conn:
            found = await conn.scalar(select(Employee.id).where(Employee.pseudonym == pseudonym))
    except SQLAlchemyError as exc:
        raise StorageError(f"database error: {exc.__class__.__name__}") from exc
    return found is not None


__all__ = [
    "Thread",
    "employee_for_case",
    "ensure_employee",
    "forget_contact",
    "is_known",
    "load_thread",
    "pseudonyms",
    "record_contact",
    "save_state",
]
