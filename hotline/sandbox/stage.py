"""A stage for the whole service on the sandbox: settings, a clock, and the roster used by the demo,
the tests and the benchmarks. Nothing here reaches the network beyond 127.0.0.1."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hotline.domain import Role
from hotline.settings import CounselorEntry, Settings

TAIPEI = ZoneInfo("Asia/Taipei")
# A Wednesday inside service hours, not a holiday.
OPEN_HOURS = datetime(2026, 11, 25, 10, 0, tzinfo=TAIPEI)
DEMO_SECRET = "demo-only-secret-key-never-use-in-production-0123456789"

ROSTER = (
    CounselorEntry(telegram_id=9001, name="王心理師", role=Role.COUNSELOR),
    CounselorEntry(telegram_id=9002, name="陳心理師", role=Role.COUNSELOR),
    CounselorEntry(telegram_id=9100, name="林督導", role=Role.SUPERVISOR),
)


@dataclass
class StageClock:
    """Wall time shifted to a chosen start, which tests can also move forward by hand."""

    start: datetime = OPEN_HOURS
    offset: timedelta = field(default_factory=timedelta)
    follow_real_time: bool = True
    _t0: float = field(default_factory=time.monotonic)

    def __call__(self) -> datetime:
        elapsed = timedelta(seconds=time.monotonic() - self._t0) if self.follow_real_time else timedelta()
        return self.start + self.offset + elapsed

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


def stage_settings(api_url: str, token: str, database: Path | str, **overrides: Any) -> Settings:
    """Settings for the service against an emulator at ``api_url`` with a SQLite file or a URL."""
    url = database if isinstance(database, str) else f"sqlite+aiosqlite:///{database}"
    values: dict[str, Any] = {
        "telegram_token": token,
        "telegram_api_url": api_url,
        "database_url": url,
        "secret_key": DEMO_SECRET,
        "counselors": ROSTER,
        "telegram": {"poll_timeout_seconds": 10, "concurrent_updates": 16},
    }
    values.update(overrides)
    return Settings.model_validate(values)
