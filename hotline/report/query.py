"""The report's records read from the database (read-only; no content, no contact identity).

``person`` keys are opaque and never leave this process: ``e<employee id>`` for a known employee (so one
person's chat, e-mail and sessions count once per cell), ``c<case id>`` for a case without one, and
``x<row id>`` for a contact that never became a case (each such contact is counted as its own person, the
cautious choice for small-cell suppression). Records are the period's (``start`` to ``end`` inclusive, in
the service's zone); ``build_report`` does the rest.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.report.model import (
    AlertRecord,
    ContactRecord,
    EmailCaseRecord,
    ReportInput,
    SessionHoursRecord,
    SurveyRecord,
)
from hotline.storage.models import Alert, BookingRow, Case, ContactEvent, SlotRow, SurveyAnswer

SESSION_STATES = ("confirmed", "attended")  # hours used against the quota (flows/booking COUNTED, done)


def _month(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


# Records that no longer point at a person (after /forget, a declined notice) all count as ONE person in
# a cell: fewer people means more suppression, the cautious side for small-cell protection.
UNKNOWN = "?"


def _person(employee_id: int | None, _case_id: int = 0) -> str:
    return f"e{employee_id}" if employee_id is not None else UNKNOWN


async def report_input(
    s: AsyncSession, start: date, end: date, *, as_of: datetime, zone: ZoneInfo, quota_hours: float
) -> ReportInput:
    """Every record the report needs for ``start``..``end``."""
    lo = datetime.combine(start, time(0), zone)
    hi = datetime.combine(end + timedelta(days=1), time(0), zone)
    cases = (await s.scalars(select(Case).where(Case.opened_at >= lo, Case.opened_at < hi))).all()
    contacts = [
        ContactRecord(c.channel, c.category, _month(c.opened_at, zone), _person(c.employee_id, c.id))
        for c in cases
    ]
    events = (await s.scalars(select(ContactEvent).where(ContactEvent.at >= lo, ContactEvent.at < hi))).all()
    contacts += [ContactRecord(e.channel, None, _month(e.at, zone), UNKNOWN) for e in events]
    email_cases = [
        EmailCaseRecord(c.opened_at, c.reply_due_at, c.first_reply_at, _person(c.employee_id, c.id))
        for c in cases
        if c.channel == "email" and c.reply_due_at is not None
    ]
    alerts = (await s.scalars(select(Alert).where(Alert.raised_at >= lo, Alert.raised_at < hi))).all()
    owners = dict(
        (
            await s.execute(select(Case.id, Case.employee_id).where(Case.id.in_({a.case_id for a in alerts})))
        ).all()
    )
    alert_records = [
        AlertRecord(a.raised_at, a.acknowledged_at, a.channel, _person(owners.get(a.case_id))) for a in alerts
    ]

    # Hours used: sessions inside the report's range that have taken place by ``as_of`` (a session booked
    # for December is not "used" in a March report), per person and calendar year (the quota's year).
    sessions = (
        await s.execute(
            select(BookingRow, SlotRow)
            .join(SlotRow, SlotRow.id == BookingRow.slot_id)
            .where(BookingRow.state.in_(SESSION_STATES), SlotRow.start >= lo, SlotRow.start < min(hi, as_of))
        )
    ).all()
    minutes: dict[tuple[str, int], int] = defaultdict(int)
    for booking, slot in sessions:
        person = _person(booking.employee_id)
        minutes[(person, slot.start.astimezone(zone).year)] += slot.minutes
        if booking.state == "attended" and lo <= slot.start < hi:
            contacts.append(ContactRecord("face_to_face", booking.area, _month(slot.start, zone), person))
    hours = [SessionHoursRecord(p, y, m / 60, quota_hours) for (p, y), m in sorted(minutes.items())]

    first, last = _month(lo, zone), _month(hi - timedelta(seconds=1), zone)
    answers = (
        await s.scalars(select(SurveyAnswer).where(SurveyAnswer.month >= first, SurveyAnswer.month <= last))
    ).all()
    surveys = [SurveyRecord(a.channel, a.month, a.rating, a.recommend) for a in answers]
    return ReportInput(
        start=start,
        end=end,
        as_of=as_of,
        contacts=contacts,
        email_cases=email_cases,
        alerts=alert_records,
        sessions=hours,
        surveys=surveys,
        zone=zone,
    )
