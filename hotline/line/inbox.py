"""LINE events stored before the webhook answers, then carried out per user in arrival order.

:meth:`LineInbox.accept` stores a delivery's events (a ``webhookEventId`` seen before is skipped: a
redelivery does nothing twice) and returns once they are committed; deliveries that arrive together
share one commit (group commit: 300 users writing at once are a handful of transactions, not 300).
Each new event goes to its user's queue in memory; one worker per user carries them out in order and
marks them done, the marks of many events again in one commit. At start-up :meth:`LineInbox.resume`
queues every event stored but not yet done (a restart loses none; one carried out just before a crash
whose done mark was not yet committed is carried out again). An event whose processing fails is tried
:data:`ATTEMPTS` times, then kept stored for the next start (logged, never its content).

That is the one process on SQLite. With several workers on PostgreSQL, :class:`~hotline.line.shared.
SharedLineInbox` stores the same way and carries the events out per user under an advisory lock instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from linebot.v3.webhooks import Event

from hotline.line import ticket
from hotline.ports import Clock
from hotline.storage import line_repo
from hotline.storage.line_repo import user_of
from hotline.storage.repo import Store

log = logging.getLogger(__name__)
ATTEMPTS = 3  # a failed event is tried this often in a row, then kept stored for the next start
RETRY_SECONDS = 0.5  # times the attempt number

Row = tuple[str, str | None, bytes]  # event id, user key, sealed event (as stored)


class LineInbox:
    def __init__(
        self,
        store: Store,
        process: Callable[[Event], Awaitable[None]],
        pseudonym: Callable[[str], str],
        clock: Clock,
        concurrency: int = 16,
    ) -> None:
        self.store = store
        self.process = process
        self.pseudonym = pseudonym
        self.clock = clock
        self._slots = asyncio.Semaphore(concurrency)
        self._queues: dict[str | None, deque[tuple[int, dict[str, Any]]]] = {}
        self._workers: dict[str | None, asyncio.Task[None]] = {}
        self._incoming: list[tuple[list[Row], dict[str, dict[str, Any]], asyncio.Future[int]]] = []
        self._storing: asyncio.Task[None] | None = None
        self._done: list[int] = []
        self._queued: set[int] = set()  # queued or being carried out: resume() never queues one twice
        self._marking: asyncio.Task[None] | None = None
        self.accepting = True  # False: stored but not carried out (a test's stand-in for a crash)
        self.shared = False  # True: carried out by whichever worker holds the user (line/shared.py)

    @property
    def alive(self) -> bool:
        """Nothing runs on its own here (the shared inbox's dispatcher does, for ``/healthz``)."""
        return True

    # -- storing ------------------------------------------------------------------------------------
    async def accept(self, events: Sequence[dict[str, Any]]) -> int:
        """Store ``events`` (LINE's JSON, as delivered); return how many were new, once committed.
        Raises :class:`~hotline.errors.StorageError` when they could not be stored."""
        rows: list[Row] = []
        plain: dict[str, dict[str, Any]] = {}
        for raw in events:
            event_id = raw.get("webhookEventId")
            if not isinstance(event_id, str) or not event_id:
                continue
            user = user_of(raw)
            key = self.pseudonym(user) if user is not None else None
            sealed = self.store.vault.encrypt(json.dumps(raw), context=line_repo.EVENT_CONTEXT)
            rows.append((event_id, key, sealed))
            plain[event_id] = raw
        if not rows:
            return 0
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._incoming.append((rows, plain, done))
        if self._storing is None:
            self._storing = asyncio.get_running_loop().create_task(self._store_waiting())
        return await done

    async def _store_waiting(self) -> None:
        try:
            while self._incoming:
                batch, self._incoming = self._incoming, []
                try:
                    async with self.store.unit() as s:  # the deliveries' events in one statement
                        rows = [row for delivered, _, _ in batch for row in delivered]
                        stored = await line_repo.add_events(s, rows, self.clock())
                except Exception as exc:  # every delivery of the batch is answered 500: LINE sends it again
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                new = {event_id: (seq, key) for seq, event_id, key in stored}
                for delivered, plain, future in batch:
                    count = 0
                    for event_id, _, _ in delivered:
                        if (found := new.pop(event_id, None)) is not None:  # a copy in the batch: once
                            self._queue(found[1], found[0], plain[event_id])
                            count += 1
                    if not future.done():
                        future.set_result(count)
        finally:
            self._storing = None

    async def resume(self) -> None:
        """Queue the events stored before a restart and not yet carried out."""
        async with self.store.unit() as s:
            pending = await line_repo.pending(s)
        for seq, key, sealed in pending:
            raw = json.loads(self.store.vault.decrypt(sealed, context=line_repo.EVENT_CONTEXT))
            self._queue(key, seq, raw)

    # -- carrying out ---------------------------------------------------------------------------------
    def _queue(self, key: str | None, seq: int, raw: dict[str, Any]) -> None:
        if not self.accepting or seq in self._queued:
            return
        self._queued.add(seq)
        self._queues.setdefault(key, deque()).append((seq, raw))
        if key not in self._workers:
            self._workers[key] = asyncio.get_running_loop().create_task(self._work(key))

    async def _work(self, key: str | None) -> None:
        queue = self._queues[key]
        try:
            while queue:
                seq, raw = queue.popleft()
                if await self._carry_out(raw, seq):
                    self._mark_done(seq)  # leaves self._queued once the mark is committed
                else:  # kept stored (sealed): tried again at the next start, never silently dropped
                    log.critical(
                        "a LINE event (seq %d) could not be processed after %d attempts; it stays stored "
                        "and is tried again at the next start",
                        seq,
                        ATTEMPTS,
                    )
                    self._queued.discard(seq)
        finally:
            del self._workers[key]
            if not queue:
                self._queues.pop(key, None)

    async def _carry_out(self, raw: dict[str, Any], seq: int) -> bool:
        """Process one event, retrying a failure (a rolled-back transaction, a server away); False when
        every attempt failed. Logs name the error's type only: an exception's text may quote the event
        (the SDK's parse errors quote the whole JSON, user id and text included)."""
        try:
            event = Event.from_dict(raw)
        except ValueError:  # a type this SDK does not know: nothing to carry out
            log.warning("a LINE event of a type this version does not know was skipped")
            return True
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with ticket.holding(self._slots):  # let go of once settled (line/ticket.py)
                    token = line_repo.CARRYING_OUT.set(seq)
                    try:
                        await self.process(event)
                    finally:
                        line_repo.CARRYING_OUT.reset(token)
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error(
                    "a LINE event could not be processed (attempt %d of %d): %s",
                    attempt,
                    ATTEMPTS,
                    type(exc).__name__,
                )
                if attempt < ATTEMPTS:
                    await asyncio.sleep(RETRY_SECONDS * attempt)
        return False

    def _mark_done(self, seq: int) -> None:
        self._done.append(seq)
        if self._marking is None:
            self._marking = asyncio.get_running_loop().create_task(self._write_done())

    async def _write_done(self) -> None:
        try:
            while self._done:
                seqs, self._done = self._done, []
                try:
                    async with self.store.unit() as s:
                        await line_repo.finish(s, seqs, self.clock())
                    self._queued.difference_update(seqs)
                except Exception:  # carried out again after a restart: logged, never lost
                    log.exception("could not mark %d LINE events done", len(seqs))
        finally:
            self._marking = None

    # -- lifecycle ------------------------------------------------------------------------------------
    async def idle(self) -> None:
        """Wait until every stored event has been carried out and marked done (tests, the benchmark)."""
        while self._workers or self._storing or self._marking:
            tasks = [*self._workers.values(), self._storing, self._marking]
            await asyncio.gather(*(t for t in tasks if t is not None), return_exceptions=True)

    async def close(self, grace: float = 5.0) -> None:
        """Take nothing more; let the events in hand finish (a transaction is not cut in half; cancelled
        after ``grace`` seconds). What is still queued stays stored, for the next start."""
        self.accepting = False
        for queue in self._queues.values():
            queue.clear()
        tasks = list(self._workers.values())
        if tasks:
            _done, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for pending in (self._storing, self._marking):
            if pending is not None:
                with contextlib.suppress(Exception):
                    await pending
