"""Issue 14: what a worker that died left in the inbound ledger is finished by the next one, on SQLite and
PostgreSQL: an update it had begun but not carried out is processed again; an update it had carried out
(settled) but whose replies it had not confirmed has only its replies sent, and is not carried out again."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import sqlalchemy as sa

from hotline.bot.inbox import seal_replies
from hotline.crypto import Vault
from hotline.desk import Outgoing
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import DEMO_SECRET, Stage, StageClock, stage_settings
from hotline.storage import db, inbound
from hotline.storage.inbound import InboundUpdate
from hotline.storage.repo import Store
from tests.conftest import TOKEN
from tests.servers.dovecot import free_port

BEGUN, SETTLED = 8401, 8402
SECRET = "takeover-secret-0123456789abcdef"


def start_of(update_id: int, chat: int) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1, "date": 0, "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "x"}, "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }  # fmt: skip


async def test_a_dead_workers_updates_are_finished_once(
    emu: TelegramEmulator, db_url: str, clock: StageClock
) -> None:
    await db.upgrade(db_url)
    vault = Vault(DEMO_SECRET)
    store = Store(db_url, vault)
    now = datetime.now(UTC)
    key = {chat: inbound.chat_key(vault.pseudonym("telegram-chat", str(chat))) for chat in (BEGUN, SETTLED)}
    begun = vault.encrypt_bytes(json.dumps(start_of(11, BEGUN)).encode(), context=inbound.UPDATE_CONTEXT)
    replies = seal_replies(vault, [Outgoing(SETTLED, "已經決定好的回覆", ((("好", "ok:1"),),))])
    async with store.unit() as s:  # as a worker killed in the middle of each would leave them
        s.add(InboundUpdate(update_id=11, chat_key=key[BEGUN], payload_enc=begun, received_at=now,
                            attempts=1, started_by="hotline:dead:1:x"))  # fmt: skip
        s.add(InboundUpdate(update_id=12, chat_key=key[SETTLED], payload_enc=None, replies_enc=replies,
                            received_at=now, attempts=1, started_by="hotline:dead:1:x"))  # fmt: skip
    await store.close()
    for chat in (BEGUN, SETTLED):
        emu.user(chat, "x", started=True)

    port = free_port()
    settings = stage_settings(
        emu.api_url, TOKEN, db_url,
        telegram_webhook_url=f"http://127.0.0.1:{port}/hook", telegram_webhook_secret=SECRET,
        telegram_webhook_listen=f"127.0.0.1:{port}",
    )  # fmt: skip
    async with Stage(emu, settings, clock, background_timers=False) as stage:
        notice = await emu.wait_for(lambda c: c.ok, method="sendMessage", chat_id=BEGUN, since=0, timeout=20)
        resent = await emu.wait_for(
            lambda c: c.ok, method="sendMessage", chat_id=SETTLED, since=0, timeout=20
        )
        service_store = stage.running.store
        assert service_store is not None
        for _ in range(200):
            async with service_store.unit() as s:
                rows = (await s.execute(sa.select(InboundUpdate).order_by(InboundUpdate.update_id))).scalars()
                ledger = [(r.update_id, r.attempts, r.done_at is not None, r.replies_enc) for r in rows]
            if all(done for _i, _a, done, _r in ledger):
                break
            await asyncio.sleep(0.05)
    assert "7858" in (notice.text or "")  # processed again from its stored copy
    assert resent.text == "已經決定好的回覆"
    assert resent.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "ok:1"
    assert ledger == [(11, 2, True, None), (12, 2, True, None)]
    for chat in (BEGUN, SETTLED):
        assert len([c for c in emu.calls_to(chat, "sendMessage") if c.ok]) == 1, "once each"
