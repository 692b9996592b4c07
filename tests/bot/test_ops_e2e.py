"""/healthz and /metrics on a running worker's listener (issue 14 §2), scraped over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hotline.crypto import Vault
from hotline.domain import Channel
from hotline.ops import Health
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import DEMO_SECRET, Stage, StageClock, stage_settings
from hotline.storage import repo
from hotline.storage.models import Outbox
from hotline.storage.repo import Store
from tests.servers.dovecot import free_port
from tests.tests_support import COUNSELOR

TOKEN = "4242:TEST-TOKEN-hotline"
SECRET = "webhook-secret-0123456789abcdef"
JUMP = "我真的撐不下去了，今晚想從頂樓跳下去"


def samples(text: str) -> dict[str, float]:
    """Every sample by name (labels folded in as name{value})."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            label = ",".join(sample.labels.values())
            found[f"{sample.name}{{{label}}}" if label else sample.name] = sample.value
    return found


@pytest.fixture
async def webhook_stage(
    emu: TelegramEmulator, db_url: str, clock: StageClock
) -> AsyncIterator[tuple[Stage, str]]:
    port = free_port()
    settings = stage_settings(
        emu.api_url,
        TOKEN,
        db_url,
        telegram_webhook_url=f"http://127.0.0.1:{port}/telegram-hook",
        telegram_webhook_secret=SECRET,
        telegram_webhook_listen=f"127.0.0.1:{port}",
    )
    async with Stage(emu, settings, clock) as stage:
        yield stage, f"http://127.0.0.1:{port}"


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def test_health_and_metrics_of_a_running_worker(webhook_stage: tuple[Stage, str]) -> None:
    stage, base = webhook_stage
    emu = stage.emu
    assert await get(base + "/healthz") == (200, "ok\n")
    first = samples((await get(base + "/metrics"))[1])
    assert first["hotline_crisis_alerts_unacknowledged"] == 0
    assert first["hotline_queue_depth{telegram}"] == 0 and first["hotline_outbox_backlog"] == 0
    assert "hotline_email_oldest_reply_due_seconds" not in first, "no e-mail case, no reply-by date"

    wang = emu.user(COUNSELOR, "Wang")
    await stage.say(wang, "/onduty", containing="值班")
    jie = emu.user(5101, "阿傑")
    mark = emu.mark()
    await stage.say(jie, JUMP, containing="1925")
    await stage.next_message(COUNSELOR, since=mark, containing="危機通報")

    service = stage.running
    assert service.store is not None
    now = stage.clock()
    async with service.store.unit() as s:  # an e-mail case two hours late, and a mail not yet sent
        late = await repo.open_case(
            s, channel=Channel.EMAIL, employee_id=None, category=None, now=now - timedelta(days=3, hours=2),
            reply_due_at=now - timedelta(hours=2),
        )  # fmt: skip
        s.add(
            Outbox(
                case_id=late.id, kind="ack", message_id="<m1@hotline.test>", recipient_enc=b"x", raw_enc=b"x",
                status="pending", attempts=0, next_attempt_at=now, created_at=now - timedelta(minutes=5),
            )
        )  # fmt: skip
    after = samples((await get(base + "/metrics"))[1])
    assert after["hotline_crisis_alerts_unacknowledged"] == 1
    assert after["hotline_crisis_alert_oldest_unacknowledged_seconds"] >= 0
    assert after["hotline_queue_depth{telegram}"] == 1 and after["hotline_queue_depth{email}"] == 1
    assert after["hotline_email_cases_awaiting_reply"] == 1
    assert after["hotline_email_oldest_reply_due_seconds"] <= -2 * 3600, "overdue is negative"
    assert after["hotline_outbox_backlog"] == 1 and after["hotline_outbox_oldest_seconds"] >= 5 * 60
    assert after["hotline_updates_processed_total"] >= 2  # /onduty and the crisis message, at least

    alert = emu.calls_to(COUNSELOR, "sendMessage", since=mark)[-1]
    await stage.press(wang, alert, alert.button_data[0], expect=COUNSELOR)
    acked = samples((await get(base + "/metrics"))[1])
    assert acked["hotline_crisis_alerts_unacknowledged"] == 0

    assert service.timers is not None
    await service.timers.stop()
    status, body = await get(base + "/healthz")
    assert (status, body) == (503, "The timer loop has stopped.\n")


async def test_polling_worker_serves_them_on_the_ops_listener(
    emu: TelegramEmulator, sqlite_url: str, clock: StageClock
) -> None:
    port = free_port()
    settings = stage_settings(emu.api_url, TOKEN, sqlite_url, ops_listen=f"127.0.0.1:{port}")
    async with Stage(emu, settings, clock):
        assert await get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n")
        status, text = await get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and "hotline_queue_depth" in text


async def test_health_names_a_database_that_does_not_answer() -> None:
    port = free_port()  # nothing listens there
    store = Store(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/hotline", Vault(DEMO_SECRET))
    try:
        problem = await Health(store).problem()
    finally:
        await store.close()
    assert problem is not None and problem.startswith("The database cannot be reached (")
