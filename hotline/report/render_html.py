"""The report as one self-contained HTML page: tables, and the charts as inline PNG data URIs."""

from __future__ import annotations

import base64
from html import escape

from hotline.report.charts import CHARTS
from hotline.report.model import Kind, Labels, Report, Table, format_cell, label

_STYLE = """
body{font-family:system-ui,"Noto Sans TC","Microsoft JhengHei",sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:.25rem .6rem}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.suppressed{color:#777;background:#f4f4f4}
tr.total td,tr.total th{font-weight:bold}
figure{margin:1rem 0}
img{max-width:100%}
"""


def table_html(table: Table, labels: Labels) -> str:
    head = "".join(
        f"<th>{escape(label(labels, h))}</th>" for h in (table.row_header, *(c.key for c in table.columns))
    )
    body = []
    for row_label, row in zip(table.rows, table.cells, strict=True):
        cells = []
        for cell, column in zip(row, table.columns, strict=True):
            css = "num suppressed" if cell.suppressed else "num"
            kind = f' data-kind="{column.kind.value}"' if column.kind is Kind.COUNT else ""
            cells.append(f'<td class="{css}"{kind}>{escape(format_cell(cell, column.kind))}</td>')
        css = ' class="total"' if row_label == "report.total" else ""
        body.append(f"<tr{css}><th>{escape(label(labels, row_label))}</th>{''.join(cells)}</tr>")
    return (
        f'<section id="{table.name}"><h2>{escape(label(labels, table.title))}</h2>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></section>"
    )


def render_html(report: Report, labels: Labels) -> str:
    period = labels("report.period").format(start=report.start.isoformat(), end=report.end.isoformat())
    figures = []
    for name, draw in CHARTS:
        data = base64.b64encode(draw(report)).decode("ascii")
        caption = escape(labels(f"report.chart.{name}"))
        figures.append(
            f'<figure id="chart-{name}"><img alt="{caption}" src="data:image/png;base64,{data}">'
            f"<figcaption>{caption}（{escape(labels('report.chart_note'))}）</figcaption></figure>"
        )
    title = escape(labels("report.title"))
    return (
        '<!DOCTYPE html>\n<html lang="zh-Hant-TW"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{title}</h1><p>{escape(period)}</p><p>{escape(labels('report.suppressed_note'))}</p>"
        f"{''.join(figures)}{''.join(table_html(t, labels) for t in report.tables)}</body></html>\n"
    )
