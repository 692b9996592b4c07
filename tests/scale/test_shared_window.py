"""Issue 14: the screening window and the flood limit are shared by the workers on one PostgreSQL.

Worker A handles an employee's first message(s), worker B the next (two services on the same database,
each with its own memory): a warning split across the two messages is read together, and the flood limit
counts the messages both workers handled. The stored words are sealed, kept for the window's span only,
and forgotten on /forget.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from hotline.crypto import CONTENT_CONTEXT, Vault
from hotline.learned_loader import load_learned
from hotline.recent import StoredRecent
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import Stage, StageClock, stage_settings
from hotline.screening_loader import load_screener
from hotline.storage import db
from hotline.storage.recent import FloodBucket, RecentWord
from hotline.storage.repo import Store
from tests.conftest import TOKEN
from tests.tests_support import COUNSELOR, consent_and_area

FIRST, SECOND = "我這個月跑了好幾家藥局，每家都買一點安眠藥", "等這週的報告交完就全部吃掉"


@pytest.mark.learned
async def test_a_warning_split_across_two_workers_is_read_together(
    emu: TelegramEmulator, pg_url: str, clock: StageClock
) -> None:
    assert not load_screener().screen(SECOND).is_crisis
    assert not load_learned().screen(SECOND).is_crisis, "alone, the second message says nothing"
    # The verdict inside the budget (its own tests: tests/bot/test_reply_budget_e2e.py), whatever the load.
    settings = stage_settings(emu.api_url, TOKEN, pg_url, screening={"reply_budget_ms": 10_000})
    jie = emu.user(5301, "阿傑")
    async with Stage(emu, settings, clock, background_timers=False) as a:
        await a.say(emu.user(COUNSELOR, "Wang"), "/onduty", containing="值班")
        await a.say(jie, FIRST, containing="1925")  # worker A
    async with Stage(emu, settings, clock, background_timers=False) as b:
        mark = emu.mark()
        await b.say(jie, SECOND, containing="1925")  # worker B reads it with A's
        alert = await b.next_message(COUNSELOR, since=mark, containing="危機通報")
        assert SECOND in (alert.text or "") and "模型判讀" in (alert.text or "")


async def test_the_flood_limit_counts_what_both_workers_handled(
    emu: TelegramEmulator, pg_url: str, clock: StageClock
) -> None:
    settings = stage_settings(emu.api_url, TOKEN, pg_url, rate_limit={"burst": 3, "per_minute": 1})
    mei = emu.user(7101, "小美")
    async with Stage(emu, settings, clock, background_timers=False) as a:
        await consent_and_area(a, mei, "area:mental")
        await a.say(mei, "第一則", containing="案件代號")  # 1
        await a.say(mei, "第二則", containing="已加入")  # 2
    async with Stage(emu, settings, clock, background_timers=False) as b:
        await b.say(mei, "第三則", containing="已加入")  # 3
        notice = await b.say(mei, "第四則")  # over the limit, counted across both workers
        assert "太快" in (notice.text or "")


async def test_stored_words_are_sealed_expire_with_the_window_and_go_on_forget(
    emu: TelegramEmulator, pg_url: str, clock: StageClock
) -> None:
    settings = stage_settings(emu.api_url, TOKEN, pg_url)
    mei, lin = emu.user(7102, "小美"), emu.user(7103, "小林")
    async with Stage(emu, settings, clock, background_timers=False) as stage:
        store, window = stage.running.store, stage.running.runner.window  # type: ignore[union-attr]
        assert store is not None and isinstance(window, StoredRecent)
        await consent_and_area(stage, mei, "area:mental")
        await consent_and_area(stage, lin, "area:career")
        for n in range(1, 6):
            await stage.say(mei, f"小美的第{n}則")
        await stage.say(lin, "小林的第一則")

        async def rows() -> list[RecentWord]:
            async with store.unit() as s:
                return list((await s.scalars(sa.select(RecentWord).order_by(RecentWord.id))).all())

        kept = await rows()
        texts = [store.vault.decrypt(r.text_enc, context=CONTENT_CONTEXT) for r in kept]
        assert texts == ["小美的第3則", "小美的第4則", "小美的第5則", "小林的第一則"], "the last 3 each"
        assert not any("小美".encode() in r.text_enc for r in kept), "sealed"

        explain = await stage.say(mei, "/forget", containing="會保留")
        await stage.press(mei, explain, "forget:confirm", containing="已刪除")
        assert [store.vault.decrypt(r.text_enc, context=CONTENT_CONTEXT) for r in await rows()] == [
            "小林的第一則"
        ]
        async with store.unit() as s:
            buckets = (await s.scalars(sa.select(FloodBucket.who))).all()
        assert len(buckets) == 1, "the forgotten employee's bucket went too"

        clock.advance(minutes=14)
        assert await window.purge() == 0
        clock.advance(minutes=2)
        assert await window.purge() == 1, "past the window's 15 minutes"
        assert await rows() == []


async def test_a_crisis_keeps_its_words_and_flood_token_in_its_own_transaction(
    emu: TelegramEmulator, pg_url: str, clock: StageClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crisis the lexicon finds needs no earlier words: its words join the window, and its flood
    token is taken, in the update's own transaction, not in one of their own before it (issue 14)."""
    settings = stage_settings(emu.api_url, TOKEN, pg_url)
    crisis = "我真的撐不下去了，今晚想從頂樓跳下去"
    assert load_screener().screen(crisis).is_crisis
    ahead: list[str] = []
    real = StoredRecent.earlier_then_add

    async def spied(self: StoredRecent, who: str, text: str, now: object) -> list[str]:
        ahead.append(text)
        return await real(self, who, text, now)  # type: ignore[arg-type]

    monkeypatch.setattr(StoredRecent, "earlier_then_add", spied)
    async with Stage(emu, settings, clock, background_timers=False) as stage:
        store, window = stage.running.store, stage.running.runner.window  # type: ignore[union-attr]
        assert store is not None and isinstance(window, StoredRecent)
        await stage.say(emu.user(COUNSELOR, "Wang"), "/onduty", containing="值班")
        await stage.say(emu.user(7104, "小華"), crisis, containing="1925")
        assert ahead == [], "no transaction of its own for the words"  # was [crisis]
        async with store.unit() as s:
            words = list((await s.scalars(sa.select(RecentWord))).all())
            buckets = list((await s.scalars(sa.select(FloodBucket))).all())
        assert [store.vault.decrypt(w.text_enc, context=CONTENT_CONTEXT) for w in words] == [crisis]
        assert len(buckets) == 1 and buckets[0].tokens < settings.rate_limit.burst
        who = stage.running.runner.pseudonym(7104)  # type: ignore[union-attr]
        assert await window.earlier_then_add(who, "還在", clock()) == [crisis]  # read with the next one


