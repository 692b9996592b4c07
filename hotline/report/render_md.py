"""The report as Markdown: a title, the period, one pipe table per figure; suppressed cells read ``<5``."""

from __future__ import annotations

from hotline.report.model import Labels, Report, Table, format_cell, label


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def table_md(table: Table, labels: Labels) -> str:
    header = [label(labels, table.row_header), *(label(labels, c.key) for c in table.columns)]
    lines = [
        f"## {label(labels, table.title)}",
        "",
        "| " + " | ".join(_escape(h) for h in header) + " |",
        "|" + "|".join(["---", *("---:" for _ in table.columns)]) + "|",
    ]
    for row_label, row in zip(table.rows, table.cells, strict=True):
        texts = [format_cell(cell, col.kind) for cell, col in zip(row, table.columns, strict=True)]
        lines.append("| " + " | ".join([_escape(label(labels, row_label)), *texts]) + " |")
    return "\n".join(lines)


def render_md(report: Report, labels: Labels) -> str:
    period = labels("report.period").format(start=report.start.isoformat(), end=report.end.isoformat())
    parts = [f"# {labels('report.title')}", "", period, "", labels("report.suppressed_note")]
    parts += ["", *("\n" + table_md(t, labels) for t in report.tables)]
    return "\n".join(parts).strip() + "\n"
