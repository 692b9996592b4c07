"""The per-employee token bucket: burst, steady rate, one notice per streak, bounded memory."""

from __future__ import annotations

import pytest

from hotline.privacy.ratelimit import Decision, RateLimiter
from hotline.settings import RateLimitSection


def test_burst_then_steady_rate_and_one_notice_per_streak() -> None:
    limiter = RateLimiter(burst=3, per_minute=60)  # one token a second
    assert [limiter.check("p", 0.0).allowed for _ in range(3)] == [True, True, True]
    first, second = limiter.check("p", 0.0), limiter.check("p", 0.5)
    assert first == Decision(False, first_denial=True, retry_after=1.0)
    assert not second.allowed and not second.first_denial and second.retry_after == pytest.approx(0.5)
    assert limiter.check("p", 1.0).allowed  # refilled one token
    assert limiter.check("p", 1.0).first_denial  # a new streak is told again
    assert limiter.check("other", 1.0).allowed  # keys are independent


def test_refill_is_capped_at_the_burst() -> None:
    limiter = RateLimiter(burst=2, per_minute=60)
    limiter.check("p", 0.0)
    assert [limiter.check("p", 1000.0).allowed for _ in range(3)] == [True, True, False]


def test_idle_keys_are_forgotten_and_memory_is_bounded() -> None:
    limiter = RateLimiter(burst=2, per_minute=60, max_keys=100)
    for i in range(50):
        limiter.check(i, 0.0)
    assert len(limiter) == 50
    limiter.check("late", 10.0)  # everyone else idle long enough to be full again
    assert len(limiter) == 1
    for i in range(500):
        limiter.check(i, 20.0)
    assert len(limiter) == 100


def test_from_settings_and_bad_values() -> None:
    limiter = RateLimiter.from_settings(RateLimitSection(burst=20, per_minute=30))
    assert sum(limiter.check("p", 0.0).allowed for _ in range(25)) == 20
    assert limiter.check("p", 2.0).allowed  # 30 a minute: one token every two seconds
    with pytest.raises(ValueError):
        RateLimiter(burst=0, per_minute=1)
