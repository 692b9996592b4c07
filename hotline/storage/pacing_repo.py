"""The flood-limit buckets in PostgreSQL, shared by every worker of one bot (``hotline/pacing.py``).

One short transaction a message: the bot's row and the chat's row, created when missing, locked
``FOR UPDATE`` in key order (two workers never wait on each other crosswise), read on the database's
clock, and moved on only when both have a token. The chat's key is a pseudonym of the chat id: the
table holds no Telegram id.
"""

from __future__ import annotations

import itertools

from sqlalchemy import text

from hotline.pacing import BOT_KEY, Limits
from hotline.storage.repo import Store

_NOW = text("SELECT extract(epoch FROM clock_timestamp())")
_CREATE = text("INSERT INTO send_pacing (key, tat) VALUES (:key, 0) ON CONFLICT (key) DO NOTHING")
_LOCK = text("SELECT key, tat FROM send_pacing WHERE key IN (:bot, :chat) ORDER BY key FOR UPDATE")
_SET = text("UPDATE send_pacing SET tat = :tat WHERE key = :key")
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

    async def take(self, chat_key: str, urgent: bool) -> float:
        async with self.store.unit() as s:
            rows = (await s.execute(_LOCK, {"bot": BOT_KEY, "chat": chat_key})).all()
            if len(rows) < 2:  # a chat seen for the first time (or a new database)
                for key in (BOT_KEY, chat_key):
                    await s.execute(_CREATE, {"key": key})
                rows = (await s.execute(_LOCK, {"bot": BOT_KEY, "chat": chat_key})).all()
            tats = {str(key): float(tat) for key, tat in rows}
            now = float((await s.execute(_NOW)).scalar_one())
            bot_tat, chat_tat = tats[BOT_KEY] or None, tats[chat_key] or None
            wait = self.limits.waits(bot_tat, chat_tat, now, urgent)
            if wait > 0:
                return wait
            await s.execute(_SET, {"key": BOT_KEY, "tat": self.limits.bot.after_take(bot_tat, now)})
            await s.execute(_SET, {"key": chat_key, "tat": self.limits.chat.after_take(chat_tat, now)})
            if next(self._takes) % PRUNE_EVERY == 0:
                await s.execute(_PRUNE, {"before": now - PRUNE_AFTER, "bot": BOT_KEY})
        return 0.0

    async def hold_off(self, chat_key: str, seconds: float) -> None:
        async with self.store.unit() as s:
            now = float((await s.execute(_NOW)).scalar_one())
            until = now + seconds + self.limits.chat.tolerance
            await s.execute(_HOLD, {"key": chat_key, "tat": until})
