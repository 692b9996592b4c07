"""The flood-limit buckets shared by workers on PostgreSQL (``storage/pacing_repo.py``, issue 14): a
message's take is one statement (migration 0017's function, which says which bucket refused), for a chat already seen or seen for the
first time, taken or refused; the limits hold as before."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from hotline.crypto import Vault
from hotline.pacing import CRISIS_LAG, Limits, Rate
from hotline.storage import db
from hotline.storage.pacing_repo import DatabaseBudget
from hotline.storage.repo import Store

LIMITS = Limits(bot=Rate.of(30, 30), chat=Rate.of(1, 1))


async def test_a_take_is_one_statement_and_the_limits_hold(pg_url: str) -> None:
    await db.upgrade(pg_url)
    store = Store(pg_url, Vault("pacing-repo-secret-0123456789abcdef"))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    budget = DatabaseBudget(store, LIMITS)
    try:
        assert await budget.take("chat-a", urgent=True) == 0.0  # a new chat (and a new bot row)
        assert len(statements) == 1  # was 7: lock, create, create, lock, clock, set, set; then 4
        statements.clear()
        assert await budget.take("chat-b", urgent=False) == 0.0
        statements.clear()
        wait = await budget.take("chat-a", urgent=True)  # one a second in a chat
        assert 0.5 < wait <= 1.0 + CRISIS_LAG  # a crisis reply lets an alert asking with it go first
        assert wait.chat == wait and wait.bot == 0, "the chat's bucket refused, not the bot's"
        assert len(statements) == 1, statements  # refused: the rows and the clock (was 2)
        statements.clear()
        await budget.hold_off("chat-b", 0.0)
        statements.clear()
        assert await budget.take("chat-c", urgent=True) == 0.0
        statements.clear()
        await budget.hold_off("chat-c", -10.0)  # a bucket moved back is still there: no create
        statements.clear()
        assert await budget.take("chat-c", urgent=True) > 0  # still its one a second
        assert len(statements) == 1
    finally:
        await store.close()


async def test_a_known_chat_takes_its_token_in_one_statement(pg_url: str) -> None:
    await db.upgrade(pg_url)
    store = Store(pg_url, Vault("pacing-repo-secret-0123456789abcdef"))
    statements: list[str] = []
    event.listen(store.engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(str(a[2])))
    budget = DatabaseBudget(store, Limits(bot=Rate.of(1000, 1000), chat=Rate.of(1000, 1000)))
    try:
        assert await budget.take("chat-a", urgent=True) == 0.0
        statements.clear()
        assert await budget.take("chat-a", urgent=False) == 0.0
        assert len(statements) == 1, statements  # was 4: lock, clock, set, set; then 2
    finally:
        await store.close()


async def test_a_refusal_says_which_bucket_refused(pg_url: str) -> None:
    """The pacer's one asker a process needs to know whether the bot's bucket is empty (every chat waits)
    or only the chat's (the others may ask)."""
    await db.upgrade(pg_url)
    store = Store(pg_url, Vault("pacing-repo-secret-0123456789abcdef"))
    budget = DatabaseBudget(store, Limits(bot=Rate.of(2, 1), chat=Rate.of(1, 1)))
    try:
        assert await budget.take("chat-a", urgent=True, alert=True) == 0.0
        other = await budget.take("chat-b", urgent=True, alert=True)  # the bot's one token is gone
        assert 0.3 < other.bot <= 0.5 and other.chat == 0 and other == other.bot
        same = await budget.take("chat-a", urgent=True, alert=True)  # both empty
        assert 0.3 < same.bot <= 0.5 and 0.8 < same.chat <= 1.0 and same == same.chat
    finally:
        await store.close()
