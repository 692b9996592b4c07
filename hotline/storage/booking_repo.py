"""Repositories of face-to-face booking and the satisfaction survey (issue 7), inside the caller's session.

Like ``repo``, nothing here commits: a unit of work is the caller's ``Store.unit()``. The survey functions
never take or return anything that could link an answer to a case or an employee: the case flag is set
by case id, the token row and the answer row are written with channel, area and month only.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.domain import CASE_CODE_ALPHABET
from hotline.errors import StorageError
from hotline.flows.booking_vocab import CLOSED_STATES, Slot
from hotline.flows.survey import StoreSurveyAnswer, SurveyState, hash_token
from hotline.storage import survey_repo
from hotline.storage.models import BookingRow, Case, Conversation, SlotRow, SurveyToken, Timer
from hotline.storage.repo import Store
from hotline.timer_kinds import TimerKind

CODE_PREFIX = "BK-"
CODE_PATTERN = r"BK-[2-9A-HJKMNP-Z]{8}"


def as_slot(row: SlotRow) -> Slot:
    return Slot(row.id, row.counselor_id, row.start, row.minutes, row.location)


# ---- slots ------------------------------------------------------------------------------------------


async def add_slot(
    s: AsyncSession, counselor_id: int, start: datetime, minutes: int, location: str, now: datetime
) -> SlotRow:
    row = SlotRow(counselor_id=counselor_id, start=start, minutes=minutes, location=location, created_at=now)
    s.add(row)
    await s.flush()
    return row


GONE_STATES = ("declined", "cancelled_by_employee", "cancelled_by_counselor")  # a slot they held is free


async def remove_free_slot(s: AsyncSession, slot_id: int, counselor_id: int, now: datetime) -> bool:
    """Delete a counselor's own future slot if no live booking holds it. Bookings that once held it
    (declined or cancelled) let go of it first. The slot row is locked before anything changes, so a
    booking racing in either wins or finds the slot gone."""
    slot = await s.scalar(
        select(SlotRow)
        .where(SlotRow.id == slot_id, SlotRow.counselor_id == counselor_id, SlotRow.start > now)
        .with_for_update()
    )
    if slot is None:
        return False
    if slot.booking_id is not None:
        holder = await s.get(BookingRow, slot.booking_id)
        if holder is not None and holder.state not in GONE_STATES:
            return False
    await s.execute(update(BookingRow).where(BookingRow.slot_id == slot_id).values(slot_id=None))
    await s.execute(delete(SlotRow).where(SlotRow.id == slot_id))
    return True


async def slots_of(s: AsyncSession, counselor_id: int, since: datetime) -> list[SlotRow]:
    query = select(SlotRow).where(SlotRow.counselor_id == counselor_id, SlotRow.start >= since)
    return list((await s.scalars(query.order_by(SlotRow.start))).all())


async def free_slots(s: AsyncSession, after: datetime, limit: int = 10) -> list[SlotRow]:
    query = (
        select(SlotRow)
        .where(SlotRow.booking_id.is_(None), SlotRow.start > after)
        .order_by(SlotRow.start, SlotRow.id)
        .limit(limit)
    )
    return list((await s.scalars(query)).all())


async def hold_slot(s: AsyncSession, slot_id: int, booking_id: int) -> bool:
    """Take a free slot for a booking; exactly one of any number of concurrent callers wins."""
    result = await s.execute(
        update(SlotRow)
        .where(SlotRow.id == slot_id, SlotRow.booking_id.is_(None))
        .values(booking_id=booking_id)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release_slot(s: AsyncSession, slot_id: int, booking_id: int) -> None:
    await s.execute(
        update(SlotRow)
        .where(SlotRow.id == slot_id, SlotRow.booking_id == booking_id)
        .values(booking_id=None)
        .execution_options(synchronize_session=False)
    )


# ---- bookings ---------------------------------------------------------------------------------------


async def new_referral_code(s: AsyncSession) -> str:
    for _ in range(8):
        code = CODE_PREFIX + "".join(secrets.choice(CASE_CODE_ALPHABET) for _ in range(8))
        if await s.scalar(select(BookingRow.id).where(BookingRow.referral_code == code)) is None:
            return code
    raise StorageError("could not allocate a unique booking code")  # pragma: no cover


async def add_booking(
    s: AsyncSession,
    *,
    code: str,
    employee_id: int | None,
    case_id: int | None,
    area: str | None,
    now: datetime,
) -> BookingRow:
    row = BookingRow(
        referral_code=code,
        employee_id=employee_id,
        case_id=case_id,
        state="choosing",
        area=area,
        paid_minutes=0,
        created_at=now,
        updated_at=now,
        survey_invited=False,
    )
    s.add(row)
    await s.flush()
    return row


async def booking(s: AsyncSession, booking_id: int, *, lock: bool) -> BookingRow | None:
    query = select(BookingRow).where(BookingRow.id == booking_id)
    return await s.scalar(query.with_for_update() if lock else query)


async def latest_by_code(s: AsyncSession, code: str) -> BookingRow | None:
    query = select(BookingRow).where(BookingRow.referral_code == code.strip().upper())
    return await s.scalar(query.order_by(BookingRow.id.desc()).limit(1))


async def latest_of_case(s: AsyncSession, case_id: int) -> BookingRow | None:
    query = select(BookingRow).where(BookingRow.case_id == case_id)
    return await s.scalar(query.order_by(BookingRow.id.desc()).limit(1))


async def latest_of_employee(s: AsyncSession, employee_id: int) -> BookingRow | None:
    query = select(BookingRow).where(BookingRow.employee_id == employee_id)
    return await s.scalar(query.order_by(BookingRow.id.desc()).limit(1))


async def history(s: AsyncSession, employee_id: int, exclude: int | None) -> list[tuple[str, Slot]]:
    """(state, slot) of the employee's other bookings that have a slot (for ``counted_minutes``)."""
    query = (
        select(BookingRow.state, SlotRow)
        .join(SlotRow, SlotRow.id == BookingRow.slot_id)
        .where(BookingRow.employee_id == employee_id)
    )
    if exclude is not None:
        query = query.where(BookingRow.id != exclude)
    return [(state, as_slot(slot)) for state, slot in (await s.execute(query)).all()]


