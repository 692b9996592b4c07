"""Timer kinds are a closed type (issue 13): nothing else can be scheduled or handled, and a due timer
whose kind has no handler stays pending, is logged at ERROR and reaches the supervisors."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

import pytest
from sqlalchemy import select

from hotline.sandbox.stage import Stage, StageClock
from hotline.storage import repo
from hotline.storage.models import Timer
from hotline.timer_kinds import TimerKind
from hotline.timers import TimerService
from tests.tests_support import SUPERVISOR

TYPO = "crisis.escalte"  # as a typo, or a row written by another version, would store it


async def _nothing(_case_id: int | None, _payload: Mapping[str, object]) -> None:
    return None


async def test_a_due_timer_without_a_handler_stays_pending_and_tells_the_supervisors(
    stage: Stage, clock: StageClock, caplog: pytest.LogCaptureFixture
) -> None:
    emu = stage.emu
    emu.user(SUPERVISOR, "Lin", started=True)
    timers, store = stage.running.timers, stage.running.store
    assert timers is not None and store is not None
    async with store.unit() as s:
        row = Timer(kind=TYPO, due_at=clock(), case_id=None, payload={}, created_at=clock())
        s.add(row)
        await s.flush()
        timer_id = row.id

    mark = emu.mark()
    with caplog.at_level(logging.ERROR, logger="hotline.timers"):
        assert await timers.run_due() == 0
    assert [r for r in caplog.records if r.levelno == logging.ERROR and TYPO in r.getMessage()]
    notice = await stage.next_message(SUPERVISOR, since=mark, containing="系統警示")
    assert TYPO in (notice.text or "")

    clock.advance(seconds=61)  # its lease has ended: due again, still not handled, still not dropped
    caplog.clear()
    mark = emu.mark()
    with caplog.at_level(logging.ERROR, logger="hotline.timers"):
        assert await timers.run_due() == 0
    assert [r for r in caplog.records if r.levelno == logging.ERROR], "logged every time it comes due"
    async with store.unit() as s:
        timer = await s.get(Timer, timer_id)
        assert timer is not None and timer.fired_at is None and timer.cancelled_at is None
        assert await s.scalar(select(Timer.id).where(Timer.fired_at.is_(None), Timer.kind == TYPO))
    assert not [t for t in stage.texts_to(SUPERVISOR, since=mark) if "系統警示" in t], "told once"


async def test_only_timer_kinds_are_scheduled_or_handled(stage: Stage, clock: StageClock) -> None:
    store = stage.running.store
    assert store is not None
    async with store.unit() as s:
        with pytest.raises(ValueError, match=TYPO):
            await repo.schedule(s, TYPO, clock(), clock())  # type: ignore[arg-type]
        timer = await repo.schedule(s, TimerKind.CRISIS_RESEND, clock() + timedelta(hours=1), clock())
        assert timer.kind == "crisis.resend"
    with pytest.raises(TypeError, match=TYPO):
        TimerService(store, clock, {TYPO: _nothing})  # type: ignore[dict-item]
    service = TimerService(store, clock, {TimerKind.DAILY: _nothing})
    with pytest.raises(ValueError, match="already"):
        service.register(TimerKind.DAILY, _nothing)
