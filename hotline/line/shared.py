"""LINE events carried out by several workers on one PostgreSQL: per user, in order, by whichever worker
holds the user's advisory lock (the shape of Telegram's :mod:`hotline.bot.inbox`).

Any worker's webhook stores a delivery (:meth:`LineInbox.accept`, deduplicated by ``webhookEventId``) and
answers 200. A dispatcher loop then looks for users with events not yet done and takes each one it can
lock (:class:`~hotline.storage.leases.Locks`); for a user it holds, it begins the oldest event (``attempts``
counts the starts), carries it out, marks it done and goes on, then lets go. Carrying an event out settles
it in the transaction that writes what it decided (:mod:`hotline.line.ticket`): the event is erased there
and its messages kept until sent, so an event is never carried out twice. A worker that dies loses its
locks with its connection; another worker's next look (at most :data:`RESCAN` seconds later) takes the user
over: an event the dead worker had begun is carried out again from its stored copy, one it had settled has
only its messages sent. There is no separate resume: every worker's dispatcher finds what is left.

A worker whose lock connection was lost while it worked (an idle timeout, ``pg_terminate_backend``) finds
out when it settles or finishes the event (:class:`~hotline.storage.inbound.TakenOver`: another worker
began it since): its transaction is rolled back and the user left to the other worker. An event begun
:data:`MAX_STARTS` times without finishing is set aside: kept sealed as stored (never purged), the
user's later events go on, and every supervisor is told at once, without its content.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from linebot.v3.webhooks import Event

from hotline.bot.inbox import open_replies
from hotline.desk import Outgoing
from hotline.line import ticket
from hotline.line.inbox import LineInbox
from hotline.loops import WakeableLoop
from hotline.ports import Clock
from hotline.storage import inbound, line_repo
from hotline.storage.inbound import TakenOver
from hotline.storage.leases import Locks
from hotline.storage.repo import Store

log = logging.getLogger(__name__)

RESCAN = 1.0  # seconds between looks for users nobody is working on (a worker died, a lock was busy)
MAX_STARTS = 5  # an event begun this often without finishing is set aside (kept sealed, supervisors told)
RETRY_PAUSE = 0.5  # seconds, after carrying an event out failed
NO_USER = 0x4C494E45  # the lock of events from no one user (groups, rooms): "LINE"

Deliver = Callable[[Sequence[Outgoing]], Awaitable[object]]
SetAside = Callable[[int], Awaitable[None]]  # tells the supervisors (no content) that an event was set aside


class EventFailed(Exception):
    """Carrying out a stored event failed: it stays stored and is begun again."""


class SharedLineInbox(LineInbox):
    def __init__(
        self,
        store: Store,
        locks: Locks,
        process: Callable[[Event], Awaitable[None]],
        pseudonym: Callable[[str], str],
        deliver: Deliver,
        clock: Clock,
        concurrency: int = 16,
        set_aside: SetAside | None = None,
    ) -> None:
        super().__init__(store, process, pseudonym, clock, concurrency)
        self.locks = locks
        self.deliver = deliver
        self.concurrency = concurrency
        self._drains: dict[str | None, asyncio.Task[None]] = {}
        self._stopping = False
        self._loop = WakeableLoop("hotline-line-inbox", self._step, error_wait=RESCAN)
        self.processed = 0
        self.shared = True
        self._set_aside = set_aside

    @property
    def alive(self) -> bool:
        """The dispatcher runs (for ``/healthz``)."""
        return self._loop.alive

    def lock_key(self, user_key: str | None) -> int:
        return NO_USER if user_key is None else inbound.chat_key(user_key)

    # -- what LineInbox leaves to the way events are carried out -------------------------------------
    def _queue(self, key: str | None, seq: int, raw: dict[str, Any]) -> None:
        """A new event is stored: whichever worker holds (or first takes) its user carries it out."""
        if self.accepting:
            self._loop.wake()

    async def resume(self) -> None:
        """Start the dispatcher: what earlier runs or a dead worker left stored is found like new events."""
        if self.accepting:
            self._loop.start()

    async def idle(self) -> None:
        """Wait until every stored event (this worker's or another's) is done (tests, the benchmark)."""
        while True:
            await super().idle()
            drains = list(self._drains.values())
            if drains:
                await asyncio.gather(*drains, return_exceptions=True)
                continue
            async with self.store.unit() as s:
                if not await line_repo.backlog(s):
                    return
            self._loop.wake()
            await asyncio.sleep(0.02)

    async def close(self, grace: float = 5.0) -> None:
        """Take no more users; let the events under way finish (cancelled after ``grace`` seconds: what
        is left stays stored, for this worker's next start or another worker)."""
        self.accepting = False
        self._stopping = True
        await self._loop.stop()
        drains = list(self._drains.values())
        if drains:
            _done, late = await asyncio.wait(drains, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await super().close()

    # -- the dispatcher ------------------------------------------------------------------------------
    async def _step(self) -> float:
        free = self.concurrency - len(self._drains)
        if free <= 0 or self._stopping or not self.accepting:  # not accepting: a test's stand-in for a crash
            return RESCAN
        async with self.store.unit() as s:
            keys = await line_repo.waiting_users(s, free, NO_USER)
        for key in keys:
            if free <= 0:
                break
            if key in self._drains or not await self.locks.try_chat(self.lock_key(key)):
                continue
            generation = self.locks.generation
            self._drains[key] = asyncio.get_running_loop().create_task(
                self._drain(key, generation), name="hotline-line-user"
            )
            free -= 1
        return RESCAN

    async def _drain(self, key: str | None, generation: int) -> None:
        """Carry out the user's events in order while this worker holds the user; then let go."""
        done: int | None = None  # carried out, not yet recorded: recorded with the next start (one commit)
        owner = self.locks.owner
        try:
            while not self._stopping and self.locks.generation == generation:
                async with self.store.unit() as s:
                    if done is not None:
                        await line_repo.finish_mine(s, done, owner, self.clock())
                    started = await line_repo.start_next(s, key, owner)
                if done is not None:
                    self.processed += 1
                    done = None
                if started is None:
                    break
                if started.payload_enc is not None and started.attempts > MAX_STARTS:
                    await self._put_aside(started)
                    continue
                await self._one(started, owner)
                done = started.seq
            if done is not None:  # stopping, or the lock connection was lost
                async with self.store.unit() as s:
                    await line_repo.finish_mine(s, done, owner, self.clock())
                self.processed += 1
        except TakenOver:
            log.warning("another worker took over a LINE user this worker was serving (its lock was lost)")
        except EventFailed as failed:
            log.error("%s; it stays stored and is begun again", failed)
            await asyncio.sleep(RETRY_PAUSE)
        except Exception as exc:  # the database went away: the events stay stored
            log.error("carrying out a LINE user's events failed (%s); they stay stored", type(exc).__name__)
            await asyncio.sleep(RETRY_PAUSE)
        finally:
            del self._drains[key]
            if self.locks.generation == generation:
                try:
                    await self.locks.release_chat(self.lock_key(key))
                except Exception as exc:
                    log.error("could not release a LINE user's lock (%s)", type(exc).__name__)
            self._loop.wake()  # an event that came in meanwhile (another worker stored it) is taken now

    async def _put_aside(self, started: line_repo.Started) -> None:
        """Begun too often without finishing: kept sealed as stored, the supervisors told (no content)."""
        async with self.store.unit() as s:
            await line_repo.set_aside(s, started.seq, self.locks.owner, self.clock())
        log.critical(
            "LINE event %d could not be carried out in %d starts; set aside, kept sealed for an operator",
            started.seq,
            MAX_STARTS,
        )
        if self._set_aside is not None:
            try:
                await self._set_aside(started.seq)
            except Exception as exc:
                log.error(
                    "could not tell the supervisors that LINE event %d was set aside (%s)",
                    started.seq,
                    type(exc).__name__,
                )

    async def _one(self, started: line_repo.Started, owner: str) -> None:
        if started.attempts > 1:
            log.warning(
                "LINE event %d was begun %d times before (a worker stopped or failed during it); again",
                started.seq,
                started.attempts - 1,
            )
        if started.payload_enc is None:  # carried out by a worker that stopped before its messages went
            if started.replies_enc is not None:
                await self.deliver(open_replies(self.store.vault, started.replies_enc))
            return
        raw = json.loads(self.store.vault.decrypt(started.payload_enc, context=line_repo.EVENT_CONTEXT))
        try:
            event = Event.from_dict(raw)
        except ValueError:  # a type this SDK does not know: nothing to carry out
            log.warning("a LINE event of a type this version does not know was skipped")
            return
        token = ticket.CURRENT.set(ticket.Ticket(started.seq, owner, self.store.vault))
        carrying = line_repo.CARRYING_OUT.set(started.seq)
        try:
            async with ticket.holding(self._slots):  # let go of once settled
                await self.process(event)
        except asyncio.CancelledError:
            raise
        except TakenOver:
            raise
        except Exception as exc:  # the error's type only: its text may quote the event
            raise EventFailed(f"LINE event {started.seq} failed ({type(exc).__name__})") from None
        finally:
            line_repo.CARRYING_OUT.reset(carrying)
            ticket.CURRENT.reset(token)
