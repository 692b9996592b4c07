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

from hotline.bot.inbox import MAX_ATTEMPTS
from hotline.bot.runner import EmployeeRunner
from hotline.crypto import Vault
from hotline.flows.vocabulary import Event, Said
from hotline.privacy.audit import entries
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import DEMO_SECRET, Stage, StageClock, stage_settings
from hotline.storage import db, inbound, repo
from hotline.storage.inbound import InboundUpdate
from hotline.storage.repo import Store
from tests.conftest import TOKEN
from tests.servers.dovecot import free_port
from tests.tests_support import SUPERVISOR, consent_and_area

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


async def stored(url: str, *updates: tuple[int, str]) -> list[bytes]:
    """Updates as the webhook stores them, not yet begun; their sealed copies."""
    await db.upgrade(url)
    vault = Vault(DEMO_SECRET)
    store = Store(url, vault)
    key = inbound.chat_key(vault.pseudonym("telegram-chat", str(CHAT)))
    sealed = [
        vault.encrypt_bytes(json.dumps(text_update(n, CHAT, t)).encode(), context=inbound.UPDATE_CONTEXT)
        for n, t in updates
    ]
    async with store.unit() as s:
        for (n, _t), blob in zip(updates, sealed, strict=True):
            s.add(InboundUpdate(update_id=n, chat_key=key, payload_enc=blob, received_at=datetime.now(UTC)))
    await store.close()
    return sealed


def webhook_settings(emu: TelegramEmulator, url: str) -> Any:
    port = free_port()
    return stage_settings(
        emu.api_url, TOKEN, url,
        telegram_webhook_url=f"http://127.0.0.1:{port}/hook", telegram_webhook_secret=SECRET,
        telegram_webhook_listen=f"127.0.0.1:{port}",
    )  # fmt: skip


async def ledger_when_done(stage: Stage) -> list[InboundUpdate]:
    service_store = stage.running.store
    assert service_store is not None
    for _ in range(400):
        async with service_store.unit() as s:
            rows = list(
                (await s.execute(sa.select(InboundUpdate).order_by(InboundUpdate.update_id))).scalars()
            )
        if all(r.done_at is not None for r in rows):
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError("the stored updates were not all processed")


