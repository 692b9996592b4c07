"""The flood-limit buckets in PostgreSQL, shared by every worker of one bot (``hotline/pacing.py``).

One short transaction a message: the bot's row and the chat's row, created when missing, locked
``FOR UPDATE`` in key order (two workers never wait on each other crosswise), read on the database's
clock, and moved on only when both have a token. The chat's key is a pseudonym of the chat id: the
table holds no Telegram id. Each step is one statement (the rows and the clock read together, both
created together, both moved on together): a message's round trips are paid by every message a burst
sends (issue 14: three statements a message fewer, five for a chat seen for the first time).
"""

from __future__ import annotations

import itertools

from sqlalchemy import text

from hotline.pacing import BOT_KEY, Limits
from hotline.storage.repo import Store

_NOW = text("SELECT extract(epoch FROM clock_timestamp())")
_CREATE = text("INSERT INTO send_pacing (key, tat) VALUES (:bot, 0), (:chat, 0) ON CONFLICT (key) DO NOTHING")
# The clock is read by the outer query, row by row as the locked rows come out of the CTE: the
# latest of the two readings is taken once both rows are locked (a wait for a lock is not counted).
_LOCK = text(
    "WITH locked AS (SELECT key, tat FROM send_pacing WHERE key IN (:bot, :chat) ORDER BY key FOR UPDATE)"
    " SELECT key, tat, extract(epoch FROM clock_timestamp()) FROM locked"
)
_SET = text(
    "UPDATE send_pacing SET tat = CASE WHEN key = :bot THEN CAST(:bot_tat AS double precision)"
    " ELSE CAST(:chat_tat AS double precision) END WHERE key IN (:bot, :chat)"
)
_HOLD = text(
    "INSERT INTO send_pacing (key, tat) VALUES (:key, :tat) "
    "ON CONFLICT (key) DO UPDATE SET tat = greatest(send_pacing.tat, excluded.tat)"
)
_PRUNE = text("DELETE FROM send_pacing WHERE tat < :before AND key <> :bot")
PRUNE_EVERY = 1000  # takes
PRUNE_AFTER = 3600.0  # seconds a bucket has been full


class DatabaseBudget:
    """:class:`hotline.pacing.Budget` on PostgreSQL."""

    def __init__(self, store: Store, limits: Limits) -> None:
        self.store = store
        self.limits = limits
        self._takes = itertools.count(1)

    async def take(self, chat_key: str, urgent: bool, alert: bool = False) -> float:
        async with self.store.unit() as s:
            keys = {"bot": BOT_KEY, "chat": chat_key}
            rows = (await s.execute(_LOCK, keys)).all()
            if len(rows) < 2:  # a chat seen for the first time (or a new database)
                await s.execute(_CREATE, keys)
                rows = (await s.execute(_LOCK, keys)).all()
            tats = {str(key): float(tat) for key, tat, _now in rows}
            now = max(float(clock) for _key, _tat, clock in rows)  # the database's, once both are locked
            bot_tat, chat_tat = tats[BOT_KEY] or None, tats[chat_key] or None
            wait = self.limits.waits(bot_tat, chat_tat, now, urgent, alert)
            if wait > 0:
                return wait
            bot_after = self.limits.bot.after_take(bot_tat, now)
            chat_after = self.limits.chat.after_take(chat_tat, now)
            await s.execute(_SET, {**keys, "bot_tat": bot_after, "chat_tat": chat_after})
            if next(self._takes) % PRUNE_EVERY == 0:
                await s.execute(_PRUNE, {"before": now - PRUNE_AFTER, "bot": BOT_KEY})
        return 0.0

    async def hold_off(self, chat_key: str, seconds: float) -> None:
        async with self.store.unit() as s:
            now = float((await s.execute(_NOW)).scalar_one())
            until = now + seconds + self.limits.chat.tolerance
            await s.execute(_HOLD, {"key": chat_key, "tat": until})
