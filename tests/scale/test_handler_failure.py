"""Webhook mode: a handler that fails on a stored update (a rolled-back transaction, a database that went
away) leaves the update stored, and it is tried again, so a crisis in it still reaches the counselor. PTB
swallows a handler's exception; before this, the update was finished and its stored copy erased."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from hotline.bot.runner import EmployeeRunner
from hotline.crypto import Vault
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import DEMO_SECRET, Stage, StageClock, stage_settings
from hotline.storage import db, inbound
from hotline.storage.inbound import InboundUpdate
from hotline.storage.repo import Store
from tests.conftest import TOKEN
from tests.servers.dovecot import free_port

CHAT = 8501
SECRET = "failure-secret-0123456789abcdef"
CRISIS = "我今晚要從頂樓跳下去"


def text_update(update_id: int, chat: int, text: str) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1, "date": 0, "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "x"}, "text": text,
        },
    }  # fmt: skip


async def test_a_failed_handler_leaves_the_update_stored_and_it_is_tried_again(
    emu: TelegramEmulator, sqlite_url: str, clock: StageClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await db.upgrade(sqlite_url)
    vault = Vault(DEMO_SECRET)
    store = Store(sqlite_url, vault)
    key = inbound.chat_key(vault.pseudonym("telegram-chat", str(CHAT)))
    sealed = vault.encrypt_bytes(
        json.dumps(text_update(31, CHAT, CRISIS)).encode(), context=inbound.UPDATE_CONTEXT
    )
    async with store.unit() as s:  # stored by the webhook, not yet begun
        s.add(InboundUpdate(update_id=31, chat_key=key, payload_enc=sealed, received_at=datetime.now(UTC)))
    await store.close()
    emu.user(CHAT, "x", started=True)

    original = EmployeeRunner.said
    calls: list[str] = []

    async def fails_once(self: EmployeeRunner, *args: Any) -> None:
        calls.append("said")
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        await original(self, *args)

    monkeypatch.setattr(EmployeeRunner, "said", fails_once)
    port = free_port()
    settings = stage_settings(
        emu.api_url, TOKEN, sqlite_url,
        telegram_webhook_url=f"http://127.0.0.1:{port}/hook", telegram_webhook_secret=SECRET,
        telegram_webhook_listen=f"127.0.0.1:{port}",
    )  # fmt: skip
    async with Stage(emu, settings, clock, background_timers=False) as stage:
        reply = await emu.wait_for(
            lambda c: c.ok and "值班心理師" in str(c.params.get("text")), method="sendMessage", chat_id=CHAT,
            since=0, timeout=20,
        )  # fmt: skip
        service_store = stage.running.store
        assert service_store is not None
        for _ in range(200):
            async with service_store.unit() as s:
                row = (await s.execute(sa.select(InboundUpdate))).scalar_one()
            if row.done_at is not None:
                break
            await asyncio.sleep(0.05)
    assert calls == ["said", "said"], "tried again after the failure"
    assert reply.ok and row.attempts == 2 and row.done_at is not None
    texts = [str(c.params.get("text")) for c in emu.calls_to(CHAT, "sendMessage") if c.ok]
    assert sum("值班心理師" in t for t in texts) == 1, texts  # the crisis reply, once
    assert sum("訊息已保留" in t for t in texts) == 1, texts  # told once that it failed and is kept
