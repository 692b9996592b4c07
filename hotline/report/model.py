"""The report's input records (plain data the CLI reads from the database) and its output tables.

Input: one record per contact, e-mail case, crisis alert, person-year of face-to-face hours and survey
answer. ``person`` fields are opaque keys (a pseudonym, a case id as text): they are only compared, to
count distinct people for small-cell suppression, and never shown. Months are ``"YYYY-MM"`` strings in
Asia/Taipei; datetimes are aware.

Output: a :class:`Report` of :class:`Table` s. A table's cells know how many people they stand for; the
suppression (``suppress.py``) marks cells, and every renderer shows a marked cell as :data:`SUPPRESSED`
(``<5``: 1 to 4 people) or :data:`COMPLEMENT` (``x``: hidden so that the ``<5`` cannot be recomputed).
Labels are message keys (``report.*``, resolved by the renderer) or literal text (months, years).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

TAIPEI = ZoneInfo("Asia/Taipei")
MIN_PEOPLE = 5
SUPPRESSED = "<5"  # a cell of 1 to 4 people
COMPLEMENT = "x"  # a cell of 5 or more people hidden so that a "<5" cannot be recomputed from the totals
NO_DATA = "—"

Labels = Callable[[str], str]  # message key -> text (e.g. ``Texts.get``)


# ---- input ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """One contact: a Telegram, LINE or e-mail case, a face-to-face session, a declined notice..."""

    channel: str  # "telegram" | "line" | "email" | "face_to_face"
    area: str | None  # a Category value, or None when not chosen
    month: str  # "YYYY-MM"
    person: str


@dataclass(frozen=True, slots=True)
class EmailCaseRecord:
    received_at: datetime  # when the first mail reached the inbox
    reply_due_at: datetime
    first_reply_at: datetime | None
    person: str


@dataclass(frozen=True, slots=True)
class AlertRecord:
    raised_at: datetime
    acknowledged_at: datetime | None
    channel: str
    person: str  # the case (one case, one person)


@dataclass(frozen=True, slots=True)
class SessionHoursRecord:
    """One employee's face-to-face hours in one calendar year (attended + confirmed sessions)."""

    person: str
    year: int
    hours_used: float
    quota_hours: float


@dataclass(frozen=True, slots=True)
class SurveyRecord:
    """One row of ``survey_answers`` (the comment is not part of the report); ``channel`` may be "merged"."""

    channel: str
    month: str
    rating: int | None
    recommend: bool | None


@dataclass(frozen=True, slots=True)
class ReportInput:
    start: date
    end: date  # inclusive
    as_of: datetime  # when the report is made: e-mail cases not yet due and unanswered are pending
    contacts: Sequence[ContactRecord] = ()
    email_cases: Sequence[EmailCaseRecord] = ()
    alerts: Sequence[AlertRecord] = ()
    sessions: Sequence[SessionHoursRecord] = ()
    surveys: Sequence[SurveyRecord] = ()
    zone: ZoneInfo = TAIPEI


# ---- output ---------------------------------------------------------------------------------------


class Kind(StrEnum):
    COUNT = "count"  # people or contacts: additive, shown as an integer
    PERCENT = "percent"
    HOURS = "hours"
    MINUTES = "minutes"
    RATING = "rating"


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # label key
    kind: Kind


@dataclass(frozen=True, slots=True)
class Cell:
    value: float | None  # None: nothing to compute (no people)
    people: int  # how many distinct people the value is derived from
    suppressed: bool = False

    @property
    def small(self) -> bool:
        return 0 < self.people < MIN_PEOPLE

    @property
    def complementary(self) -> bool:
        """Hidden to protect another cell (it stands for 5 or more people)."""
        return self.suppressed and not self.small


Pos = tuple[int, int]  # (row, column)


@dataclass(frozen=True, slots=True)
class Equation:
    """``sum(members) == total`` holds among the table's values: what a reader could use to recompute."""

    members: tuple[Pos, ...]
    total: Pos


@dataclass(frozen=True, slots=True)
class Table:
    name: str  # file stem and anchor, e.g. "contacts_by_month"
    title: str  # label key
    row_header: str  # label key
    rows: tuple[str, ...]  # label keys or literal labels
    columns: tuple[Column, ...]
    cells: tuple[tuple[Cell, ...], ...]
    equations: tuple[Equation, ...] = field(default=())

    def cell(self, pos: Pos) -> Cell:
        return self.cells[pos[0]][pos[1]]


@dataclass(frozen=True, slots=True)
class Report:
    start: date
    end: date
    tables: tuple[Table, ...]

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)


def label(labels: Labels, text: str) -> str:
    """A label key (``report.*``) through ``labels``; anything else (a month, a year) as it is."""
    return labels(text) if text.startswith("report.") else text


def format_cell(cell: Cell, kind: Kind) -> str:
    """The text of a cell in every format: ``<5`` for 1-4 people, ``x`` hidden to protect another,
    ``—`` when there is nothing."""
    if cell.suppressed:
        return COMPLEMENT if cell.complementary else SUPPRESSED
    if cell.value is None:
        return NO_DATA
    if kind is Kind.COUNT:
        return str(round(cell.value))
    if kind is Kind.RATING:
        return f"{cell.value:.2f}"
    return f"{cell.value:.1f}"
