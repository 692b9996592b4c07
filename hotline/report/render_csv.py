"""The report as CSV: one file per table (``<table name>.csv``), for the --out directory.

Each file: a header row (the row header's label, then the columns' labels, zh-TW) and one row per table
row, cells as in every format (``<5`` suppressed, ``—`` no data, numbers without units: the header
carries them). Encoded UTF-8 with a BOM (``utf-8-sig``) so that Excel opens the Chinese labels correctly.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hotline.report.model import Labels, Report, Table, format_cell, label

ENCODING = "utf-8-sig"


def table_csv(table: Table, labels: Labels) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([label(labels, table.row_header), *(label(labels, c.key) for c in table.columns)])
    for row_label, row in zip(table.rows, table.cells, strict=True):
        cells = [format_cell(cell, col.kind) for cell, col in zip(row, table.columns, strict=True)]
        writer.writerow([label(labels, row_label), *cells])
    return out.getvalue()


def render_csv(report: Report, labels: Labels) -> dict[str, str]:
    """File name -> CSV text, one per table."""
    return {f"{t.name}.csv": table_csv(t, labels) for t in report.tables}


def write_csv(report: Report, labels: Labels, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_csv(report, labels).items():
        path = out_dir / name
        path.write_text(text, encoding=ENCODING)
        written.append(path)
    return written