async def test_a_flood_token_is_one_statement_and_idle_buckets_go_with_the_purge(
    pg_url: str, clock: StageClock
) -> None:
    """Every message takes a token (issue 14): its bucket is found (or made), locked and moved on in one
    statement (migration 0016's function); buckets full again are deleted by the purge loop, not at every
    message."""
    await db.upgrade(pg_url)
    store = Store(pg_url, Vault("shared-window-secret-0123456789abcdef"))
    statements: list[str] = []
    event.listen(store.engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(str(a[2])))
    window = StoredRecent(store, 3, 15, burst=2, per_minute=60, clock=clock)
    try:
        assert (await window.check("someone", clock())).allowed  # a new bucket, one token of two taken
        assert len(statements) == 1, statements  # was 4: purge, insert, select for update, update; then 2
        assert (await window.check("someone", clock())).allowed
        denied = await window.check("someone", clock())
        assert not denied.allowed and denied.first_denial  # the burst of 2 is spent
        assert 0.0 < denied.retry_after <= 1.0
        assert not (await window.check("someone", clock())).first_denial  # told once
        clock.advance(seconds=1)
        assert (await window.check("someone", clock())).allowed  # one a second comes back
        clock.advance(seconds=30)
        await window.purge()
        async with store.unit() as s:
            assert (await s.scalars(sa.select(FloodBucket.who))).all() == []
    finally:
        await store.close()
