"""The LINE inbox never drops a stored event silently: a failing event is retried, then kept stored for the
next start (a crisis must not vanish with a rolled-back transaction); logs never quote an event; an event
of a type the SDK does not know is skipped without its content in the log; a redelivery meanwhile is not
carried out twice."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from linebot.v3.webhooks import Event

from hotline.crypto import Vault
from hotline.line import inbox as inbox_module
from hotline.line.inbox import LineInbox
from hotline.sandbox.stage import StageClock
from hotline.storage import db, line_repo
from hotline.storage.repo import Store

USER = "U0123456789abcdef0123456789abcdef"
CRISIS = "我今晚要從頂樓跳下去"


def text_event(event_id: str, user: str, text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "mode": "active",
        "timestamp": 1_700_000_000_000,
        "source": {"type": "user", "userId": user},
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": False},
        "replyToken": f"token-{event_id}",
        "message": {"id": event_id, "type": "text", "quoteToken": "q", "text": text},
    }


async def new_store(tmp_path: Path) -> Store:
    url = f"sqlite+aiosqlite:///{tmp_path / 'line.db'}"
    await db.upgrade(url)
    return Store(url, Vault("x" * 40))


async def pending_seqs(store: Store) -> list[int]:
    async with store.unit() as s:
        return [seq for seq, _key, _sealed in await line_repo.pending(s)]


async def settle(inbox: LineInbox) -> None:
    for _ in range(200):
        await asyncio.sleep(0.01)
        if not inbox._workers and inbox._marking is None:
            return


async def test_a_failing_event_is_retried_then_kept_stored_and_carried_out_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(inbox_module, "RETRY_SECONDS", 0.0)
    store = await new_store(tmp_path)
    seen: list[str] = []

    async def failing(event: Event) -> None:
        seen.append(event.webhook_event_id)
        if event.source.user_id == USER:
            raise RuntimeError(f"database went away while storing {CRISIS} of {USER}")

    first = LineInbox(store, failing, lambda u: f"p-{u[-4:]}", StageClock(), 4)
    caplog.set_level(logging.DEBUG)
    other = "U" + "f" * 32
    assert await first.accept([text_event("E1", USER, CRISIS), text_event("E2", other, "你好")]) == 2
    await settle(first)
    assert seen.count("E1") == inbox_module.ATTEMPTS and seen.count("E2") == 1
    kept = await pending_seqs(store)
    assert len(kept) == 1, "the failed crisis stays stored; the other is done"
    assert USER not in caplog.text and CRISIS not in caplog.text  # the error's type only
    assert "RuntimeError" in caplog.text and "tried again at the next start" in caplog.text
    await first.close()

    carried: list[str] = []

    async def working(event: Event) -> None:
        carried.append(event.webhook_event_id)

    second = LineInbox(store, working, lambda u: f"p-{u[-4:]}", StageClock(), 4)
    await second.resume()
    # LINE redelivers the same event meanwhile: stored once already, so it is not carried out again
    assert (
        await second.accept([text_event("E1", USER, CRISIS) | {"deliveryContext": {"isRedelivery": True}}])
        == 0
    )
    await settle(second)
    assert carried == ["E1"]
    assert await pending_seqs(store) == []
    await second.close()
    await store.engine.dispose()


async def test_an_event_type_the_sdk_does_not_know_is_skipped_without_its_content(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await new_store(tmp_path)
    carried: list[str] = []

    async def working(event: Event) -> None:
        carried.append(event.webhook_event_id)

    inbox = LineInbox(store, working, lambda u: f"p-{u[-4:]}", StageClock(), 4)
    caplog.set_level(logging.DEBUG)
    future = text_event("E9", USER, CRISIS) | {"type": "somethingNewFromLine"}
    assert await inbox.accept([future]) == 1
    await settle(inbox)
    assert carried == [] and await pending_seqs(store) == []
    assert "does not know" in caplog.text and USER not in caplog.text and CRISIS not in caplog.text
    await inbox.close()
    await store.engine.dispose()


async def test_closing_lets_the_event_in_hand_finish_and_keeps_the_queued_ones_stored(tmp_path: Path) -> None:
    """Stopping the service does not cut an event's transaction in half (a cancelled transaction left
    its connection to the garbage collector, whose rollback logged a traceback at `make demo`'s end)."""
    store = await new_store(tmp_path)
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def slow(event: Event) -> None:
        started.set()
        await release.wait()
        finished.append(event.webhook_event_id)

    inbox = LineInbox(store, slow, lambda u: f"p-{u[-4:]}", StageClock(), 4)
    assert await inbox.accept([text_event("E1", USER, "第一則"), text_event("E2", USER, "第二則")]) == 2
    await started.wait()
    closing = asyncio.create_task(inbox.close())
    release.set()
    await closing
    assert finished == ["E1"], "the event in hand finished; the next one was not begun"
    assert len(await pending_seqs(store)) == 1, "E2 stays stored for the next start"
    await store.engine.dispose()


async def test_deliveries_stored_together_keep_each_event_once_and_in_order(db_url: str) -> None:
    """Deliveries that arrive together are stored in one statement (group commit): an event sent twice
    in it (within one delivery, or redelivered in the next) is stored and carried out once, and each user's
    events keep their order."""
    await db.upgrade(db_url)
    store = Store(db_url, Vault("x" * 40))
    seen: list[str] = []

    async def process(event: Event) -> None:
        seen.append(event.webhook_event_id)

    inbox = LineInbox(store, process, lambda u: f"p-{u[-4:]}", StageClock(), 4)
    other = "U" + "f" * 32
    counts = await asyncio.gather(
        inbox.accept([text_event("E1", USER, "一"), text_event("E1", USER, "一")]),
        inbox.accept(
            [text_event("E1", USER, "一"), text_event("E2", USER, "二"), text_event("E3", other, "三")]
        ),
        inbox.accept([text_event("E4", USER, "四")]),
    )
    assert list(counts) == [1, 2, 1]
    await inbox.idle()
    assert sorted(seen) == ["E1", "E2", "E3", "E4"]
    assert [e for e in seen if e != "E3"] == ["E1", "E2", "E4"], "one user's events in arrival order"
    assert await inbox.accept([text_event("E2", USER, "二")]) == 0, "a later redelivery: stored already"
    assert await pending_seqs(store) == []
    await inbox.close()
    await store.close()
