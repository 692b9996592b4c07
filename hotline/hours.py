"""Service hours of the line: weekdays 09:00-17:00 Asia/Taipei, Taiwan public holidays closed and
make-up workdays (補班) open, from the ``holidays`` package. Pure: the clock is always passed in."""

from __future__ import annotations

import importlib.util
import sys
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays

from hotline.settings import HoursSection

_MAX_DAYS_AHEAD = 60


@lru_cache(maxsize=8)
def _calendar(country: str, year: int) -> holidays.HolidayBase:
    own = _country_class(country)
    if own is not None:
        return own(years=[year])
    return holidays.country_holidays(country, years=[year])


def _country_class(country: str) -> type[holidays.HolidayBase] | None:
    """The calendar class of one country, loaded from its own module file. Importing it the usual way
    runs ``holidays.countries``' ``__init__``, which imports all ~250 countries: more than half a second
    on every command that starts the service (issue 12 §3). None if the package's layout is not the
    expected one (then the usual way is taken)."""
    try:
        from holidays.registry import COUNTRIES

        found = next(((m, names) for m, names in COUNTRIES.items() if country in names), None)
        if found is None:
            return None
        module, names = found
        name = f"holidays.countries.{module}"
        loaded = sys.modules.get(name)
        if loaded is None:
            path = Path(holidays.__file__).parent / "countries" / f"{module}.py"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                return None
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[name] = loaded
            try:
                spec.loader.exec_module(loaded)
            except BaseException:
                del sys.modules[name]
                raise
        found_class = getattr(loaded, names[0], None)
    except (ImportError, OSError, AttributeError, TypeError, ValueError):
        return None
    if isinstance(found_class, type) and issubclass(found_class, holidays.HolidayBase):
        return found_class
    return None


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
