"""/metrics counts what was set aside (issue 15): Telegram updates and LINE events that failed in every
attempt are kept sealed for an operator, and each may hold a crisis nobody has read; the on-call operator
alerts on these gauges (docs/operations.md). Read from the database, on SQLite and PostgreSQL."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from hotline.ops import WorkerCounters, render_metrics
from hotline.storage import inbound, line_repo
from tests.privacy.support import NOW, make_store

GAUGES = ("hotline_telegram_updates_set_aside", "hotline_line_events_set_aside")


def gauges(text: bytes) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
        if sample.name in GAUGES
    }


async def test_set_aside_updates_and_line_events_are_gauges(db_url: str) -> None:
    store = await make_store(db_url)
    try:
        assert gauges(await render_metrics(store, lambda: NOW, WorkerCounters())) == dict.fromkeys(GAUGES, 0)
        async with store.unit() as s:
            for update_id in (7, 8):  # two Telegram updates of one chat fail in every attempt
                assert await inbound.store(s, update_id, 42, b"sealed", NOW)
            await inbound.store(s, 9, 43, b"sealed", NOW)  # pending, not set aside
            for _ in (7, 8):
                started = await inbound.start_next(s, 42, "w1", NOW)
                assert started is not None
                await inbound.set_aside(s, started.update_id, "w1", NOW)
            new = await line_repo.add_events(s, [("E1", "k1", b"sealed"), ("E2", "k2", b"sealed")], NOW)
            assert len(new) == 2
            event = await line_repo.start_next(s, "k1", "w1")
            assert event is not None
            await line_repo.set_aside(s, event.seq, "w1", NOW)
        assert gauges(await render_metrics(store, lambda: NOW, WorkerCounters())) == {
            "hotline_telegram_updates_set_aside": 2,
            "hotline_line_events_set_aside": 1,
        }
    finally:
        await store.close()
