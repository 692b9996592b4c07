"""Flood protection per employee: a token bucket per key, with bounded memory. Pure; the clock is passed in.

**The limiter only limits what the service does in reply, never what it keeps.** A denied message must
still be screened for crisis cues (and take the crisis path when it has them) and still be stored in the
case; only the relay to the counselor and the acknowledgement to the employee are held back. Tell the
employee once per streak (``Decision.first_denial``), not on every message: a person in distress who
types fast must not be punished with a wall of "slow down".

Key by the employee's pseudonym, not by a raw Telegram id, so that no identity sits in memory longer
than needed. Memory is bounded: keys idle long enough to have a full bucket again are forgotten (they
are indistinguishable from new keys), and beyond ``max_keys`` the least recently seen key is dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from hotline.settings import RateLimitSection


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    first_denial: bool = False  # denied, and the previous decision for this key was an allow
    retry_after: float = 0.0  # seconds until one token is available (0 when allowed)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    seen: float
    denied: bool = False


class RateLimiter:
    """``burst`` messages at once, then ``per_minute`` a minute on average, per key."""

    __slots__ = ("_buckets", "_idle", "_rate", "burst", "max_keys")

    def __init__(self, burst: int, per_minute: float, *, max_keys: int = 100_000) -> None:
        if burst < 1 or per_minute <= 0 or max_keys < 1:
            raise ValueError("burst and max_keys must be at least 1 and per_minute positive")
        self.burst = burst
        self.max_keys = max_keys
        self._rate = per_minute / 60.0  # tokens per second
        self._idle = burst / self._rate  # seconds after which any bucket is full again
        self._buckets: OrderedDict[Hashable, _Bucket] = OrderedDict()

    @classmethod
    def from_settings(cls, section: RateLimitSection, *, max_keys: int = 100_000) -> RateLimiter:
        return cls(section.burst, section.per_minute, max_keys=max_keys)

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, key: Hashable, now: float) -> Decision:
        """Take one token for ``key`` at monotonic time ``now`` (seconds) if there is one."""
        self._evict_idle(now)
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(tokens=float(self.burst), seen=now)
        else:
            elapsed = max(0.0, now - bucket.seen)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self._rate)
            bucket.seen = now
        self._buckets[key] = bucket  # most recently seen at the end
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.denied = False
            return Decision(True)
        first = not bucket.denied
        bucket.denied = True
        return Decision(False, first_denial=first, retry_after=(1.0 - bucket.tokens) / self._rate)

    def _evict_idle(self, now: float) -> None:
        buckets = self._buckets
        while buckets:
            key, oldest = next(iter(buckets.items()))
            if now - oldest.seen < self._idle:
                return
            del buckets[key]


__all__ = ["Decision", "RateLimiter"]
