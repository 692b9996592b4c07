"""LINE on several workers (issue 15): nginx (docs/deploy.md's configuration, LINE's upstream included) in
front of two `hotline run` processes on a fresh PostgreSQL database. A worker is SIGKILLed while it holds
a LINE user's event (its reply to LINE in flight, held by the emulator): the other worker takes the user
over and carries the event out, once; later events of that user are carried out by the survivor."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from hotline.crypto import Vault
from hotline.sandbox import LineEmulator, TelegramEmulator
from hotline.storage.inbound import chat_key
from tests.conftest import PG_ADMIN, TOKEN, _pg
from tests.servers.dovecot import free_port
from tests.servers.nginx import NginxServer, deploy_config, fill_ports
from tests.servers.workers import Workers

pytestmark = pytest.mark.timeout(240)

SECRET_KEY = "line-kill-test-secret-key-0123456789abcdef-01234567"
HOOK_SECRET = "line-kill-webhook-secret-0123456789abcdef"
NOTICE = "LINE 名稱"  # in the consent notice
WAIT = 60.0
CONFIG = """
[[counselors]]
telegram_id = 9001
name = "王心理師"
role = "counselor"

[screening]
learned = false
"""


@pytest.fixture
async def fresh_pg() -> AsyncIterator[str]:
    name = f"hotline_linekill_{uuid.uuid4().hex[:8]}"
    await _pg(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        await _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def nginx_and_ports() -> Iterator[tuple[NginxServer, list[int], list[int]]]:
    ports, line_ports = [free_port(), free_port()], [free_port(), free_port()]
    server = NginxServer.start(
        lambda listen: fill_ports(deploy_config(), listen, ports, line_ports), free_port()
    )
    try:
        yield server, ports, line_ports
    finally:
        server.stop()


async def holder_of(conn: asyncpg.Connection, db: str, key: int) -> int | None:
    """The pid of the `hotline run` process whose lock connection holds advisory lock ``key``."""
    name = await conn.fetchval(
        """SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted AND a.datname = $1
             AND ((l.classid::bigint << 32) | l.objid::bigint) = $2""",
        db,
        key,
    )
    return None if name is None else int(str(name).split(":")[2])


async def test_a_worker_killed_with_a_line_event_in_hand_the_other_carries_it_out(
    emu: TelegramEmulator,
    fresh_pg: str,
    nginx_and_ports: tuple[NginxServer, list[int], list[int]],
    tmp_path: Path,
) -> None:
    nginx, ports, line_ports = nginx_and_ports
    (tmp_path / "hotline.toml").write_text(CONFIG)
    async with LineEmulator(reply_token_lifetime=60, redelivery_delay=0.2) as line:
        line.set_webhook(f"http://127.0.0.1:{nginx.port}/line/webhook")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PTB_TIMEDELTA": "1",
            "HOTLINE_CONFIG": str(tmp_path / "hotline.toml"),
            "HOTLINE_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{fresh_pg}",
            "HOTLINE_SECRET_KEY": SECRET_KEY,
            "HOTLINE_TELEGRAM_TOKEN": TOKEN,
            "HOTLINE_TELEGRAM_API_URL": emu.api_url,
            "HOTLINE_TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{nginx.port}/telegram/webhook",
            "HOTLINE_TELEGRAM_WEBHOOK_SECRET": HOOK_SECRET,
            "HOTLINE_LINE_CHANNEL_SECRET": line.channel_secret,
            "HOTLINE_LINE_CHANNEL_ACCESS_TOKEN": line.access_token,
            "HOTLINE_LINE_API_URL": line.api_url,
        }
        workers = Workers(tmp_path, env, ports, line_ports)
        await workers.start()
        conn = await asyncpg.connect(PG_ADMIN.rsplit("/", 1)[0] + "/" + fresh_pg)
        try:
            await workers.wait_listening()
            await Workers(tmp_path, env, line_ports).wait_listening()  # LINE's listeners too
            await run(line, workers, conn, fresh_pg)
        except BaseException:
            print(workers.logs(), nginx.error_log(), sep="\n")
            raise
        finally:
            await workers.stop()
            await conn.close()


async def run(line: LineEmulator, workers: Workers, conn: asyncpg.Connection, db: str) -> None:
    mei = line.user("小美")
    key = chat_key(Vault(SECRET_KEY).pseudonym("line", mei.user_id))
    hold = line.hold_next("reply", to=mei)  # the worker that carries her event out keeps it in hand
    event = line.send_text(mei, "/start")
    await asyncio.wait_for(hold.reached.wait(), WAIT)
    assert (await line.wait_delivered(event)).status == 200
    pid = await holder_of(conn, db, key)
    victim = next(p for p in workers.processes if p.pid == pid)
    victim.send_signal(signal.SIGKILL)
    await victim.wait()

    # The other worker takes her over and carries the event out (its reply token is still unused).
    notice = await line.wait_for(lambda c: c.ok and any(NOTICE in t for t in c.texts), to=mei, timeout=WAIT)
    hold.release()  # the dead worker's call: its client is gone, nothing reaches her
    later = line.send_text(mei, "/help")
    await line.wait_for(
        lambda c: c.ok and any("/start" in t for t in c.texts), to=mei, since=later, timeout=WAIT
    )
    for _ in range(600):  # the done marks follow the replies
        if await conn.fetchval("SELECT count(*) FROM line_events WHERE done_at IS NULL") == 0:
            break
        await asyncio.sleep(0.05)
    await workers.stop()  # nothing more can be sent: now count

    rows = await conn.fetch("SELECT event_id, attempts, started_by, done_at FROM line_events ORDER BY seq")
    survivor = next(p.pid for p in workers.processes if p.pid != pid)
    assert [(r["event_id"], r["attempts"]) for r in rows] == [
        (event.webhook_event_id, 2),  # begun by the killed worker, then by the survivor
        (later.webhook_event_id, 1),
    ]
    assert all(r["done_at"] is not None and f":{survivor}:" in r["started_by"] for r in rows)
    assert notice.endpoint == "reply"
    assert [t for t in line.texts(mei) if NOTICE in t] == [notice.texts[0]], "the notice once"
