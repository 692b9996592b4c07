"""Repositories: the statements the service needs, each working inside the caller's session.

A unit of work is one ``AsyncSession`` transaction (``Store.unit()``); nothing here commits on its own,
so one update from a person costs at most one transaction. Content is encrypted with the vault.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy import case as sa_case
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hotline.crypto import CONTENT_CONTEXT, Vault
from hotline.domain import CaseStatus, Category, Channel, Risk, Screening, make_case_code
from hotline.errors import StorageError
from hotline.settings import CounselorEntry
from hotline.storage.db import create_engine, session_factory
from hotline.storage.models import (
    Alert,
    Case,
    ContactEvent,
    Conversation,
    Counselor,
    Employee,
    Message,
    Offer,
    Timer,
)
from hotline.timer_kinds import TimerKind


class Store:
    """The database of one deployment: engine, sessions and the vault for content."""

    def __init__(self, url: str, vault: Vault) -> None:
        self.url = url
        self.engine: AsyncEngine = create_engine(url)
        self.sessions: async_sessionmaker[AsyncSession] = session_factory(self.engine)
        self.vault = vault
        self.locking = self.engine.dialect.name != "sqlite"  # SQLite: one pooled connection serialises

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back on error."""
        try:
            async with self.sessions() as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise StorageError(f"database error: {exc.__class__.__name__}") from exc

    async def close(self) -> None:
        await self.engine.dispose()

    # -- content ----------------------------------------------------------------------------------
    def seal(self, text: str) -> bytes:
        return self.vault.encrypt(text, context=CONTENT_CONTEXT)

    def open(self, blob: bytes | None) -> str:
        return "" if blob is None else self.vault.decrypt(blob, context=CONTENT_CONTEXT)


# ---- roster ---------------------------------------------------------------------------------------


async def sync_roster(s: AsyncSession, entries: Sequence[CounselorEntry]) -> None:
    """Make the counselors table match the configured roster (removed people become inactive)."""
    known = {c.telegram_id: c for c in (await s.scalars(select(Counselor))).all()}
    for entry in entries:
        row = known.pop(entry.telegram_id, None)
        if row is None:
            s.add(
                Counselor(telegram_id=entry.telegram_id, name=entry.name, role=entry.role.value, active=True)
            )
        else:
            row.name, row.role, row.active = entry.name, entry.role.value, True
    for row in known.values():
        row.active, row.on_duty = False, False


async def counselor(s: AsyncSession, telegram_id: int) -> Counselor | None:
    row = await s.get(Counselor, telegram_id)
    return row if row is not None and row.active else None


async def set_duty(s: AsyncSession, telegram_id: int, on: bool, now: datetime) -> None:
    await s.execute(
        update(Counselor)
        .where(Counselor.telegram_id == telegram_id)
        .values(on_duty=on, on_duty_since=now if on else None)
    )


async def on_duty(s: AsyncSession) -> list[Counselor]:
    rows = await s.scalars(
        select(Counselor)
        .where(Counselor.on_duty.is_(True), Counselor.active.is_(True))
        .order_by(Counselor.name)
    )
    return list(rows.all())


async def supervisors(s: AsyncSession) -> list[Counselor]:
    rows = await s.scalars(
        select(Counselor)
        .where(Counselor.role == "supervisor", Counselor.active.is_(True))
        .order_by(Counselor.name)
    )
    return list(rows.all())


# ---- employees and conversations -----------------------------------------------------------------


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


async def ensure_employee(s: AsyncSession, pseudonym: str, channel: Channel, now: datetime) -> Employee:
    employee = Employee(pseudonym=pseudonym, channel=channel.value, created_at=now)
    s.add(employee)
    await s.flush()
    return employee


async def save_state(
    s: AsyncSession, thread: Thread, state: str, category: str | None, case_id: int | None, now: datetime
) -> None:
    assert thread.employee is not None
    if thread.conversation is None:
        thread.conversation = Conversation(
            employee_id=thread.employee.id, state=state, category=category, case_id=case_id, updated_at=now
        )
        s.add(thread.conversation)
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


# ---- cases and messages ----------------------------------------------------------------------------


