"""Cases and their messages: opening, claiming, closing, the queue (crises first).

Each function works inside the caller's session (``Store.unit()``); nothing here commits.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import case as sa_case
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.domain import CaseStatus, Category, Channel, Risk, Screening, make_case_code
from hotline.errors import StorageError
from hotline.storage import rows
from hotline.storage.models import (
    Case,
    Message,
)
from hotline.storage.store import Store

_NEW_MESSAGE = insert(rows.table(Message))  # built once: building a statement costs as much as running it


async def open_case(
    s: AsyncSession,
    *,
    channel: Channel,
    employee_id: int | None,
    category: Category | None,
    now: datetime,
    reply_due_at: datetime | None = None,
) -> Case:
    """A new waiting case with a fresh code: one statement (a code already taken inserts nothing and
    another is drawn), the case returned as a persistent object of ``s`` (``hotline/storage/rows.py``)."""
    conn = await rows.connection(s)
    values = {
        "channel": channel.value,
        "status": CaseStatus.WAITING.value,
        "category": category.value if category else None,
        "risk": Risk.NONE.value,
        "employee_id": employee_id,
        "opened_at": now,
        "reply_due_at": reply_due_at,
        "message_count": 0,
    }
    statement = rows.insert_unless_taken(conn, Case, "code")
    for _ in range(8):
        row = (await conn.execute(statement, {"code": make_case_code(secrets.randbelow), **values})).first()
        if row is not None:
            return rows.attach(s, Case(**row._asdict()))
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
    """The message is inserted at once, in one Core statement (``hotline/storage/rows.py``): messages
    keep the order they were added in."""
    conn = await rows.connection(s)
    await conn.execute(
        _NEW_MESSAGE,
        {
            "case_id": case.id,
            "direction": direction,
            "counselor_id": counselor_id,
            "content_enc": store.seal(text),
            "risk": (screening.risk if screening else Risk.NONE).value,
            "cues": list(screening.cues) if screening else [],
            "created_at": now,
        },
    )
    if direction == "inbound":
        case.message_count += 1
    if screening is not None:
        raise_risk(case, screening.risk)


async def remark_last_inbound(s: AsyncSession, case: Case, screening: Screening) -> None:
    """The case's last inbound message gets ``screening`` where it says more (a verdict that came after
    the reply: its risk never lowered, its cues added)."""
    message = await s.scalar(
        select(Message)
        .where(Message.case_id == case.id, Message.direction == "inbound")
        .order_by(Message.id.desc())
        .limit(1)
    )
    if message is not None:
        message.risk = Risk.highest(Risk(message.risk), screening.risk).value
        message.cues = [*message.cues, *(cue for cue in screening.cues if cue not in message.cues)]


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


__all__ = [
    "add_message",
    "all_cases",
    "case_by_code",
    "claim",
    "close_case",
    "messages_of",
    "open_case",
    "raise_risk",
    "release",
    "waiting_cases",
]
