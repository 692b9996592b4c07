"""``hotline report --from 2026-01-01 --to 2026-12-31 [--format md|csv|html] [--out DIR]``.

Reads the database (migrating it first, like ``hotline cases``), builds the suppressed report and writes
``report.md``, ``report.html`` or one CSV per table into ``DIR`` (default: the current directory); prints
the paths written. Labels come from the messages files in the config directory.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hotline.settings import Settings, load_settings


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


async def _build(settings: Settings, start: date, end: date, fmt: str, by: str | None) -> dict[str, str]:
    from hotline.privacy.admin_cli import operator
    from hotline.privacy.audit import AuditAction, record
    from hotline.report import build_report, render
    from hotline.report.query import report_input
    from hotline.settings import DEFAULT_CONFIG_DIR
    from hotline.storage import db
    from hotline.storage.db import create_engine, session_factory
    from hotline.texts import Texts

    zone = ZoneInfo(settings.hours.timezone)
    texts = Texts.load(settings.config_dir, zone, fallback=DEFAULT_CONFIG_DIR)
    await db.upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as s:
            data = await report_input(
                s,
                start,
                end,
                as_of=datetime.now(UTC),
                zone=zone,
                quota_hours=float(settings.booking.free_hours_per_year),
            )
            # Statistics leave the system: an export, in the audit trail (no case, counts only).
            await record(
                s,
                actor=operator(by),
                action=AuditAction.EXPORT,
                detail={"what": "report", "format": fmt, "from": start.isoformat(), "to": end.isoformat()},
                now=datetime.now(UTC),
            )
            await s.commit()
    finally:
        await engine.dispose()
    return render(build_report(data), fmt, texts.get)


def cmd_report(args: argparse.Namespace) -> int:
    if args.end < args.start:
        print("hotline report: --to is before --from", file=sys.stderr)
        return 2
    files = asyncio.run(_build(load_settings(), args.start, args.end, args.format, args.by))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = out / name
        path.write_text(content, encoding="utf-8")
        print(path)
    return 0


def register(subparsers: Any) -> None:
    """Add ``report`` to the ``hotline`` command's subparsers."""
    from hotline.report.formats import FORMATS  # not the report itself (matplotlib): issue 12 §3

    report = subparsers.add_parser("report", help="the EAP office's statistics (small cells suppressed)")
    report.add_argument("--from", dest="start", type=_day, required=True, help="first day, YYYY-MM-DD")
    report.add_argument("--to", dest="end", type=_day, required=True, help="last day, YYYY-MM-DD")
    report.add_argument("--format", choices=FORMATS, default="md")
    report.add_argument("--out", type=Path, default=Path("."), help="directory for the files")
    from hotline.privacy.admin_cli import add_operator_option

    add_operator_option(report)
    report.set_defaults(func=cmd_report)
