"""Charts of the report as PNG bytes (matplotlib, Agg canvas, no pyplot state), respecting suppression.

The series come from the suppressed tables: a suppressed or empty value is ``None`` and is NOT drawn
(a gap in a line, no bar); the caption in the HTML says so. Axis labels and legends are English and
numbers only (channel codes, "YYYY-MM"), so the charts need no CJK font on the machine that renders them;
the HTML around them carries the zh-TW titles.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hotline.report.compute import KNOWN_CHANNELS
from hotline.report.model import Report, Table

Series = list[float | None]


def _month_rows(table: Table) -> list[int]:
    return [i for i, name in enumerate(table.rows) if not name.startswith("report.")]


def _value(table: Table, row: int, col: int) -> float | None:
    cell = table.cells[row][col]
    return None if cell.suppressed else cell.value


def contacts_series(report: Report) -> tuple[list[str], dict[str, Series]]:
    """Months and, per channel, the contacts of each month (None where suppressed)."""
    table = report.table("contacts_by_month")
    rows = _month_rows(table)
    series: dict[str, Series] = {}
    for c, column in enumerate(table.columns[:-1]):  # the last column is the total
        name = column.key.removeprefix("report.channel.")
        series[name] = [_value(table, r, c) for r in rows]
    return [table.rows[r] for r in rows], series


def promise_series(report: Report) -> tuple[list[str], Series]:
    table = report.table("email_promise")
    rows = _month_rows(table)
    return [table.rows[r] for r in rows], [_value(table, r, 1) for r in rows]


def ack_series(report: Report) -> tuple[list[str], Series, Series]:
    table = report.table("alerts")
    rows = _month_rows(table)
    return (
        [table.rows[r] for r in rows],
        [_value(table, r, 1) for r in rows],
        [_value(table, r, 2) for r in rows],
    )


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _figure(title: str, months: Sequence[str], ylabel: str) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xticks(range(len(months)), list(months), rotation=45, fontsize=8)
    ax.set_xlim(-0.6, len(months) - 0.4)  # every month keeps its place, drawn or not
    ax.set_ylim(bottom=0, auto=True)
    ax.grid(axis="y", alpha=0.3)
    return fig, ax


def _drawn(values: Series) -> tuple[list[int], list[float]]:
    xs = [i for i, v in enumerate(values) if v is not None]
    return xs, [v for v in values if v is not None]


def contacts_chart(report: Report) -> bytes:
    months, series = contacts_series(report)
    fig, ax = _figure("Contacts per month by channel", months, "contacts")
    width = 0.8 / max(1, len(series))
    for k, (name, values) in enumerate(series.items()):
        xs, ys = _drawn(values)
        ax.bar([x - 0.4 + width * (k + 0.5) for x in xs], ys, width, label=name)
    ax.legend(fontsize=8)
    return _png(fig)


def promise_chart(report: Report) -> bytes:
    months, values = promise_series(report)
    fig, ax = _figure("E-mail answered within the promised window", months, "% kept")
    xs, ys = _drawn(values)
    ax.plot(xs, ys, marker="o")
    ax.set_ylim(0, 105)
    return _png(fig)


def ack_chart(report: Report) -> bytes:
    months, medians, p90s = ack_series(report)
    fig, ax = _figure("Crisis alerts: minutes to acknowledgement", months, "minutes")
    for values, name, offset in ((medians, "median", -0.2), (p90s, "p90", 0.2)):
        xs, ys = _drawn(values)
        ax.bar([x + offset for x in xs], ys, 0.4, label=name)
    ax.legend(fontsize=8)
    return _png(fig)


CHARTS = (
    ("contacts", contacts_chart),
    ("promise", promise_chart),
    ("alerts", ack_chart),
)

__all__ = ["CHARTS", "KNOWN_CHANNELS", "ack_series", "contacts_series", "promise_series"]
