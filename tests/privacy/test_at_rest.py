"""Nothing an employee said, and nothing that identifies them, is readable in the database files."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.engine import make_url

from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import Stage, StageClock, stage_settings
from tests.conftest import TOKEN
from tests.privacy.conversation import converse, forbidden


def leaks(data: bytes) -> list[str]:
    return [word for word in forbidden() if word.encode("utf-8") in data]


def files_of(sqlite_url: str) -> list[Path]:
    database = make_url(sqlite_url).database
    assert database is not None
    path = Path(database)
    return [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]


async def test_sqlite_file_and_wal_hold_no_plaintext(stage: Stage, sqlite_url: str) -> None:
    await converse(stage)
    files = files_of(sqlite_url)
    assert len(files) == 2, "the WAL must be checked while the service runs"
    assert sum(p.stat().st_size for p in files) > 0
    for path in files:
        assert leaks(path.read_bytes()) == [], path.name
    await stage.stop()
    for path in files_of(sqlite_url):
        assert leaks(path.read_bytes()) == [], path.name


async def test_postgresql_dump_holds_no_plaintext(
    emu: TelegramEmulator, pg_url: str, clock: StageClock
) -> None:
    async with Stage(emu, stage_settings(emu.api_url, TOKEN, pg_url), clock) as stage:
        await converse(stage)
    name = make_url(pg_url).database
    assert name is not None
    proc = await asyncio.create_subprocess_exec(
        "pg_dump", "-h", "127.0.0.1", "-U", "postgres", name,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    rows = out.split(b"COPY public.messages", 1)[1].split(b"\\.", 1)[0].splitlines()[1:]
    assert len(rows) >= 5, "the dump must hold the conversation's messages (encrypted)"
    assert leaks(out) == []
