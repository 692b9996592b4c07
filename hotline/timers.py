"""Durable timers: deadlines live in the ``timers`` table, so a restart loses none of them.

The in-process waiter is a plain task (cancelled on stop, never awaited by PTB's Application): it sleeps
until the earliest due timer or until :meth:`TimerService.wake` is called, leases due timers (with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several instances can share one database), runs the handler
for each kind, and marks them fired. A handler that fails is retried after the lease expires.

Kinds are a closed type (:class:`~hotline.timer_kinds.TimerKind`): a handler is registered for a kind,
never for a string. A due timer whose kind has no handler (a kind nobody wired, or a row written by
another version) is never marked done: it stays pending, is logged at ERROR each time it comes due,
and ``on_unhandled`` tells the supervisors once per timer and process.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from hotline.loops import WakeableLoop
from hotline.ports import Clock
from hotline.storage import repo
from hotline.storage.repo import Store
from hotline.timer_kinds import TimerKind

log = logging.getLogger(__name__)

Handler = Callable[[int | None, Mapping[str, object]], Awaitable[None]]
Unhandled = Callable[[str, int | None], Awaitable[None]]  # (the kind as stored, case id)

LEASE = timedelta(seconds=30)  # a worker that dies mid-timer: another fires it this much later
MAX_WAIT_SECONDS = 30.0
CLAIM = 10  # timers leased at once: a few handlers' worth, well inside the lease


class TimerService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        handlers: Mapping[TimerKind, Handler],
        on_unhandled: Unhandled | None = None,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.handlers: dict[TimerKind, Handler] = {}
        for kind, handler in handlers.items():
            self.register(kind, handler)
        self.on_unhandled = on_unhandled
        self._reported: set[int] = set()
        self.owner = owner or uuid.uuid4().hex[:16]  # who holds a claimed timer's lease
        self.fired = 0
        self._planned: datetime | None = None  # when the loop will look next (None: looking now)
        self._soonest: datetime | None = None  # the first timer committed while the loop looked
        self._loop = WakeableLoop("hotline-timers", self._step, error_wait=1.0)

    def register(self, kind: TimerKind, handler: Handler) -> None:
        """Run ``handler`` for timers of ``kind``; a kind that is not a :class:`TimerKind`, or one
        registered twice, is a wiring error."""
        if not isinstance(kind, TimerKind):
            raise TypeError(f"timer kind {kind!r} is not a TimerKind")
        if kind in self.handlers:
            raise ValueError(f"timer kind {kind} already has a handler")
        self.handlers[kind] = handler

    def wake(self) -> None:
        self._loop.wake()

    def start(self) -> None:
        self._loop.start()

    @property
    def alive(self) -> bool:
        return self._loop.alive

    async def stop(self) -> None:
        await self._loop.stop()

    def wake_for(self, due: datetime) -> None:
        """A timer due at ``due`` was committed: wake the loop only if it would otherwise sleep past it
        (a crisis burst schedules a backup timer per alert; the loop need not look again each time).
        While the loop is looking, the step plans for it when it ends (no second look at once: in a
        burst that was two transactions per crisis on SQLite's one connection)."""
        if self._planned is None:
            self._soonest = due if self._soonest is None else min(self._soonest, due)
        elif due < self._planned:
            self._loop.wake()

    async def _step(self) -> float:
        self._planned = None  # while the step runs, a new timer is noted in _soonest (wake_for)
        self._soonest = None
        await self.run_due()
        wait = await self._seconds_to_next()
        if self._soonest is not None:  # committed while this step looked: it may not have seen it
            wait = min(wait, max(0.0, (self._soonest - self.clock()).total_seconds()))
        self._planned = self.clock() + timedelta(seconds=wait)
        return wait

    async def run_due(self) -> int:
        """Fire every timer that is due now; return how many fired."""
        now = self.clock()
        async with self.store.unit() as s:
            due = await repo.claim_due_timers(
                s, now, self.owner, now + LEASE, lock=self.store.locking, limit=CLAIM
            )
            jobs = [(t.id, t.kind, t.case_id, dict(t.payload or {})) for t in due]
        count = 0
        for timer_id, kind, case_id, payload in jobs:
            known = TimerKind.of(kind)
            handler = self.handlers.get(known) if known is not None else None
            if handler is None:
                await self._unhandled(timer_id, kind, case_id)
                continue
            try:
                await handler(case_id, payload)
            except Exception:
                log.exception("timer %s (%s) failed; it will be retried", timer_id, kind)
                continue
            async with self.store.unit() as s:
                await repo.finish_timer(s, timer_id, self.clock())
            count += 1
        self.fired += count
        return count

    async def _unhandled(self, timer_id: int, kind: str, case_id: int | None) -> None:
        """Kept pending (tried again when its lease ends), never dropped: it may be a crisis escalation."""
        log.error("timer %s has kind %r, which has no handler; it stays pending", timer_id, kind)
        if self.on_unhandled is None or timer_id in self._reported:
            return
        try:
            await self.on_unhandled(kind, case_id)
        except Exception:
            log.exception("could not tell the supervisors about timer %s", timer_id)
            return
        self._reported.add(timer_id)

    async def _seconds_to_next(self) -> float:
        async with self.store.unit() as s:
            due = await repo.next_due_at(s)
        if due is None:
            return MAX_WAIT_SECONDS
        return max(0.0, min(MAX_WAIT_SECONDS, (due - self.clock()).total_seconds()))
