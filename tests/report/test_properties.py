"""Property: whatever the data, no rendered count cell shows 1 to 4, and no suppressed cell is alone."""

from __future__ import annotations

from datetime import date, datetime
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.domain import Category
from hotline.report import build_report, render
from hotline.report.model import (
    ContactRecord,
    Kind,
    ReportInput,
    SessionHoursRecord,
    SurveyRecord,
)
from hotline.report.suppress import recoverable

from .support import LABELS, TAIPEI, csv_rows, html_tables, md_tables

CHANNELS = st.sampled_from(["telegram", "email", "face_to_face"])
AREAS = st.one_of(st.none(), st.sampled_from([c.value for c in Category]))
MONTHS = st.sampled_from(["2026-01", "2026-02", "2026-03"])
PERSON = st.integers(0, 40).map(str)

contacts = st.lists(st.builds(ContactRecord, CHANNELS, AREAS, MONTHS, PERSON), max_size=120)
sessions = st.lists(
    st.builds(
        SessionHoursRecord, PERSON, st.just(2026), st.integers(1, 8).map(float), st.sampled_from([4.0, 6.0])
    ),
    max_size=30,
    unique_by=lambda s: s.person,
)
surveys = st.lists(
    st.builds(
        SurveyRecord,
        st.sampled_from(["telegram", "email", "face_to_face", "merged"]),
        MONTHS,
        st.one_of(st.none(), st.integers(1, 5)),
        st.one_of(st.none(), st.booleans()),
    ),
    max_size=40,
)


def _counts_ok(texts: list[str]) -> bool:
    return all(not (t.isdigit() and 1 <= int(t) <= 4) for t in texts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contacts, sessions, surveys)
def test_no_rendered_count_between_1_and_4(
    cs: list[ContactRecord], ss: list[SessionHoursRecord], sv: list[SurveyRecord]
) -> None:
    data = ReportInput(
        date(2026, 1, 1), date(2026, 3, 31), datetime(2026, 4, 1, tzinfo=TAIPEI), cs, (), (), ss, sv
    )
    report = build_report(data)
    md = md_tables(render(report, "md", LABELS)["report.md"])
    files = render(report, "csv", LABELS)
    # The page's tables only: drawing its three PNG charts is what made this test take minutes, and the
    # charts' series (which carry the same suppression) have tests of their own in test_render.py.
    with mock.patch("hotline.report.render_html.CHARTS", ()):
        html = html_tables(render(report, "html", LABELS)["report.html"]).tables
    for table in report.tables:
        assert recoverable(table) == [], table.name
        count_cols = [i + 1 for i, c in enumerate(table.columns) if c.kind is Kind.COUNT]
        for rows in (md[LABELS(table.title)], csv_rows(files[f"{table.name}.csv"]), html[table.name]):
            for texts in rows[1:]:
                assert _counts_ok([texts[i] for i in count_cols]), (table.name, texts)
        for cells in table.cells:
            for cell in cells:
                assert not (cell.small and not cell.suppressed)
