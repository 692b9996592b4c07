"""Durable timers: deadlines live in the ``timers`` table, so a restart loses none of them.

The in-process waiter is a plain task (cancelled on stop, never awaited by PTB's Application): it sleeps
until the earliest due timer or until :meth:`TimerService.wake` is called, leases due timers (with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several instances can share one database), runs the handler
for each kind, and marks them fired. A handler that fails is retried after the lease expires.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

from hotline.loops import WakeableLoop
from hotline.ports import Clock
from hotline.storage import repo
from hotline.storage.repo import Store

log = logging.getLogger(__name__)

Handler = Callable[[int | None, Mapping[str, object]], Awaitable[None]]

LEASE = timedelta(seconds=60)
MAX_WAIT_SECONDS = 30.0


class TimerService:
    def __init__(self, store: Store, clock: Clock, handlers: Mapping[str, Handler]) -> None:
        self.store = store
        self.clock = clock
        self.handlers = dict(handlers)
        self.owner = uuid.uuid4().hex[:16]
        self.fired = 0
        self._loop = WakeableLoop("hotline-timers", self._step, error_wait=1.0)

    def wake(self) -> None:
        self._loop.wake()

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _step(self) -> float:
        await self.run_due()
        return await self._seconds_to_next()

    async def run_due(self) -> int:
        """Fire every timer that is due now; return how many fired."""
        now = self.clock()
        async with self.store.unit() as s:
            due = await repo.claim_due_timers(s, now, self.owner, now + LEASE, lock=self.store.locking)
            jobs = [(t.id, t.kind, t.case_id, dict(t.payload or {})) for t in due]
        count = 0
        for timer_id, kind, case_id, payload in jobs:
            handler = self.handlers.get(kind)
            try:
                if handler is None:
                    log.error("no handler for timer kind %s; marking it done", kind)
                else:
                    await handler(case_id, payload)
            except Exception:
                log.exception("timer %s (%s) failed; it will be retried", timer_id, kind)
                continue
            async with self.store.unit() as s:
                await repo.finish_timer(s, timer_id, self.clock())
            count += 1
        self.fired += count
        return count

    async def _seconds_to_next(self) -> float:
        async with self.store.unit() as s:
            due = await repo.next_due_at(s)
        if due is None:
            return MAX_WAIT_SECONDS
        return max(0.0, min(MAX_WAIT_SECONDS, (due - self.clock()).total_seconds()))
