"""Issue 14: the same update delivered twice, to two workers at the same moment, is processed once; the
chat's updates are processed in update_id order whichever worker stored them (PostgreSQL, two services
with their own connections and locks)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import sqlalchemy as sa

from hotline.app_telegram import WEBHOOK_MAX_CONNECTIONS
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import Stage, StageClock, stage_settings
from hotline.storage.inbound import InboundUpdate
from tests.conftest import TOKEN
from tests.servers.dovecot import free_port

SECRET = "redelivery-secret-0123456789abcdef"
CHAT = 8300


def message(update_id: int, text: str) -> dict[str, Any]:
    entities = [{"type": "bot_command", "offset": 0, "length": len(text)}] if text.startswith("/") else []
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 0, "chat": {"id": CHAT, "type": "private"},
            "from": {"id": CHAT, "is_bot": False, "first_name": "小華"}, "text": text, "entities": entities,
        },
    }  # fmt: skip


async def test_an_update_delivered_to_two_workers_is_processed_once_in_order(
    emu: TelegramEmulator, pg_url: str, clock: StageClock
) -> None:
    emu.user(CHAT, "小華", started=True)
    ports = [free_port(), free_port()]
    stages = [
        Stage(
            emu,
            stage_settings(
                emu.api_url, TOKEN, pg_url,
                telegram_webhook_url=f"http://127.0.0.1:{port}/hook",
                telegram_webhook_secret=SECRET,
                telegram_webhook_listen=f"127.0.0.1:{port}",
            ),
            clock,
            background_timers=False,
        )
        for port in ports
    ]  # fmt: skip
    async with stages[0], stages[1], aiohttp.ClientSession() as http:

        async def post(port: int, update: dict[str, Any]) -> int:
            url = f"http://127.0.0.1:{port}/hook"
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            async with http.post(url, json=update, headers=headers) as response:
                return response.status

        updates = [message(501, "/start"), message(502, "/help"), message(503, "/start")]
        for update in updates:  # each one to both workers at once, as a retrying proxy might
            statuses = await asyncio.gather(*(post(port, update) for port in ports))
            assert statuses == [200, 200]
        assert await post(ports[1], updates[0]) == 200  # and once more, late: a redelivery

        # /start: the notice; /help: the help and a prompt; /start: the notice again
        replies = await emu.wait_for_all(lambda c: c.ok, 4, method="sendMessage", chat_id=CHAT, since=0)
        service = stages[0].running
        assert service.inbox is not None and stages[1].running.inbox is not None
        assert service.store is not None
        for _ in range(200):  # the done marks follow the replies
            async with service.store.unit() as s:
                rows = (await s.execute(sa.select(InboundUpdate).order_by(InboundUpdate.update_id))).scalars()
                ledger = [(r.update_id, r.attempts, r.done_at is not None) for r in rows]
            if all(done for _id, _attempts, done in ledger):
                break
            await asyncio.sleep(0.05)
    assert ledger == [(501, 1, True), (502, 1, True), (503, 1, True)], ledger
    registered = [c.params for c in emu.calls if c.method == "setWebhook"]
    assert len(registered) == 2 and all(
        p["max_connections"] == WEBHOOK_MAX_CONNECTIONS == 40 for p in registered
    )
    texts = [c.text or "" for c in emu.calls_to(CHAT, "sendMessage") if c.ok]
    # Nothing twice (the services are stopped: nothing more can come), and in order.
    assert texts == [r.text for r in replies], [t[:20] for t in texts]
    notice, help_text, prompt, again = texts
    assert "7858" in notice and again == notice
    assert "/start" in help_text and "/start" in prompt and len({notice, help_text, prompt}) == 3