async def test_a_crisis_after_a_command_survives_a_stop_between_the_two(
    emu: TelegramEmulator, sqlite_url: str, clock: StageClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "/help 我今晚要從頂樓跳下去": the command is carried out in one transaction, its words in the
    next. A worker that stops between the two (here: the second part fails once) must not have settled
    the update with the first: it is processed again whole, and the crisis reaches the counselor."""
    await stored(sqlite_url, (41, CRISIS), (42, f"/help {CRISIS} #2"))  # the first opens a case
    emu.user(CHAT, "x", started=True)
    original = EmployeeRunner.handle
    failed: list[str] = []

    async def fails_between(
        self: EmployeeRunner, user_id: int | str, chat_id: int | str, event: Event
    ) -> None:
        if isinstance(event, Said) and "#2" in event.text and not failed:
            failed.append("after the command, before its words")
            raise RuntimeError("the worker stopped here")
        await original(self, user_id, chat_id, event)

    monkeypatch.setattr(EmployeeRunner, "handle", fails_between)
    async with Stage(emu, webhook_settings(emu, sqlite_url), clock, background_timers=False) as stage:
        rows = await ledger_when_done(stage)
        async with stage.running.store.unit() as s:  # type: ignore[union-attr]
            words = [t for d, t in await repo.messages_of(s, stage.running.store, 1) if d == "inbound"]  # type: ignore[arg-type]
    assert failed and [r.attempts for r in rows] == [1, 2]
    texts = [str(c.params.get("text")) for c in emu.calls_to(CHAT, "sendMessage") if c.ok]
    assert sum("值班心理師" in t for t in texts) == 2, texts  # a crisis reply to each message
    assert words == [CRISIS, f"{CRISIS} #2"], "the words after the command were kept, once"


async def test_an_update_that_always_fails_is_set_aside_sealed_and_the_supervisors_told(
    emu: TelegramEmulator, sqlite_url: str, clock: StageClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    [sealed] = await stored(sqlite_url, (51, CRISIS))
    emu.user(CHAT, "x", started=True)
    emu.user(SUPERVISOR, "Lin", started=True)
    calls: list[str] = []

    async def always_fails(self: EmployeeRunner, *args: Any) -> None:
        calls.append("said")
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(EmployeeRunner, "said", always_fails)
    async with Stage(emu, webhook_settings(emu, sqlite_url), clock, background_timers=False) as stage:
        alert = await emu.wait_for(
            lambda c: c.ok and "暫停處理" in str(c.params.get("text")), method="sendMessage",
            chat_id=SUPERVISOR, since=0, timeout=30,
        )  # fmt: skip
        [row] = await ledger_when_done(stage)
    assert len(calls) == MAX_ATTEMPTS
    assert row.attempts == MAX_ATTEMPTS + 1 and row.done_at is not None
    assert row.payload_enc == sealed, "kept sealed as it was stored"
    text = str(alert.params.get("text"))
    assert "51" in text and "頂樓" not in text and str(CHAT) not in text, "no content, no identity"
    store = Store(sqlite_url, Vault(DEMO_SECRET))
    try:
        async with store.unit() as s:
            assert await inbound.set_aside_count(s) == 1
            assert await inbound.purge(s, datetime.now(UTC) + inbound.KEEP_DONE * 2) == 0, "never purged"
    finally:
        await store.close()


@pytest.mark.parametrize("known", [False, True], ids=["never-consented", "with-a-case"])
async def test_forget_erases_the_chats_set_aside_update_and_no_other_chats(
    emu: TelegramEmulator, sqlite_url: str, clock: StageClock, known: bool
) -> None:
    """An update set aside (kept sealed for an operator) still holds the employee's words: their /forget
    erases it, as it does their cases (or, for someone never stored, on its own); another chat's
    set-aside update is left for the operator."""
    await db.upgrade(sqlite_url)
    vault = Vault(DEMO_SECRET)
    store = Store(sqlite_url, vault)
    now = datetime.now(UTC)
    other_chat = CHAT + 1
    rows = {}
    for update_id, chat in ((61, CHAT), (62, other_chat)):
        key = inbound.chat_key(vault.pseudonym("telegram-chat", str(chat)))
        blob = vault.encrypt_bytes(
            json.dumps(text_update(update_id, chat, CRISIS)).encode(), context=inbound.UPDATE_CONTEXT
        )
        rows[update_id] = blob
        async with store.unit() as s:  # set aside: done, the sealed copy kept
            s.add(
                InboundUpdate(
                    update_id=update_id, chat_key=key, payload_enc=blob, received_at=now,
                    attempts=MAX_ATTEMPTS + 1, done_at=now,
                )
            )  # fmt: skip
    await store.close()
    async with Stage(emu, webhook_settings(emu, sqlite_url), clock, background_timers=False) as stage:
        mei = emu.user(CHAT, "x")
        if known:
            await consent_and_area(stage, mei, "area:finance")
            await stage.say(mei, "卡債的事想問", containing="案件代號")
        explain = await stage.say(mei, "/forget", containing="會保留")
        await stage.press(mei, explain, "forget:confirm", containing="已刪除")
        service_store = stage.running.store
        assert service_store is not None
        async with service_store.unit() as s:
            kept = {
                r.update_id: r
                for r in (
                    await s.execute(sa.select(InboundUpdate).where(InboundUpdate.update_id > 60))
                ).scalars()
            }
            audited = [e for e in await entries(s) if e.action == "forget"]
    assert kept[61].payload_enc is None and kept[61].chat_key == 0, "the employee's words are gone"
    assert kept[62].payload_enc == rows[62], "another chat's set-aside update stays for the operator"
    assert [(e.detail or {}).get("telegram_updates") for e in audited] == [1]
