"""The EAP office's figures from plain records, pure: tables built, then suppressed (``suppress.py``).

Tables (names are the CSV file stems):
    contacts_by_channel   contacts per channel, with the total
    contacts_by_area      contacts per area (the 8 areas and "not chosen"), with the total
    contacts_by_month     contacts per month (rows) and channel (columns), with both margins
    email_promise         per month of arrival: cases, % answered within the promised window, median hours
                          to the first answer
    alerts                per month: crisis alerts, median and 90th percentile of minutes to acknowledgement
    face_to_face          per year: people, hours used, free hours, self-paid hours, their quota, people who
                          used up the free hours
    survey                per channel: answers, average rating, % who would recommend; answers are
                          stored only after their month (channels with too few cases merged, issue 17)

Weighted means (a % kept, an average rating) are treated like sums in the complementary rule: the
overall figure and all months (channels) but one would bound the missing one. Medians and p90s are not:
a group's median does not follow from the others'. ``contacts_by_channel`` is the total row of
``contacts_by_month``, cell for cell, so the two tables hide the same channels.

Definitions: a contact counts once per record; a cell stands for the distinct ``person`` keys in it.
Promise kept: first answer at or before ``reply_due_at``; a case without an answer counts as not kept
once it is due (at ``as_of``) and is left out (pending) before. Median: the middle value (mean of the two
middle ones); p90: nearest rank, the ceil(0.9 n)-th smallest.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from hotline.domain import Category
from hotline.flows.survey_release import MERGED
from hotline.report.model import (
    AlertRecord,
    Cell,
    Column,
    ContactRecord,
    EmailCaseRecord,
    Equation,
    Kind,
    Report,
    ReportInput,
    SessionHoursRecord,
    SurveyRecord,
    Table,
)
from hotline.report.suppress import suppress

KNOWN_CHANNELS = ("telegram", "email", "face_to_face")  # always shown; others (LINE) when present
LABELLED_CHANNELS = (*KNOWN_CHANNELS, "line")  # with a name in [report.channel]
TOTAL = "report.total"
R = TypeVar("R")


def months(start: date, end: date) -> list[str]:
    """Every ``"YYYY-MM"`` from ``start``'s month to ``end``'s, in order."""
    out: list[str] = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def month_of(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def p90(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def channels_in(found: Iterable[str]) -> list[str]:
    extra = sorted(set(found) - set(KNOWN_CHANNELS))
    return [*KNOWN_CHANNELS, *extra]


def channel_label(channel: str) -> str:
    return f"report.channel.{channel}" if channel in (*LABELLED_CHANNELS, MERGED) else channel


def _count(records: Sequence[R], person: Callable[[R], str]) -> Cell:
    return Cell(float(len(records)), len({person(r) for r in records}))


def _column_equations(n_rows: int, columns: Iterable[int]) -> list[Equation]:
    """Each listed column: its rows 0..n_rows-1 sum to the last row (the total)."""
    return [Equation(tuple((r, c) for r in range(n_rows)), (n_rows, c)) for c in columns]


# ---- contacts -------------------------------------------------------------------------------------


def _by_key(
    name: str,
    title: str,
    header: str,
    keys: Sequence[str],
    labels: Sequence[str],
    records: Sequence[ContactRecord],
    key: Callable[[ContactRecord], str],
) -> Table:
    rows = [[_count([r for r in records if key(r) == k], lambda r: r.person)] for k in keys]
    rows.append([_count(records, lambda r: r.person)])
    return Table(
        name,
        title,
        header,
        (*labels, TOTAL),
        (Column("report.column.contacts", Kind.COUNT),),
        tuple(tuple(row) for row in rows),
        tuple(_column_equations(len(keys), [0])),
    )


def contacts_by_channel(by_month: Table) -> Table:
    """The total row of ``contacts_by_month`` (already suppressed), turned into a column: the same
    cells, so what one table hides the other cannot show."""
    *channels, _ = by_month.columns
    total_row = by_month.cells[-1]
    return Table(
        "contacts_by_channel",
        "report.table.contacts_by_channel",
        "report.channel_header",
        (*(c.key for c in channels), TOTAL),
        (Column("report.column.contacts", Kind.COUNT),),
        tuple((cell,) for cell in total_row),
        tuple(_column_equations(len(channels), [0])),
    )


def contacts_by_area(records: Sequence[ContactRecord]) -> Table:
    areas = [c.value for c in Category] + ["none"]
    return _by_key(
        "contacts_by_area",
        "report.table.contacts_by_area",
        "report.area_header",
        areas,
        [f"report.area.{a}" for a in areas],
        records,
        lambda r: r.area if r.area is not None and r.area in Category._value2member_map_ else "none",
    )


def contacts_by_month(records: Sequence[ContactRecord], month_keys: Sequence[str]) -> Table:
    chans = channels_in(r.channel for r in records)
    grid: list[list[Cell]] = []
    for m in [*month_keys, None]:
        in_row = [r for r in records if m is None or r.month == m]
        row = [_count([r for r in in_row if r.channel == c], lambda r: r.person) for c in chans]
        row.append(_count(in_row, lambda r: r.person))
        grid.append(row)
    n_rows, n_cols = len(month_keys), len(chans)
    equations = _column_equations(n_rows, range(n_cols + 1))
    equations += [Equation(tuple((r, c) for c in range(n_cols)), (r, n_cols)) for r in range(n_rows + 1)]
    return Table(
        "contacts_by_month",
        "report.table.contacts_by_month",
        "report.month",
        (*month_keys, TOTAL),
        (*(Column(channel_label(c), Kind.COUNT) for c in chans), Column(TOTAL, Kind.COUNT)),
        tuple(tuple(row) for row in grid),
        tuple(equations),
    )


# ---- e-mail promise, alerts ---------------------------------------------------------------------


def _email_row(cases: Sequence[EmailCaseRecord], as_of: datetime) -> tuple[Cell, ...]:
    decided = [c for c in cases if c.first_reply_at is not None or c.reply_due_at <= as_of]
    kept = [c for c in decided if c.first_reply_at is not None and c.first_reply_at <= c.reply_due_at]
    answered = [c for c in cases if c.first_reply_at is not None]
    hours = [(c.first_reply_at - c.received_at).total_seconds() / 3600 for c in answered if c.first_reply_at]
    percent = 100 * len(kept) / len(decided) if decided else None
    return (
        _count(cases, lambda c: c.person),
        Cell(percent, len({c.person for c in decided})),
        Cell(median(hours), len({c.person for c in answered})),
    )


def _by_month(
    records: Sequence[R],
    month_keys: Sequence[str],
    month: Callable[[R], str],
    row: Callable[[Sequence[R]], tuple[Cell, ...]],
) -> list[tuple[Cell, ...]]:
    """One row per month of ``month_keys``, then the row of all the records (the total)."""
    return [row([r for r in records if month(r) == m]) for m in month_keys] + [row(records)]


def email_promise(
    cases: Sequence[EmailCaseRecord], month_keys: Sequence[str], as_of: datetime, zone: ZoneInfo
) -> Table:
    rows = _by_month(
        cases, month_keys, lambda c: month_of(c.received_at, zone), lambda g: _email_row(g, as_of)
    )
    return Table(
        "email_promise",
        "report.table.email_promise",
        "report.month",
        (*month_keys, TOTAL),
        (
            Column("report.column.cases", Kind.COUNT),
            Column("report.column.promise_kept", Kind.PERCENT),
            Column("report.column.median_reply_hours", Kind.HOURS),
        ),
        tuple(rows),
        tuple(_column_equations(len(month_keys), [0, 1])),  # the overall % is a weighted mean of the months'
    )


def _alert_row(alerts: Sequence[AlertRecord]) -> tuple[Cell, ...]:
    acked = [a for a in alerts if a.acknowledged_at is not None]
    minutes = [(a.acknowledged_at - a.raised_at).total_seconds() / 60 for a in acked if a.acknowledged_at]
    people = len({a.person for a in acked})
    return (_count(alerts, lambda a: a.person), Cell(median(minutes), people), Cell(p90(minutes), people))


def alerts_table(alerts: Sequence[AlertRecord], month_keys: Sequence[str], zone: ZoneInfo) -> Table:
    rows = _by_month(alerts, month_keys, lambda a: month_of(a.raised_at, zone), _alert_row)
    return Table(
        "alerts",
        "report.table.alerts",
        "report.month",
        (*month_keys, TOTAL),
        (
            Column("report.column.alerts", Kind.COUNT),
            Column("report.column.median_ack_minutes", Kind.MINUTES),
            Column("report.column.p90_ack_minutes", Kind.MINUTES),
        ),
        tuple(rows),
        tuple(_column_equations(len(month_keys), [0])),
    )


# ---- face-to-face hours, survey -------------------------------------------------------------------


def _hours_row(records: Sequence[SessionHoursRecord]) -> tuple[Cell, ...]:
    n = len({r.person for r in records})
    free = [min(r.hours_used, r.quota_hours) for r in records]
    paid = [max(0.0, r.hours_used - r.quota_hours) for r in records]
    at_quota = {r.person for r in records if r.hours_used >= r.quota_hours}
    return (
        Cell(float(n), n),
        Cell(sum(r.hours_used for r in records), n),
        Cell(sum(free), len({r.person for r, f in zip(records, free, strict=True) if f > 0})),
        Cell(sum(paid), len({r.person for r, p in zip(records, paid, strict=True) if p > 0})),
        Cell(sum(r.quota_hours for r in records), n),
        Cell(float(len(at_quota)), len(at_quota)),
    )


def face_to_face(records: Sequence[SessionHoursRecord], years: Sequence[int]) -> Table:
    rows = [_hours_row([r for r in records if r.year == y]) for y in years]
    rows.append(_hours_row(records))
    n = len(years)
    equations = _column_equations(n, range(6))
    equations += [Equation(((r, 2), (r, 3)), (r, 1)) for r in range(n + 1)]  # free + self-paid = used
    return Table(
        "face_to_face",
        "report.table.face_to_face",
        "report.year",
        (*(str(y) for y in years), TOTAL),
        (
            Column("report.column.people", Kind.COUNT),
            Column("report.column.hours_used", Kind.HOURS),
            Column("report.column.free_hours", Kind.HOURS),
            Column("report.column.paid_hours", Kind.HOURS),
            Column("report.column.quota_hours", Kind.HOURS),
            Column("report.column.at_quota", Kind.COUNT),
        ),
        tuple(rows),
        tuple(equations),
    )


def _survey_row(answers: Sequence[SurveyRecord]) -> tuple[Cell, ...]:
    ratings = [a.rating for a in answers if a.rating is not None]
    recs = [a.recommend for a in answers if a.recommend is not None]
    return (
        Cell(float(len(answers)), len(answers)),  # anonymous: one answer, one person
        Cell(statistics.fmean(ratings) if ratings else None, len(ratings)),
        Cell(100 * sum(recs) / len(recs) if recs else None, len(recs)),
    )


def survey_table(answers: Sequence[SurveyRecord]) -> Table:
    chans = channels_in(a.channel for a in answers)
    rows = [_survey_row([a for a in answers if a.channel == c]) for c in chans]
    rows.append(_survey_row(answers))
    return Table(
        "survey",
        "report.table.survey",
        "report.channel_header",
        (*(channel_label(c) for c in chans), TOTAL),
        (
            Column("report.column.answers", Kind.COUNT),
            Column("report.column.average_rating", Kind.RATING),
            Column("report.column.recommend", Kind.PERCENT),
        ),
        tuple(rows),
        tuple(_column_equations(len(chans), [0, 1, 2])),  # overall mean and % weigh the channels'
    )


# ---- the report -----------------------------------------------------------------------------------


def build_report(data: ReportInput) -> Report:
    """Every table of the period, suppressed. Records outside ``start..end`` are left out."""
    month_keys = months(data.start, data.end)
    in_period = set(month_keys)
    zone = data.zone
    contacts = [r for r in data.contacts if r.month in in_period]
    cases = [c for c in data.email_cases if month_of(c.received_at, zone) in in_period]
    alerts = [a for a in data.alerts if month_of(a.raised_at, zone) in in_period]
    years = list(range(data.start.year, data.end.year + 1))
    sessions = [s for s in data.sessions if s.year in years]
    answers = [s for s in data.surveys if s.month in in_period]
    by_month = suppress(contacts_by_month(contacts, month_keys))
    tables = (
        contacts_by_channel(by_month),
        contacts_by_area(contacts),
        by_month,
        email_promise(cases, month_keys, data.as_of, zone),
        alerts_table(alerts, month_keys, zone),
        face_to_face(sessions, years),
        survey_table(answers),
    )
    return Report(data.start, data.end, tuple(suppress(t) for t in tables))  # idempotent on by_month


__all__ = ["build_report", "median", "months", "p90"]
