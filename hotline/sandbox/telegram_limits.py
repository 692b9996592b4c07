"""Telegram's flood limits, as the emulator enforces them (on by default: the realistic mode).

Telegram's Bot FAQ ("My bot is hitting limits"): inside one chat, avoid more than one message a second
("we may allow short bursts that go over this limit, but eventually you'll begin receiving 429 errors");
bulk notifications, no more than about 30 messages a second; no more than 20 messages a minute to the
same group. The exact figures are not published and vary; these are the documented ones.

Each limit is a token bucket kept as a theoretical arrival time (GCRA): a message is accepted when the
bucket has a token, otherwise refused with ``429 Too Many Requests: retry after N`` and ``retry_after``
set to the whole seconds until it would be accepted. A refused message takes no token. Messages are
the calls that put or change a message in a chat (``MESSAGE_METHODS``); reading calls are not limited.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .telegram_model import ApiError

MESSAGE_METHODS = frozenset(
    {"sendMessage", "copyMessage", "forwardMessage", "editMessageText", "editMessageReplyMarkup"}
)


@dataclass(frozen=True, slots=True)
class FloodLimits:
    """Rates and bursts of the three limits; a rate of 0 turns that limit off."""

    per_bot_per_second: float = 30.0
    per_bot_burst: int = 30
    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3  # "short bursts" are allowed in a private chat
    per_group_per_minute: float = 20.0
    per_group_burst: int = 20


REALISTIC = FloodLimits()


@dataclass(slots=True)
class _Bucket:
    interval: float  # seconds per token
    tolerance: float  # (burst - 1) * interval
    tat: dict[object, float] = field(default_factory=dict)

    @classmethod
    def of(cls, per_second: float, burst: int) -> _Bucket | None:
        if per_second <= 0:
            return None
        interval = 1.0 / per_second
        return cls(interval, (max(1, burst) - 1) * interval)

    def wait(self, key: object, now: float) -> float:
        return max(0.0, self.tat.get(key, now) - self.tolerance - now)

    def take(self, key: object, now: float) -> None:
        self.tat[key] = max(self.tat.get(key, now), now) + self.interval
        if len(self.tat) > 10_000:  # forget buckets that are full again
            for k in [k for k, t in self.tat.items() if t < now]:
                del self.tat[k]


class FloodGate:
    """The limits of one bot: :meth:`admit` takes a token from every bucket the call counts against,
    or raises the 429 Telegram would answer."""

    def __init__(self, limits: FloodLimits) -> None:
        self.limits = limits
        self._bot = _Bucket.of(limits.per_bot_per_second, limits.per_bot_burst)
        self._chat = _Bucket.of(limits.per_chat_per_second, limits.per_chat_burst)
        self._group = _Bucket.of(limits.per_group_per_minute / 60.0, limits.per_group_burst)

    def admit(self, method: str, chat_id: object, now: float) -> None:
        if method not in MESSAGE_METHODS:
            return
        buckets: list[tuple[_Bucket, object]] = []
        if self._bot is not None:
            buckets.append((self._bot, None))
        is_group = (isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str)
        chat_bucket = self._group if is_group else self._chat
        if chat_bucket is not None and chat_id is not None:
            buckets.append((chat_bucket, chat_id))
        wait = max((bucket.wait(key, now) for bucket, key in buckets), default=0.0)
        if wait > 0:
            after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {after}", {"retry_after": after})
        for bucket, key in buckets:
            bucket.take(key, now)
