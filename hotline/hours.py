"""Service hours of the line: weekdays 09:00-17:00 Asia/Taipei, Taiwan public holidays closed and
make-up workdays (補班) open, from the ``holidays`` package. Pure: the clock is always passed in."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from hotline.settings import HoursSection

_MAX_DAYS_AHEAD = 60


@lru_cache(maxsize=8)
def _calendar(country: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, years=[year])


class ServiceHours:
    """Answers "is the line open now?" and "when does it open next?"."""

    def __init__(self, section: HoursSection) -> None:
        self._s = section
        self.zone = ZoneInfo(section.timezone)
        # Load the holiday tables now, not on the first employee's message (the package imports lazily).
        _calendar(section.holidays_country, 2026)

    def is_working_day(self, day: date) -> bool:
        cal = _calendar(self._s.holidays_country, day.year)
        if day in cal.weekend_workdays:
            return True
        if day in cal:
            return False
        return day.weekday() in self._s.weekdays

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.zone)
        return self.is_working_day(local.date()) and self._s.opens <= local.time() < self._s.closes

    def next_opening(self, now: datetime) -> datetime:
        """The start of the next opening period at or after ``now`` (``now`` itself when open)."""
        if self.is_open(now):
            return now
        local = now.astimezone(self.zone)
        day = local.date()
        if local.time() >= self._s.opens:
            day += timedelta(days=1)
        for _ in range(_MAX_DAYS_AHEAD):
            if self.is_working_day(day):
                return datetime.combine(day, self._s.opens, tzinfo=self.zone)
            day += timedelta(days=1)
        raise ValueError("no working day in the next 60 days; check the [hours] settings")

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)


__all__ = ["ServiceHours"]
