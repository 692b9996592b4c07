"""Crafted report data and parsers of the three formats."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

from hotline.report import labels_from_toml
from hotline.report.model import (
    AlertRecord,
    ContactRecord,
    EmailCaseRecord,
    ReportInput,
    SessionHoursRecord,
    SurveyRecord,
)

TAIPEI = ZoneInfo("Asia/Taipei")
ROOT = Path(__file__).resolve().parents[2]
LABELS = labels_from_toml(ROOT / "config" / "messages.booking.zh-TW.toml")


def people(prefix: str, n: int, channel: str, area: str | None, month: str) -> list[ContactRecord]:
    return [ContactRecord(channel, area, month, f"{prefix}{i}") for i in range(n)]


def crafted() -> ReportInput:
    """Jan: 20 on Telegram, 3 by e-mail (small), 6 face-to-face; Feb: 8 on Telegram, 7 by e-mail."""
    contacts = [
        *people("t", 20, "telegram", "work_stress", "2026-01"),
        *people("e", 3, "email", "legal", "2026-01"),
        *people("f", 6, "face_to_face", "family", "2026-01"),
        *people("u", 8, "telegram", "mental", "2026-02"),
        *people("v", 7, "email", None, "2026-02"),
    ]
    jan = datetime(2026, 1, 5, 9, 0, tzinfo=TAIPEI)
    cases = [
        # 6 January cases answered after 10, 20, 30, 40, 50 hours, and one after 80 h (late: due at 72 h)
        *(
            EmailCaseRecord(jan, jan + timedelta(days=3), jan + timedelta(hours=h), f"m{h}")
            for h in (10, 20, 30, 40, 50, 80)
        ),
        # 2 February cases: too few people for a percentage or a median
        EmailCaseRecord(jan + timedelta(days=31), jan + timedelta(days=34), None, "n1"),
        EmailCaseRecord(jan + timedelta(days=31), jan + timedelta(days=34), jan + timedelta(days=32), "n2"),
    ]
    alerts = [
        AlertRecord(jan, jan + timedelta(minutes=m), "telegram", f"a{i}")
        for i, m in enumerate((1, 2, 3, 4, 5, 6, 7, 8, 9, 10))
    ] + [AlertRecord(jan + timedelta(days=40), None, "email", "b1")]
    sessions = [SessionHoursRecord(f"s{i}", 2026, 2.0, 4.0) for i in range(6)] + [
        SessionHoursRecord("x1", 2026, 5.0, 4.0),
        SessionHoursRecord("x2", 2026, 6.0, 4.0),
    ]
    surveys = [SurveyRecord("telegram", "2026-01", r, True) for r in (5, 4, 4, 5, 3, 5)] + [
        SurveyRecord("email", "2026-02", 2, False)
    ]
    return ReportInput(
        date(2026, 1, 1),
        date(2026, 3, 31),
        datetime(2026, 4, 1, tzinfo=TAIPEI),
        contacts,
        cases,
        alerts,
        sessions,
        surveys,
    )


def md_tables(text: str) -> dict[str, list[list[str]]]:
    """Title -> rows (header first, separator dropped) of every pipe table."""
    tables: dict[str, list[list[str]]] = {}
    title = ""
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:]
            tables[title] = []
        elif line.startswith("|") and not line.startswith("|---"):
            tables[title].append([c.strip() for c in line.strip("|").split(" | ")])
    return tables


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


class HtmlTables(HTMLParser):
    """Sections by id -> rows of cell texts; images' src."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self.suppressed_cells = 0
        self._section = ""
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self._section = a.get("id") or ""
            self.tables[self._section] = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
            if "suppressed" in (a.get("class") or ""):
                self.suppressed_cells += 1
        elif tag == "img":
            self.images.append(a.get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._section].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(text: str) -> HtmlTables:
    parser = HtmlTables()
    parser.feed(text)
    return parser
