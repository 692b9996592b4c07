"""Updates received by webhook, processed once and in order per chat, by whichever worker holds the chat.

The webhook stores each update (:meth:`Inbox.accept`) before Telegram is answered, so an update that was
answered 200 is never lost; a redelivery finds its ``update_id`` and adds nothing. A dispatcher loop then
looks for chats with unprocessed updates and takes each one it can lock (:class:`~hotline.storage.leases.
Locks`: a PostgreSQL advisory lock, so two workers never work on one chat at once); for a chat it holds,
it processes the oldest unprocessed update, marks it done, and goes on until the chat has none, then lets
go. A worker that dies loses its locks with its connection; another worker's next look (at most
:data:`RESCAN` seconds later, or at once when it is woken) takes the chat over, and the update the dead
worker had begun is processed again from its stored copy (``attempts`` counts the starts). A worker
whose lock connection was lost while it worked (an idle timeout, ``pg_terminate_backend``) finds out
when it settles or finishes the update (:class:`~hotline.storage.inbound.TakenOver`: another worker
began it since): its transaction is rolled back and the chat left to the other worker.

An update with two parts ("/help 我不想活了": the command, then its words) is settled by its last
part only (:func:`more_to_come`): a worker that stops between the parts leaves it to be processed again
whole, and the words (a crisis) are not lost. An update begun :data:`MAX_ATTEMPTS` times without
finishing is set aside, kept sealed as stored, and the supervisors are told (without its content).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hotline import pause
from hotline.crypto import Vault
from hotline.desk import Outgoing
from hotline.dispatch import Dispatch
from hotline.flows.effects import in_delivery_order
from hotline.loops import WakeableLoop
from hotline.ports import Clock, Recipient
from hotline.storage import inbound
from hotline.storage.leases import Locks
from hotline.storage.repo import Store

log = logging.getLogger(__name__)

RESCAN = 1.0  # seconds between looks for chats nobody is working on (a worker died, a lock was busy)
MAX_ATTEMPTS = 5  # an update whose processing was begun this often without finishing is set aside

Process = Callable[[Mapping[str, Any]], Awaitable[None]]
ChatOf = Callable[[Mapping[str, Any]], int | None]
Deliver = Callable[[Sequence[Outgoing]], Awaitable[object]]
SetAside = Callable[[int], Awaitable[None]]  # tells the supervisors (no content) that an update was set aside


class HandlerFailed(Exception):
    """A handler failed on a stored update: it stays stored and is tried again."""


class Ticket:
    """The update being processed, for the handler that carries out its decisions (:func:`settle`)."""

    def __init__(self, update_id: int, owner: str, vault: Vault, attempt: int = 1) -> None:
        self.update_id = update_id
        self.owner = owner
        self.vault = vault
        self.attempt = attempt
        self.replies: list[Outgoing] = []
        self.failed: str | None = None  # a handler's error (its type), noted by the error handler
        self.lost = False  # another worker took the chat over (the handler's TakenOver)
        self.parts_to_come = 0  # inside more_to_come(): the last part settles the update

    async def settle(self, s: AsyncSession, out: Dispatch) -> None:
        if self.parts_to_come:  # still ours? nothing else: the update is processed again if we stop now
            await inbound.settle(s, self.update_id, self.owner, None)
            return
        # Messages only: a crisis alert has its own backup (the crisis.resend timer, set in this commit).
        self.replies.extend(item for item in in_delivery_order(out.items) if isinstance(item, Outgoing))
        await inbound.settle(s, self.update_id, self.owner, seal_replies(self.vault, self.replies))


_CURRENT: ContextVar[Ticket | None] = ContextVar("hotline_inbound_update", default=None)
RETRY_PAUSE = 0.5  # seconds, after a handler failed on a stored update


def note_failure(error: BaseException | None) -> Ticket | None:
    """Called by the bot's error handler: with a stored update under way, mark it failed, so that it stays
    stored and is tried again (PTB swallows a handler's exception; without this the update would be
    finished and its copy erased, and a crisis in it lost with a rolled-back transaction)."""
    ticket = _CURRENT.get()
    if ticket is not None:
        ticket.failed = type(error).__name__
        ticket.lost = isinstance(error, inbound.TakenOver)
    return ticket


@contextlib.contextmanager
def more_to_come(more: bool = True) -> Iterator[None]:
    """A part of the update under way that another part follows: what it commits does not settle the
    update (the last part's commit does), so a worker that stops between the parts leaves the whole
    update to be processed again, rather than its second part lost. A part carried out twice that way
    (a command) answers twice; that is the price of never losing the words after it."""
    ticket = _CURRENT.get() if more else None
    if ticket is not None:
        ticket.parts_to_come += 1
    try:
        yield
    finally:
        if ticket is not None:
            ticket.parts_to_come -= 1


async def settle(s: AsyncSession, out: Dispatch) -> None:
    """Call inside the transaction that writes what an update decided, with what it will send once it
    has committed. With a stored update under way (webhook mode), the update is marked processed in that
    same transaction and its messages kept until they have gone: a worker that dies after the commit
    leaves the messages for the next one to send, and never the update to be carried out twice.
    Otherwise (polling, timers, tests) nothing happens."""
    ticket = _CURRENT.get()
    if ticket is not None:
        await ticket.settle(s, out)


def _to_json(to: int | Recipient) -> object:
    return to if isinstance(to, int) else {"channel": to.channel, "address": to.address}


def _from_json(to: object) -> int | Recipient:
    if isinstance(to, dict):
        return Recipient(str(to["channel"]), str(to["address"]))
    assert isinstance(to, int)
    return to


def seal_replies(vault: Vault, replies: Sequence[Outgoing]) -> bytes:
    data = [
        {"to": _to_json(r.chat_id), "text": r.text, "buttons": [list(map(list, row)) for row in r.buttons]}
        for r in replies
    ]
    return vault.encrypt_bytes(json.dumps(data, ensure_ascii=False).encode(), context=inbound.UPDATE_CONTEXT)


def open_replies(vault: Vault, blob: bytes) -> list[Outgoing]:
    data = json.loads(vault.decrypt_bytes(blob, context=inbound.UPDATE_CONTEXT))
    return [
        Outgoing(
            _from_json(r["to"]),
            r["text"],
            tuple(tuple((label, value) for label, value in row) for row in r["buttons"]),
        )
        for r in data
    ]


class Inbox:
    def __init__(
        self,
        store: Store,
        locks: Locks,
        process: Process,
        chat_of: ChatOf,
        deliver: Deliver,
        *,
        concurrency: int,
        clock: Clock,
        set_aside: SetAside | None = None,
    ) -> None:
        self.store = store
        self.locks = locks
        self._process = process
        self._chat_of = chat_of
        self._deliver = deliver
        self.concurrency = concurrency
        self.clock = clock
        self._set_aside = set_aside
        self._drains: dict[int, asyncio.Task[None]] = {}
        self._waiting = 0  # drains awaiting a late screening verdict: not counted against concurrency
        self._stopping = False
        self._loop = WakeableLoop("hotline-inbox", self._step, error_wait=RESCAN)
        self.processed = 0

    def key_of(self, chat_id: int | None) -> int:
        if chat_id is None:
            return 0
        return inbound.chat_key(self.store.vault.pseudonym("telegram-chat", str(chat_id)))

    async def accept(self, payload: Mapping[str, Any]) -> bool:
        """Store one update (durably, before Telegram is answered); False for a redelivery."""
        update_id = payload["update_id"]
        key = self.key_of(self._chat_of(payload))
        sealed = self.store.vault.encrypt_bytes(
            json.dumps(payload, ensure_ascii=False).encode(), context=inbound.UPDATE_CONTEXT
        )
        async with self.store.single() as conn:  # one round trip on PostgreSQL, committed on return
            new = await inbound.store(conn, update_id, key, sealed, self.clock())
        if new:
            self._loop.wake()
        return new

    def start(self) -> None:
        self._loop.start()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking chats; let the updates under way finish (cancel them after ``grace`` seconds:
        what is left stays stored, for this worker's next start or another worker)."""
        self._stopping = True
        await self._loop.stop()
        drains = list(self._drains.values())
        if drains:
            _done, late = await asyncio.wait(drains, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _step(self) -> float:
        free = self.concurrency - len(self._drains) + self._waiting
        if free <= 0 or self._stopping:
            return RESCAN
        if self.locks.shared:  # the look, the locks and the starts in one statement (lock connection)
            taken = await inbound.take_and_start(self.locks, self.locks.owner, free)
        else:
            async with self.store.single() as c:
                keys = await inbound.waiting_chats(c, self.concurrency + len(self._drains))
            taken = [(key, None) for key in keys]
        for key, first in taken:
            if key in self._drains or free <= 0:  # only where every lock is granted (SQLite)
                continue
            generation = self.locks.generation
            self._drains[key] = asyncio.get_running_loop().create_task(
                self._drain(key, generation, first), name="hotline-inbox-chat"
            )
            free -= 1
        return RESCAN

    async def _drain(self, key: int, generation: int, first: inbound.Started | None = None) -> None:
        """Process the chat's updates in order while this worker holds it; then let it go. ``first``:
        its oldest update, already started with the lock (PostgreSQL: ``inbound.take_and_start``)."""
        done: int | None = None  # processed, not yet recorded: recorded with the next start (one commit)
        owner = self.locks.owner
        released = False  # the chat's lock let go with the last finish (PostgreSQL)
        try:
            while not self._stopping and self.locks.generation == generation:
                # Each one statement (a round trip in autocommit on PostgreSQL): the update processed
                # is recorded as finished with the start of the next (which it must precede).
                started: inbound.Started | None
                if first is not None:
                    started, first = first, None
                elif done is not None and self.locks.shared:  # the lock let go with it if no next
                    try:
                        started, released = await inbound.finish_start_or_release(
                            self.locks, done, key, owner, self.clock()
                        )
                    except inbound.TakenOver:
                        released = True
                        raise
                else:
                    async with self.store.single() as c:
                        if done is None:
                            started = await inbound.start_next(c, key, owner, self.clock())
                        else:
                            started = await inbound.finish_and_start_next(c, done, key, owner, self.clock())
                if done is not None:
                    self.processed += 1
                    done = None
                if started is None:
                    break
                if started.payload_enc is not None and started.attempts > MAX_ATTEMPTS:
                    await self._put_aside(started)
                    continue
                ticket = Ticket(started.update_id, owner, self.store.vault, started.attempts)
                token = _CURRENT.set(ticket)
                carrying = inbound.CARRYING_OUT.set((key, started.update_id))
                try:
                    with pause.slot(self._pause, self._resume):
                        await self._one(started)
                finally:
                    inbound.CARRYING_OUT.reset(carrying)
                    _CURRENT.reset(token)
                if ticket.lost:
                    raise inbound.TakenOver(f"update {started.update_id} was taken over")
                if ticket.failed is not None:  # kept stored; begun again on the next pass
                    raise HandlerFailed(f"update {started.update_id} failed ({ticket.failed})")
                done = started.update_id
            if done is not None:  # stopping, or the lock connection was lost
                async with self.store.single() as c:
                    await inbound.finish(c, done, owner, self.clock())
                self.processed += 1
        except inbound.TakenOver:
            log.warning("another worker took over a chat this worker was processing (its lock was lost)")
        except HandlerFailed as failed:
            log.error("%s; it stays stored and is tried again", failed)
            await asyncio.sleep(RETRY_PAUSE)  # a database that went away gets a moment before the next try
        except Exception:
            log.exception("processing a chat's updates failed; they stay stored and are tried again")
        finally:
            del self._drains[key]
            if self.locks.generation == generation and not released:
                try:
                    await self.locks.release_chat(key)
                except Exception:
                    log.exception("could not release a chat's lock")
            self._loop.wake()  # an update that came in meanwhile (another worker stored it) is taken now

    def _pause(self) -> None:
        """The update under way awaits a late screening verdict (hotline.pause): another chat may start."""
        self._waiting += 1
        self._loop.wake()

    async def _resume(self) -> None:
        self._waiting -= 1

    async def _put_aside(self, started: inbound.Started) -> None:
        """Begun too often without finishing: kept sealed as stored, the supervisors told (no content)."""
        async with self.store.unit() as s:
            await inbound.set_aside(s, started.update_id, self.locks.owner, self.clock())
        log.critical(
            "update %d could not be processed in %d attempts; set aside, kept sealed for an operator",
            started.update_id,
            MAX_ATTEMPTS,
        )
        if self._set_aside is not None:
            try:
                await self._set_aside(started.update_id)
            except Exception:
                log.exception(
                    "could not tell the supervisors that update %d was set aside", started.update_id
                )

    async def _one(self, started: inbound.Started) -> None:
        if started.attempts > 1:
            log.warning(
                "update %d was begun %d times before (a worker stopped during it); processing it again",
                started.update_id,
                started.attempts - 1,
            )
        if started.payload_enc is None:  # carried out by a worker that stopped before its replies went
            if started.replies_enc is not None:
                await self._deliver(open_replies(self.store.vault, started.replies_enc))
            return
        payload = json.loads(
            self.store.vault.decrypt_bytes(started.payload_enc, context=inbound.UPDATE_CONTEXT)
        )
        await self._process(payload)


def chat_id_in(payload: Mapping[str, Any]) -> int | None:
    """The chat an update belongs to, read from its JSON (what PTB calls ``effective_chat``; for a
    button press the chat of the message it belongs to, else the person who pressed it)."""
    for field in ("message", "edited_message", "channel_post", "edited_channel_post", "business_message",
                  "my_chat_member", "chat_member", "chat_join_request", "message_reaction"):  # fmt: skip
        chat = _get(payload, field, "chat", "id")
        if chat is not None:
            return chat
    query = payload.get("callback_query")
    if isinstance(query, Mapping):
        return _get(query, "message", "chat", "id") or _get(query, "from", "id")
    for field in (
        "inline_query",
        "chosen_inline_result",
        "shipping_query",
        "pre_checkout_query",
        "poll_answer",
    ):
        who = _get(payload, field, "from", "id") or _get(payload, field, "user", "id")
        if who is not None:
            return who
    return None


def _get(data: Mapping[str, Any], *path: str) -> int | None:
    value: Any = data
    for name in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


__all__ = ["Inbox", "chat_id_in", "more_to_come", "settle"]
