"""The EAP office's report: plain records in (``model``), figures with small-cell suppression
(``compute``, ``suppress``), rendered as Markdown, CSV or self-contained HTML with charts.

No database access here: the CLI queries the records and calls :func:`render`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hotline.report.compute import build_report
from hotline.report.formats import FORMATS
from hotline.report.model import Labels, Report, ReportInput
from hotline.report.render_csv import render_csv
from hotline.report.render_md import render_md


def render(report: Report, fmt: str, labels: Labels) -> dict[str, str]:
    """File name -> content: ``report.md``, ``report.html``, or one ``<table>.csv`` per table."""
    if fmt == "md":
        return {"report.md": render_md(report, labels)}
    if fmt == "html":
        # Charts need matplotlib: loaded only for an HTML report (the `hotline` command's parser imports
        # this package; issue 12 §3).
        from hotline.report.render_html import render_html

        return {"report.html": render_html(report, labels)}
    if fmt == "csv":
        return render_csv(report, labels)
    raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")


def labels_from_toml(path: Path) -> Labels:
    """Labels straight from a messages file (tests, or before the texts loader knows the file)."""
    flat: dict[str, str] = {}

    def walk(prefix: str, table: Mapping[str, Any]) -> None:
        for key, value in table.items():
            if isinstance(value, Mapping):
                walk(f"{prefix}{key}.", value)
            elif isinstance(value, str):
                flat[prefix + key] = value.strip()

    walk("", tomllib.loads(path.read_text(encoding="utf-8")))
    return flat.__getitem__


__all__ = ["FORMATS", "Report", "ReportInput", "build_report", "labels_from_toml", "render"]
