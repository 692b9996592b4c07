"""The three formats show the same suppressed cells; the HTML page carries its three charts."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from hotline.report import build_report, render
from hotline.report.charts import ack_series, contacts_series, promise_series
from hotline.report.model import COMPLEMENT, SUPPRESSED, Report, format_cell, label
from hotline.report.render_csv import ENCODING, write_csv

from .support import LABELS, crafted, csv_rows, html_tables, md_tables

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report() -> Report:
    return build_report(crafted())


def expected_rows(report: Report, name: str) -> list[list[str]]:
    table = report.table(name)
    header = [label(LABELS, table.row_header), *(label(LABELS, c.key) for c in table.columns)]
    rows = [
        [label(LABELS, r), *(format_cell(c, col.kind) for c, col in zip(row, table.columns, strict=True))]
        for r, row in zip(table.rows, table.cells, strict=True)
    ]
    return [header, *rows]


def test_markdown(report: Report) -> None:
    text = render(report, "md", LABELS)["report.md"]
    tables = md_tables(text)
    for table in report.tables:
        assert tables[LABELS(table.title)] == expected_rows(report, table.name)
    monthly = tables[LABELS("report.table.contacts_by_month")]
    assert monthly[1] == ["2026-01", COMPLEMENT, SUPPRESSED, COMPLEMENT, "29"]


def test_csv(report: Report, tmp_path: Path) -> None:
    files = render(report, "csv", LABELS)
    assert sorted(files) == sorted(f"{t.name}.csv" for t in report.tables)
    for table in report.tables:
        assert csv_rows(files[f"{table.name}.csv"]) == expected_rows(report, table.name)
    assert csv_rows(files["contacts_by_month.csv"])[1] == [
        "2026-01",
        COMPLEMENT,
        SUPPRESSED,
        COMPLEMENT,
        "29",
    ]
    written = write_csv(report, LABELS, tmp_path / "out")
    assert len(written) == len(report.tables)
    raw = (tmp_path / "out" / "survey.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.decode(ENCODING) == files["survey.csv"]


def test_html(report: Report) -> None:
    page = render(report, "html", LABELS)["report.html"]
    parsed = html_tables(page)
    for table in report.tables:
        assert parsed.tables[table.name] == expected_rows(report, table.name)
    assert parsed.suppressed_cells == sum(c.suppressed for t in report.tables for row in t.cells for c in row)
    assert len(parsed.images) == 3
    for src in parsed.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.removeprefix("data:image/png;base64,")).startswith(PNG)
    assert "http://" not in page and "https://" not in page, "self-contained"


def test_charts_leave_out_suppressed_values(report: Report) -> None:
    months, series = contacts_series(report)
    assert months == ["2026-01", "2026-02", "2026-03"]
    assert series == {
        "telegram": [None, None, 0.0],
        "email": [None, None, 0.0],
        "face_to_face": [None, 0.0, 0.0],
    }
    assert promise_series(report) == (months, [None, None, None])
    assert ack_series(report) == (months, [5.5, None, None], [9.0, None, None])


def test_unknown_format(report: Report) -> None:
    with pytest.raises(ValueError, match="md, csv, html"):
        render(report, "pdf", LABELS)
