"""Report figures and the suppression rules on crafted data."""

from __future__ import annotations

from datetime import date

import pytest

from hotline.report import build_report
from hotline.report.compute import median, months, p90
from hotline.report.model import COMPLEMENT, SUPPRESSED, Cell, Column, Equation, Kind, Table, format_cell
from hotline.report.suppress import recoverable, suppress

from .support import crafted


def shown(table: Table) -> list[list[str]]:
    return [
        [format_cell(c, col.kind) for c, col in zip(row, table.columns, strict=True)] for row in table.cells
    ]


def test_median_and_p90() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0 and median([1.0, 2.0, 3.0, 10.0]) == 2.5 and median([]) is None
    assert p90([float(m) for m in range(1, 11)]) == 9.0  # nearest rank: the 9th of 10
    assert p90([float(m) for m in range(1, 12)]) == 10.0  # ceil(9.9) = 10th of 11
    assert p90([7.0]) == 7.0 and p90([]) is None


def test_months() -> None:
    assert months(date(2025, 11, 15), date(2026, 2, 1)) == ["2025-11", "2025-12", "2026-01", "2026-02"]


def test_contacts_and_complementary_suppression() -> None:
    report = build_report(crafted())
    assert shown(report.table("contacts_by_month")) == [
        [COMPLEMENT, SUPPRESSED, COMPLEMENT, "29"],  # Jan: 20 Telegram, 3 e-mail, 6 face-to-face
        [COMPLEMENT, COMPLEMENT, "0", "15"],  # Feb: 8 Telegram, 7 e-mail
        ["0", "0", "0", "0"],
        ["28", COMPLEMENT, COMPLEMENT, "44"],
    ]
    # the by-channel table is the total row, so it hides what the monthly table hides
    assert shown(report.table("contacts_by_channel")) == [["28"], [COMPLEMENT], [COMPLEMENT], ["44"]]
    by_area = dict(
        zip(report.table("contacts_by_area").rows, shown(report.table("contacts_by_area")), strict=True)
    )
    assert by_area["report.area.legal"] == [SUPPRESSED]  # 3 people
    assert by_area["report.area.family"] == [COMPLEMENT]  # 6: the smallest other non-zero cell
    assert by_area["report.area.career"] == ["0"] and by_area["report.total"] == ["44"]
    for table in report.tables:
        assert recoverable(table) == [], table.name


def test_email_promise() -> None:
    table = build_report(crafted()).table("email_promise")
    assert shown(table) == [
        [COMPLEMENT, COMPLEMENT, "35.0"],  # 6 cases, 5 of 6 kept (83.3 %) hidden: Feb's would follow
        [SUPPRESSED, SUPPRESSED, SUPPRESSED],  # 2 cases
        ["0", "—", "—"],
        ["8", "75.0", "30.0"],
    ]
    assert table.cells[0][1].value == pytest.approx(100 * 5 / 6)


def test_alerts() -> None:
    assert shown(build_report(crafted()).table("alerts")) == [
        [COMPLEMENT, "5.5", "9.0"],
        [SUPPRESSED, "—", "—"],  # one alert, never acknowledged
        ["0", "—", "—"],
        ["11", "5.5", "9.0"],
    ]


def test_face_to_face_hours() -> None:
    table = build_report(crafted()).table("face_to_face")
    # 8 people, 23 h used, 20 free, 3 self-paid by 2 people (hidden), so free hours are hidden too
    assert shown(table)[0] == ["8", "23.0", COMPLEMENT, SUPPRESSED, "32.0", SUPPRESSED]
    assert table.cells[0][2].value == 20.0 and table.cells[0][3].value == 3.0


def test_survey_averages() -> None:
    table = build_report(crafted()).table("survey")
    assert shown(table) == [
        [
            COMPLEMENT,
            COMPLEMENT,
            COMPLEMENT,
        ],  # Telegram 6 answers: with the overall mean, e-mail's would follow
        [SUPPRESSED, SUPPRESSED, SUPPRESSED],
        ["0", "—", "—"],
        ["7", "4.00", "85.7"],
    ]
    assert table.cells[0][1].value == pytest.approx(26 / 6)


def _line(values: list[tuple[float, int]]) -> Table:
    cells = tuple((Cell(v, p),) for v, p in values)
    n = len(values) - 1
    return Table(
        "t",
        "t",
        "h",
        tuple(str(i) for i in range(n + 1)),
        (Column("c", Kind.COUNT),),
        cells,
        (Equation(tuple((r, 0) for r in range(n)), (n, 0)),),
    )


@pytest.mark.parametrize(
    ("values", "hidden"),
    [
        # one small cell: the smallest other non-zero cell goes too (not the larger one, not a zero)
        ([(3, 3), (0, 0), (9, 9), (6, 6), (18, 18)], [0, 3]),
        # ties: the first in order
        ([(3, 3), (6, 6), (6, 6), (15, 15)], [0, 1]),
        # two small cells protect each other; the total stays
        ([(3, 3), (2, 2), (9, 9), (14, 14)], [0, 1]),
        # a small cell among zeros: only the total can hide it
        ([(3, 3), (0, 0), (0, 0), (3, 3)], [0, 3]),
        ([(4, 4), (0, 0), (7, 7)], [0, 2]),  # here the total is 7 people: hidden as the complement
        # nothing small: nothing hidden
        ([(5, 5), (0, 0), (5, 5)], []),
    ],
)
def test_complementary_rule(values: list[tuple[float, int]], hidden: list[int]) -> None:
    table = suppress(_line(values))
    assert [r for r, row in enumerate(table.cells) if row[0].suppressed] == hidden
    assert recoverable(table) == []


def test_primary_cells_of_every_kind() -> None:
    assert format_cell(Cell(80.0, 4, True), Kind.PERCENT) == SUPPRESSED
    assert format_cell(Cell(None, 0), Kind.HOURS) == "—"
    assert format_cell(Cell(4.25, 9), Kind.RATING) == "4.25"
    assert format_cell(Cell(12.0, 9, True), Kind.COUNT) == COMPLEMENT


def test_records_outside_the_period_are_left_out() -> None:
    data = crafted()
    report = build_report(type(data)(date(2026, 2, 1), date(2026, 2, 28), data.as_of, data.contacts))
    assert report.table("contacts_by_month").rows == ("2026-02", "report.total")
    assert report.table("contacts_by_channel").cells[-1][0].value == 15
