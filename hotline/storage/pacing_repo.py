"""The flood-limit buckets in PostgreSQL, shared by every worker of one bot (``hotline/pacing.py``).

One statement a message, in autocommit: a function (migration 0017, 0016's take returning each bucket's
wait apart) that creates the bot's row and the
chat's row when missing, locks them ``FOR UPDATE`` in key order (two workers never wait on each other
crosswise), reads the database's clock once both are locked, and moves them on only when both have a
token. The chat's key is a pseudonym of the chat id: the table holds no Telegram id. A message's round
trips are paid by every message a burst sends (issue 14): one now, where a transaction of two to four
statements took four to six round trips.
"""

from __future__ import annotations

import itertools

from sqlalchemy import Float, String, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from hotline.pacing import BOT_KEY, TAKEN, Limits, Wait, lag
from hotline.storage.repo import Store

_NOW = text("SELECT extract(epoch FROM clock_timestamp())")
# The whole take in one statement (migration 0017's function): the bot's and the chat's rows created when
# missing, locked in key order, the clock read once both are locked, both moved on only when both have a
# token; the bot's and the chat's waits (both 0 when taken).
_TAKE = text(
    "SELECT bot_wait, chat_wait FROM hotline_pacing_ask(:bot, :chat, :bot_interval, :bot_tolerance,"
    " :chat_interval, :chat_tolerance, :lag)"
).bindparams(
    bindparam("bot", type_=String),
    bindparam("chat", type_=String),
    *(
        bindparam(name, type_=Float(precision=53))
        for name in ("bot_interval", "bot_tolerance", "chat_interval", "chat_tolerance", "lag")
    ),
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

    async def take(self, chat_key: str, urgent: bool, alert: bool = False) -> Wait:
        bot, chat = self.limits.bot, self.limits.chat
        params = {
            "bot": BOT_KEY,
            "chat": chat_key,
            "bot_interval": bot.interval,
            "bot_tolerance": bot.tolerance,
            "chat_interval": chat.interval,
            "chat_tolerance": chat.tolerance,
            "lag": lag(urgent, alert),
        }
        async with self.store.single() as c:  # one statement, autocommit: one round trip
            bot_wait, chat_wait = (await c.execute(_TAKE, params)).one()
        wait = Wait(float(bot_wait), float(chat_wait))
        if wait > 0:
            return wait
        if next(self._takes) % PRUNE_EVERY == 0:
            async with self.store.single() as c:
                await c.execute(_PRUNE, {"before": await self._now(c) - PRUNE_AFTER, "bot": BOT_KEY})
        return TAKEN

    @staticmethod
    async def _now(c: AsyncConnection) -> float:
        return float((await c.execute(_NOW)).scalar_one())

    async def hold_off(self, chat_key: str, seconds: float) -> None:
        async with self.store.unit() as s:
            now = float((await s.execute(_NOW)).scalar_one())
            until = now + seconds + self.limits.chat.tolerance
            await s.execute(_HOLD, {"key": chat_key, "tat": until})