async def open_case(
    s: AsyncSession,
    *,
    channel: Channel,
    employee_id: int | None,
    category: Category | None,
    now: datetime,
    reply_due_at: datetime | None = None,
) -> Case:
    for _ in range(8):
        code = make_case_code(secrets.randbelow)
        exists = await s.scalar(select(Case.id).where(Case.code == code))
        if exists is None:
            case = Case(
                code=code,
                channel=channel.value,
                status=CaseStatus.WAITING.value,
                category=category.value if category else None,
                risk=Risk.NONE.value,
                employee_id=employee_id,
                opened_at=now,
                reply_due_at=reply_due_at,
                message_count=0,
            )
            s.add(case)
            try:
                await s.flush()
            except IntegrityError:  # pragma: no cover - a concurrent writer took the same code
                continue
            return case
    raise StorageError("could not allocate a unique case code")


async def case_by_code(s: AsyncSession, code: str) -> Case | None:
    return await s.scalar(select(Case).where(Case.code == code.upper()))


async def add_message(
    s: AsyncSession,
    store: Store,
    case: Case,
    *,
    direction: str,
    text: str,
    now: datetime,
    screening: Screening | None = None,
    counselor_id: int | None = None,
) -> None:
    s.add(
        Message(
            case_id=case.id,
            direction=direction,
            counselor_id=counselor_id,
            content_enc=store.seal(text),
            risk=(screening.risk if screening else Risk.NONE).value,
            cues=list(screening.cues) if screening else [],
            created_at=now,
        )
    )
    if direction == "inbound":
        case.message_count += 1
    if screening is not None:
        raise_risk(case, screening.risk)


def raise_risk(case: Case, risk: Risk) -> None:
    case.risk = Risk.highest(Risk(case.risk), risk).value


async def messages_of(
    s: AsyncSession, store: Store, case_id: int, *, mark: str = ""
) -> list[tuple[str, str]]:
    """(direction, text) of a case's messages, oldest first; ``mark``: a line put before each mail from
    someone other than the case's first sender (issue 19)."""
    rows = await s.scalars(select(Message).where(Message.case_id == case_id).order_by(Message.id))
    return [
        (
            m.direction,
            f"{mark}\n{store.open(m.content_enc)}" if mark and m.other_sender else store.open(m.content_enc),
        )
        for m in rows.all()
    ]


