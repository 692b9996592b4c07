"""``hotline report`` as the EAP office runs it (issue 7): crafted rows in a real database (SQLite and
PostgreSQL), the command in a subprocess, small cells suppressed in every format."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hotline.crypto import Vault
from hotline.sandbox.stage import DEMO_SECRET, TAIPEI
from hotline.storage import db
from hotline.storage.models import Alert, Case, Employee, SurveyAnswer
from hotline.storage.repo import Store
from tests.test_cli import clean_env, run_cli

JAN = datetime(2026, 1, 12, 10, 0, tzinfo=TAIPEI)


async def craft(url: str) -> None:
    """January: 12 people on Telegram (work stress), 3 by e-mail (a small cell); 3 alerts; survey
    answers: 6 on Telegram, 2 by e-mail (too few to show)."""
    await db.upgrade(url)
    store = Store(url, Vault(DEMO_SECRET))
    try:
        async with store.unit() as s:
            for i, channel in enumerate(["telegram"] * 12 + ["email"] * 3):
                employee = Employee(pseudonym=f"p{i}", channel=channel, created_at=JAN)
                s.add(employee)
                await s.flush()
                case = Case(
                    code=f"HL-{i:06d}",
                    channel=channel,
                    status="closed",
                    category="work_stress" if channel == "telegram" else "legal",
                    risk="none",
                    employee_id=employee.id,
                    opened_at=JAN + timedelta(hours=i),
                    reply_due_at=JAN + timedelta(days=3) if channel == "email" else None,
                    first_reply_at=JAN + timedelta(hours=20) if channel == "email" else None,
                    message_count=1,
                )
                s.add(case)
                await s.flush()
                if i < 3:
                    s.add(
                        Alert(
                            case_id=case.id,
                            channel=channel,
                            risk="elevated",
                            cues=[],
                            raised_at=case.opened_at,
                            notified=1,
                            acknowledged_at=case.opened_at + timedelta(minutes=2),
                        )
                    )
            for i, channel in enumerate(["telegram"] * 6 + ["email"] * 2):
                s.add(SurveyAnswer(id=uuid.uuid4().hex, channel=channel, month="2026-01", rating=4 + i % 2))
    finally:
        await store.close()


@pytest.mark.parametrize("fmt", ["md", "csv", "html"])
async def test_report_suppresses_small_cells_in_every_format(db_url: str, tmp_path: Path, fmt: str) -> None:
    await craft(db_url)
    out = tmp_path / "out"
    env = clean_env(HOTLINE_DATABASE_URL=db_url)
    code, stdout, err = await run_cli(
        "report", "--from", "2026-01-01", "--to", "2026-12-31", "--format", fmt, "--out", str(out),
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, err
    written = [Path(line) for line in stdout.splitlines()]
    assert written and all(p.exists() for p in written)
    await assert_export_recorded(db_url, fmt)
    if fmt == "csv":
        tables = {p.stem: list(csv.reader(io.StringIO(p.read_text(encoding="utf-8")))) for p in written}
        by_month = tables["contacts_by_month"]
        header, january = by_month[0], next(r for r in by_month if r[0] == "2026-01")
        email = header.index("E-mail 抒壓站")
        assert january[email] == "<5", "3 people by e-mail in January"
        assert "3" not in january, "no cell shows the small number"
        survey = tables["survey"]
        email_row = next(r for r in survey if r[0] == "E-mail 抒壓站")
        assert email_row[1] == "<5"
        telegram_row = next(r for r in survey if r[0] == "Telegram 線上諮詢")
        assert telegram_row[1] == "x", "hidden so that total - telegram does not give the e-mail count"
        hidden = [r[1] for r in survey[1:-1] if r[1] in {"<5", "x"}]
        assert len(hidden) >= 2, "with the total shown, one hidden cell alone could be recomputed"
    else:
        text = written[0].read_text(encoding="utf-8")
        assert "&lt;5" in text or "<5" in text
        assert "員工協助方案服務統計報告" in text
        if fmt == "html":
            assert "data:image/png;base64," in text, "charts are embedded"


async def assert_export_recorded(db_url: str, fmt: str) -> None:
    from sqlalchemy import select

    from hotline.privacy.audit import audit_log
    from hotline.storage.db import create_engine

    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(audit_log.c.action, audit_log.c.detail))).all()
    finally:
        await engine.dispose()
    exports = [detail for action, detail in rows if action == "export"]
    assert exports and exports[-1]["format"] == fmt, "the report is an export, in the audit trail"


async def test_records_that_no_longer_point_at_anyone_count_as_one_person(sqlite_url: str) -> None:
    """Five cases of someone who used /forget are one person at most: the cell is suppressed."""
    from datetime import date
    from zoneinfo import ZoneInfo

    from hotline.report import build_report, render
    from hotline.report.query import report_input
    from hotline.storage.db import create_engine, session_factory
    from tests.report.support import LABELS

    await db.upgrade(sqlite_url)
    store = Store(sqlite_url, Vault(DEMO_SECRET))
    try:
        async with store.unit() as s:
            for i in range(5):
                s.add(
                    Case(
                        code=f"HL-F{i:05d}", channel="telegram", status="closed", category="family", risk="none",
                        employee_id=None, opened_at=JAN + timedelta(hours=i), message_count=1,
                    )
                )  # fmt: skip
    finally:
        await store.close()
    engine = create_engine(sqlite_url)
    try:
        async with session_factory(engine)() as s:
            data = await report_input(
                s,
                date(2026, 1, 1),
                date(2026, 12, 31),
                as_of=JAN,
                zone=ZoneInfo("Asia/Taipei"),
                quota_hours=4,
            )
    finally:
        await engine.dispose()
    assert {c.person for c in data.contacts} == {"?"}
    files = render(build_report(data), "csv", LABELS)
    by_area = next(text for name, text in files.items() if "area" in name)
    family = next(
        row for row in csv.reader(io.StringIO(by_area.lstrip("\ufeff"))) if row and row[0] == "家庭關係"
    )
    assert family[1] == "<5", "five cases, at most one person: suppressed"
