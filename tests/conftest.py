"""Shared fixtures: databases (SQLite and the local PostgreSQL), the Telegram emulator, the stage."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import Stage, StageClock, stage_settings
from hotline.storage import db

# python-telegram-bot 22 warns while building RetryAfter unless it may use timedelta; warnings are errors here.
os.environ["PTB_TIMEDELTA"] = "1"

pytest_plugins = ["tests.servers.fixtures"]

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(autouse=True)
def lexicon_only_unless_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process services screen with the lexicon alone, so that tests of intake, mail and booking
    mechanics do not depend on the learned model's scores; tests marked ``learned`` (and every test
    that runs the ``hotline`` command as a process) get the real learned layer."""
    if request.node.get_closest_marker("learned") is None:
        import hotline.app

        monkeypatch.setattr(hotline.app, "load_learned_layer", lambda settings: None)


# The longest test files (about 150, 60, 45, 35 and 30 s on a loaded machine) are collected first, so that
# the pytest workers (`make pytest`: pytest-xdist, whole files each) start them early and the run does not
# end on one of them alone. The order of the others is unchanged.
LONGEST_FIRST = (
    "tests/scale/test_chaos.py",
    "tests/benchmarks/test_smoke.py",
    "tests/privacy/test_admin_cli.py",
    "tests/test_demo.py",
    "tests/screening/test_encoder_threads.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the others keep their order


TOKEN = "4242:TEST-TOKEN-hotline"


async def _pg(statement: str) -> None:
    try:
        conn = await asyncpg.connect(PG_ADMIN, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:  # fail loudly: never skip a missing server
        raise RuntimeError(
            f"PostgreSQL is not reachable at 127.0.0.1:5432 ({exc}); run `make services`"
        ) from exc
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database used as the template for each test's database."""
    name = f"hotline_tpl_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    try:
        db.upgrade_sync(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
        yield name
    finally:
        asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def pg_url(pg_template: str) -> AsyncIterator[str]:
    name = f"hotline_t_{uuid.uuid4().hex[:10]}"
    await _pg(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        await _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    """The emulator without Telegram's flood limits, and so a stage without pacing: most tests need
    speed (tests/bot/test_pacing_e2e.py runs both with them)."""
    async with TelegramEmulator(token=TOKEN, limits=None) as emulator:
        yield emulator


@pytest.fixture
def clock() -> StageClock:
    return StageClock()


@pytest.fixture
async def stage(emu: TelegramEmulator, sqlite_url: str, clock: StageClock) -> AsyncIterator[Stage]:
    settings = stage_settings(emu.api_url, TOKEN, sqlite_url, crisis={"ack_timeout_seconds": 2})
    # Timers are driven by hand (``service.timers.run_due()``) after moving the clock, so no background
    # loop races the test; tests of the loop itself build their own Stage.
    async with Stage(emu, settings, clock, background_timers=False) as running:
        yield running