def is_closed(row: BookingRow) -> bool:
    return row.state in CLOSED_STATES


# ---- reminders (durable timers) -------------------------------------------------------------------------


async def cancel_reminders(s: AsyncSession, booking_id: int, now: datetime) -> None:
    """Cancel the booking's pending reminder (timers carry the booking id in their payload)."""
    pending = await s.scalars(
        select(Timer).where(
            Timer.kind == TimerKind.BOOKING_REMINDER, Timer.fired_at.is_(None), Timer.cancelled_at.is_(None)
        )
    )
    for timer in pending.all():
        if (timer.payload or {}).get("booking_id") == booking_id:
            timer.cancelled_at = now


# ---- survey --------------------------------------------------------------------------------------------


async def mark_case_invited(s: AsyncSession, case_id: int) -> bool:
    """Set ``cases.survey_invited`` unless set; True for the one caller that set it."""
    result = await s.execute(
        update(Case)
        .where(Case.id == case_id, Case.survey_invited.is_(False))
        .values(survey_invited=True)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def mark_booking_invited(s: AsyncSession, booking_id: int) -> bool:
    result = await s.execute(
        update(BookingRow)
        .where(BookingRow.id == booking_id, BookingRow.survey_invited.is_(False))
        .values(survey_invited=True)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def issue_token(s: AsyncSession, state: SurveyState) -> str:
    """Draw a token, store its hash with the initial state; return the token (never stored)."""
    token = secrets.token_urlsafe(16)
    s.add(
        SurveyToken(
            token_hash=hash_token(token),
            channel=state.channel,
            month=state.month,
            state=state.name,
            rating=state.rating,
            recommend=state.recommend,
        )
    )
    await survey_repo.count_invitation(s, state.month, state.channel)
    return token


async def token_row(s: AsyncSession, token_hash: str, *, lock: bool) -> SurveyToken | None:
    query = select(SurveyToken).where(SurveyToken.token_hash == token_hash)
    return await s.scalar(query.with_for_update() if lock else query)


async def discard_token(s: AsyncSession, token_hash: str) -> None:
    await s.execute(delete(SurveyToken).where(SurveyToken.token_hash == token_hash))
    await s.execute(
        update(Conversation)
        .where(Conversation.survey_token_hash == token_hash)
        .values(survey_token_hash=None)
        .execution_options(synchronize_session=False)
    )


async def store_answer(s: AsyncSession, store: Store, answer: StoreSurveyAnswer) -> None:
    """Held sealed until its month is over, then released (``survey_repo.release_answers``)."""
    await survey_repo.hold_answer(s, store, answer)


async def stale_tokens(s: AsyncSession, before_month: str) -> list[SurveyToken]:
    """Open invitations of months before ``before_month`` (``"YYYY-MM"``), for the monthly sweep."""
    return list((await s.scalars(select(SurveyToken).where(SurveyToken.month < before_month))).all())
