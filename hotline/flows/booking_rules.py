"""The booking rules that need no machine: slots, the yearly free quota, cancelling, reminders. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from hotline.flows.booking_vocab import Slot

TAIPEI = ZoneInfo("Asia/Taipei")


class SlotProblem(StrEnum):
    NAIVE_TIME = "naive_time"
    IN_THE_PAST = "in_the_past"
    BAD_LENGTH = "bad_length"
    NO_LOCATION = "no_location"
    OVERLAP = "overlap"


def validate_slot(new: Slot, existing: Iterable[Slot], now: datetime) -> SlotProblem | None:
    """Why a counselor cannot publish ``new`` (None when it is fine). Any hour of any day is allowed
    (seed: sessions may be after hours); slots of one counselor may touch but not overlap."""
    if new.start.tzinfo is None:
        return SlotProblem.NAIVE_TIME
    if new.start <= now:
        return SlotProblem.IN_THE_PAST
    if not 0 < new.minutes <= 8 * 60:
        return SlotProblem.BAD_LENGTH
    if not new.location.strip():
        return SlotProblem.NO_LOCATION
    for other in existing:
        same_counselor = other.counselor_id == new.counselor_id and other.id != new.id
        if same_counselor and new.start < other.end and other.start < new.end:
            return SlotProblem.OVERLAP
    return None


COUNTED_STATES = frozenset({"requested", "confirmed", "attended"})


def quota_year(moment: datetime, zone: ZoneInfo = TAIPEI) -> int:
    """The calendar year (in the service's zone) whose quota a session starting at ``moment`` uses."""
    return moment.astimezone(zone).year


def counted_minutes(bookings: Iterable[tuple[str, Slot]], year: int, zone: ZoneInfo = TAIPEI) -> int:
    """Minutes of one employee's sessions counted against the free quota of ``year``: confirmed and
    attended ones, and requests still waiting (so two requests cannot both be promised as free).
    Declined, cancelled and no-show sessions do not count."""
    return sum(
        slot.minutes
        for name, slot in bookings
        if name in COUNTED_STATES and quota_year(slot.start, zone) == year
    )


def self_paid_minutes(used_minutes: int, slot_minutes: int, free_hours_per_year: int) -> int:
    """Minutes of a new session past the free quota: used 180 + 60 against 4 h -> 0; used 210 + 60 -> 30."""
    free_left = max(0, free_hours_per_year * 60 - used_minutes)
    return max(0, slot_minutes - free_left)


def may_cancel(start: datetime, now: datetime, cancel_min_hours: int) -> bool:
    """The employee may cancel when at least ``cancel_min_hours`` remain (exactly that much is enough)."""
    return start - now >= timedelta(hours=cancel_min_hours)


def reminder_plan(start: datetime, now: datetime, leads_hours: Iterable[int]) -> tuple[datetime, int] | None:
    """When to remind of a session confirmed at ``now``: the first lead (hours before ``start``, longest
    first) whose moment is still ahead, as ``(moment, lead)``; None when every one has passed (the
    confirmation, sent at once, carries the details). Leads (24, 2): confirmed two days ahead -> the day
    before; 3 hours ahead -> 2 hours before; 1 hour ahead -> None."""
    for lead in sorted(set(leads_hours), reverse=True):
        at = start - timedelta(hours=lead)
        if at > now:
            return at, lead
    return None
