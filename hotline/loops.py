"""A background loop that sleeps until it is due or woken: the shape of the timer service and the
outbox sender. A plain asyncio task, cancelled on stop (never an ``Application.create_task``, whose
tasks PTB awaits on shutdown — DESIGN §5b). And a group commit: things to record, recorded in groups."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

MIN_WAIT = 0.01

Item = TypeVar("Item")
Result = TypeVar("Result")


class WakeableLoop:
    """Runs ``step()`` — which does the due work and returns the seconds until it wants to run again —
    then sleeps that long or until :meth:`wake`. A failing step is logged and retried after
    ``error_wait`` seconds; the loop never dies of it."""

    def __init__(self, name: str, step: Callable[[], Awaitable[float]], *, error_wait: float) -> None:
        self.name = name
        self._step = step
        self._error_wait = error_wait
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        self._wakeup.set()

    @property
    def running(self) -> bool:
        return self._task is not None

    @property
    def alive(self) -> bool:
        """Started and its task has not ended (the loop never ends of an error; only of a stop)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    async def stop(self, grace: float = 5.0) -> None:
        """Let a step in progress finish (a transaction is not cut in half), then end; cancel only a step
        that takes longer than ``grace`` seconds."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wakeup.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=grace)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            self._stopping = False

    async def _loop(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            try:
                wait = await self._step()
            except Exception:
                log.exception("%s: a step failed; retrying in %g s", self.name, self._error_wait)
                wait = self._error_wait
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=max(wait, MIN_WAIT))


class GroupCommit(Generic[Item, Result]):
    """Records items as they come, a group per transaction: the first item starts a ``record`` of itself;
    items added while it runs wait and are recorded together in the next one. Each item is recorded
    about one transaction (plus ``linger`` seconds, spent gathering a group) after it was added,
    whatever the rate, at a transaction per group.

    A failing ``record`` is tried again (``retries`` times, waiting ``retry_wait`` seconds, doubled each
    time: a locked database or a deadlock passes); if it still fails, the recording stops (``failed``
    tells the producers to stop too) and :meth:`settle` waits for what is under way and raises that
    error. ``record`` must be idempotent."""

    def __init__(
        self,
        record: Callable[[Sequence[Item]], Awaitable[list[Result]]],
        *,
        linger: float = 0.0,
        retries: int = 3,
        retry_wait: float = 0.2,
    ) -> None:
        self._record = record
        self._linger = linger
        self._retries, self._retry_wait = retries, retry_wait
        self._pending: list[Item] = []
        self._results: list[Result] = []
        self._task: asyncio.Task[None] | None = None
        self._error: Exception | None = None
        self.count = 0  # items recorded

    @property
    def failed(self) -> bool:
        return self._error is not None

    def add(self, item: Item) -> None:
        self._pending.append(item)
        if self._task is None and self._error is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            while self._pending:
                if self._linger:
                    await asyncio.sleep(self._linger)
                group, self._pending = self._pending, []
                self._results += await self._attempt(group)
                self.count += len(group)
        except Exception as exc:
            self._error = exc
        finally:
            self._task = None

    async def _attempt(self, group: Sequence[Item]) -> list[Result]:
        wait = self._retry_wait
        for attempt in range(self._retries):
            try:
                return await self._record(group)
            except Exception as exc:
                log.warning("recording %d items failed (%s); trying again", len(group), type(exc).__name__)
                await asyncio.sleep(wait * 2**attempt)
        return await self._record(group)

    async def settle(self) -> list[Result]:
        """Wait until every item added so far is recorded; return what the records returned."""
        while self._task is not None:
            await asyncio.shield(self._task)
        if self._error is not None:
            raise self._error
        return self._results


class Grouped(Generic[Item]):
    """Work of a long-lived service done a group per transaction: :meth:`do` returns once its item has
    been recorded with whatever other items came while the previous group's transaction ran (one commit
    for all of them), or raises that group's error; a failed group fails only its own items."""

    def __init__(self, record: Callable[[Sequence[Item]], Awaitable[None]]) -> None:
        self._record = record
        self._pending: list[tuple[Item, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.groups = 0  # transactions so far

    async def do(self, item: Item) -> None:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())
        await asyncio.shield(future)  # a caller that gives up leaves its item to be recorded

    async def wait(self) -> None:
        """Until every item handed to :meth:`do` so far is recorded (before the store closes: a group
        still being written when the event loop ends would be cut off in the middle of its commit)."""
        while self._task is not None:
            await asyncio.shield(self._task)

    async def _drain(self) -> None:
        try:
            while self._pending:
                group, self._pending = self._pending, []
                try:
                    await self._record([item for item, _ in group])
                except Exception as exc:
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for _, future in group:
                        if not future.done():
                            future.set_result(None)
                self.groups += 1
        finally:
            self._task = None