async def claim(s: AsyncSession, case_id: int, counselor_id: int, now: datetime) -> bool:
    """Take a waiting case; exactly one of any number of concurrent callers wins."""
    result = await s.execute(
        update(Case)
        .where(Case.id == case_id, Case.status == CaseStatus.WAITING.value)
        .values(status=CaseStatus.ACTIVE.value, counselor_id=counselor_id, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release(s: AsyncSession, case: Case) -> None:
    case.status, case.counselor_id, case.claimed_at = CaseStatus.WAITING.value, None, None


async def close_case(s: AsyncSession, case: Case, outcome: str, now: datetime) -> None:
    case.status, case.outcome, case.closed_at = CaseStatus.CLOSED.value, outcome, now


# The queue: crises first, then heavy distress, then the rest; oldest first within each.
_RISK_FIRST = sa_case({r.value: -r.rank for r in Risk}, value=Case.risk, else_=0)


async def waiting_cases(s: AsyncSession, channel: Channel | None = None) -> list[Case]:
    query = select(Case).where(Case.status == CaseStatus.WAITING.value).order_by(_RISK_FIRST, Case.opened_at)
    if channel is not None:
        query = query.where(Case.channel == channel.value)
    return list((await s.scalars(query)).all())


async def all_cases(s: AsyncSession) -> list[Case]:
    return list((await s.scalars(select(Case).order_by(Case.opened_at, Case.id))).all())


# ---- offers (where a case card or alert was shown) --------------------------------------------------


async def record_offer(
    s: AsyncSession, case_id: int, counselor_id: int, kind: str, card_ref: str | None, now: datetime
) -> None:
    s.add(Offer(case_id=case_id, counselor_id=counselor_id, kind=kind, card_ref=card_ref, created_at=now))


async def offers_for(s: AsyncSession, case_id: int) -> list[Offer]:
    return list((await s.scalars(select(Offer).where(Offer.case_id == case_id).order_by(Offer.id))).all())


async def offered_to(s: AsyncSession, case_id: int, counselor_id: int, kind: str | None = None) -> bool:
    query = select(Offer.id).where(Offer.case_id == case_id, Offer.counselor_id == counselor_id)
    if kind is not None:
        query = query.where(Offer.kind == kind)
    found = await s.scalar(query.limit(1))
    return found is not None


# ---- timers ------------------------------------------------------------------------------------------


async def schedule(
    s: AsyncSession,
    kind: TimerKind,
    due_at: datetime,
    now: datetime,
    case_id: int | None = None,
    payload: dict[str, object] | None = None,
) -> Timer:
    timer = Timer(
        kind=TimerKind(kind).value, due_at=due_at, case_id=case_id, payload=payload or {}, created_at=now
    )
    s.add(timer)
    return timer


async def cancel_timers(s: AsyncSession, case_id: int, kinds: Sequence[TimerKind], now: datetime) -> None:
    await s.execute(
        update(Timer)
        .where(
            Timer.case_id == case_id,
            Timer.kind.in_(kinds),
            Timer.fired_at.is_(None),
            Timer.cancelled_at.is_(None),
        )
        .values(cancelled_at=now)
        .execution_options(synchronize_session=False)
    )


def _pending() -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (Timer.fired_at.is_(None), Timer.cancelled_at.is_(None))


async def next_due_at(s: AsyncSession) -> datetime | None:
    # A leased timer (being run, or failed and waiting for its lease to expire) is due again at lease end.
    soonest = func.min(func.coalesce(Timer.lease_until, Timer.due_at))
    due: datetime | None = await s.scalar(select(soonest).where(*_pending()))
    return due


async def claim_due_timers(
    s: AsyncSession, now: datetime, owner: str, lease_until: datetime, *, lock: bool, limit: int = 50
) -> list[Timer]:
    """Lease due timers to ``owner`` (``FOR UPDATE SKIP LOCKED`` where the database has it)."""
    query = (
        select(Timer)
        .where(*_pending(), Timer.due_at <= now)
        .where((Timer.lease_until.is_(None)) | (Timer.lease_until < now))
        .order_by(Timer.due_at)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True)
    timers = list((await s.scalars(query)).all())
    for timer in timers:
        timer.lease_owner, timer.lease_until = owner, lease_until
    return timers


async def finish_timer(s: AsyncSession, timer_id: int, now: datetime) -> None:
    await s.execute(
        update(Timer)
        .where(Timer.id == timer_id)
        .values(fired_at=now)
        .execution_options(synchronize_session=False)
    )


async def pending_timer(s: AsyncSession, case_id: int, kind: TimerKind) -> Timer | None:
    query = select(Timer).where(Timer.case_id == case_id, Timer.kind == kind, *_pending()).order_by(Timer.id)
    return await s.scalar(query.limit(1))


async def has_pending_kind(s: AsyncSession, kind: TimerKind) -> bool:
    found = await s.scalar(select(Timer.id).where(Timer.kind == kind, *_pending()).limit(1))
    return found is not None


async def has_pending_timer(s: AsyncSession, case_id: int, kind: TimerKind) -> bool:
    found = await s.scalar(select(Timer.id).where(Timer.case_id == case_id, Timer.kind == kind, *_pending()))
    return found is not None


# ---- crisis alerts -------------------------------------------------------------------------------------


async def record_alert(
    s: AsyncSession,
    case: Case,
    screening: Screening,
    now: datetime,
    *,
    notified: int,
    supervisors_at_once: bool,
) -> Alert:
    alert = Alert(
        case_id=case.id,
        channel=case.channel,
        risk=screening.risk.value,
        cues=list(screening.cues),
        raised_at=now,
        notified=notified,
        notified_supervisors_at_once=supervisors_at_once,
    )
    s.add(alert)
    return alert


async def acknowledge_alerts(s: AsyncSession, case_id: int, counselor_id: int, now: datetime) -> int:
    """The first acknowledgement of a case's open alerts; later ones change nothing."""
    result = await s.execute(
        update(Alert)
        .where(Alert.case_id == case_id, Alert.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=counselor_id)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def escalate_alerts(s: AsyncSession, case_id: int, now: datetime) -> int:
    result = await s.execute(
        update(Alert)
        .where(Alert.case_id == case_id, Alert.acknowledged_at.is_(None), Alert.escalated_at.is_(None))
        .values(escalated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def alerts_of(s: AsyncSession, case_id: int) -> list[Alert]:
    return list((await s.scalars(select(Alert).where(Alert.case_id == case_id).order_by(Alert.id))).all())


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
