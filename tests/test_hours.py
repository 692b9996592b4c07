"""Service hours with a fixed clock: weekdays, Taiwan holidays, make-up workdays."""

from __future__ import annotations

from datetime import datetime, time

import pytest

from hotline.hours import ServiceHours
from hotline.sandbox.stage import TAIPEI
from hotline.settings import HoursSection

HOURS = ServiceHours(HoursSection())


@pytest.mark.parametrize(
    ("moment", "is_open", "next_opening"),
    [
        (datetime(2026, 11, 25, 10, 0), True, datetime(2026, 11, 25, 10, 0)),  # Wednesday
        (datetime(2026, 11, 25, 8, 59), False, datetime(2026, 11, 25, 9, 0)),
        (datetime(2026, 11, 25, 17, 0), False, datetime(2026, 11, 26, 9, 0)),
        (datetime(2026, 11, 27, 18, 0), False, datetime(2026, 11, 30, 9, 0)),  # Friday evening
        (datetime(2026, 11, 28, 10, 0), False, datetime(2026, 11, 30, 9, 0)),  # Saturday
        (datetime(2026, 10, 9, 10, 0), False, datetime(2026, 10, 12, 9, 0)),  # National Day (observed)
        (datetime(2026, 2, 16, 10, 0), False, datetime(2026, 2, 23, 9, 0)),  # Lunar New Year
        (datetime(2025, 2, 8, 10, 0), True, datetime(2025, 2, 8, 10, 0)),  # make-up workday (補班)
    ],
)
def test_open_and_next_opening(moment: datetime, is_open: bool, next_opening: datetime) -> None:
    local = moment.replace(tzinfo=TAIPEI)
    assert HOURS.is_open(local) is is_open
    assert HOURS.next_opening(local) == next_opening.replace(tzinfo=TAIPEI)


def test_hours_are_configurable() -> None:
    late = ServiceHours(HoursSection(opens=time(13, 0), closes=time(21, 0), weekdays=(0, 1, 2, 3, 4, 5)))
    assert late.is_open(datetime(2026, 11, 28, 20, 0, tzinfo=TAIPEI))  # Saturday evening
    assert not late.is_open(datetime(2026, 11, 25, 10, 0, tzinfo=TAIPEI))


@pytest.mark.parametrize("country", ["TW", "TWN", "JP", "DE"])
def test_one_country_s_calendar_loaded_alone_is_the_package_s_own(country: str) -> None:
    """The calendar is loaded from its country's module alone (not all ~250: issue 12 §3); it must be
    the very calendar the package gives, holidays and make-up workdays alike."""
    import holidays

    from hotline.hours import _calendar, _country_class

    assert _country_class(country) is not None
    for year in (2025, 2026, 2027):
        ours, theirs = _calendar(country, year), holidays.country_holidays(country, years=[year])
        assert dict(ours) == dict(theirs) and ours.weekend_workdays == theirs.weekend_workdays


def test_an_unknown_country_code_takes_the_package_s_own_way() -> None:
    from hotline.hours import _country_class

    assert _country_class("XX") is None
