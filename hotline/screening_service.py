"""Screening inside the running service: the lexicon at once, the learned layer off the event loop.

- The lexicon (microseconds) screens every text on the event loop. When it finds a crisis, that answer
  stands and goes out at once: the learned layer could only add a cue, and the alert must not wait.
- Otherwise the learned layer reads the text in a worker thread. Texts that arrive while the encoder
  is busy wait for the next call and are encoded together (one batch: a burst costs one encoder call
  per round, not one per message); the bot keeps answering meanwhile.
- The learned layer's calls run one at a time on one thread of their own (``learned-screening``), never
  on the event loop's default pool: the encoder's engine keeps a team of threads per calling thread,
  and a second caller would only queue behind the first for the encoder's lock anyway. The engine
  releases the GIL while it computes (ctypes does for a foreign call), so the loop goes on meanwhile.
- If the learned layer fails at run time, the lexicon's answer is used and the failure is logged; a
  message is never lost or held because of it.
- A chat message's reply waits for the learned verdict at most ``budget`` seconds (:meth:`within`,
  ``[screening] reply_budget_ms``; DESIGN §4 "never silence"): past it the message is answered on the
  lexicon's screening and the verdict handed over to come later (the runner acts on a late crisis).
  It does not wait at all when the verdict cannot come within the budget: the learned layer's pace
  (:class:`Pace`, seconds a message over its recent calls) times the messages ahead of it, the call
  under way included, is longer (a burst: the encoder reads far slower than the channel answers).

``ConversationWindow`` keeps each employee's last few chat messages for a few minutes, so that a cue
split across two messages (藥買好了 / 今晚) is read together. It lives in this process's memory only
(bounded; dropped on /forget); a message of the same chat handled by another worker is not in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from hotline.domain import NO_RISK, Screening
from hotline.screening import merge

if TYPE_CHECKING:  # numpy only when the learned layer is loaded
    from hotline.screening.learned import LearnedLayer

log = logging.getLogger(__name__)

Lexicon = Callable[[str], Screening]
Meanwhile = Callable[[], contextlib.AbstractAsyncContextManager[None]]
_Job = tuple[tuple[str, Sequence[str]], "asyncio.Future[Screening]"]


@dataclass(frozen=True)
class Screened:
    """A chat message's screening within the reply budget: ``now`` is what its reply goes out on; ``later``
    (when the learned verdict missed the budget) the whole screening once the verdict is in."""

    now: Screening
    pending: asyncio.Future[Screening] | None = None

    @property
    def late(self) -> bool:
        return self.pending is not None

    async def later(self) -> Screening:
        """The whole screening, once the late verdict is in (``now`` when there was none to wait for)."""
        return self.now if self.pending is None else merge(self.now, await self.pending)


class Pace:
    """How fast the learned layer reads on this machine: seconds a message over its recent work, each
    call weighing as long as it took, and what came before fading with every second of work since (by
    half in :attr:`HALF_LIFE` seconds). By time, not by message or call: texts it has read before cost it
    next to nothing (its digest cache: 300 greetings in a few milliseconds, often in many small calls),
    and they must not make the next burst of new texts look fast."""

    HALF_LIFE = 5.0  # seconds of the layer's work

    def __init__(self) -> None:
        self.seconds = 0.0  # the calls' seconds, faded
        self.weighted = 0.0  # the calls' seconds a message, each times its call's seconds, faded

    def add(self, seconds: float, messages: int) -> None:
        fade = 0.5 ** (seconds / self.HALF_LIFE)
        self.seconds = self.seconds * fade + seconds
        self.weighted = self.weighted * fade + seconds * seconds / max(messages, 1)

    @property
    def per_message(self) -> float:
        """Seconds a message; 0 before any call that took time."""
        return self.weighted / self.seconds if self.seconds > 0 else 0.0


# Each learned layer's pace, kept for the process: a service built again on the same layer (a restart in
# the same process, the benchmark's rounds) knows how fast it reads from its first message on.
_PACES: weakref.WeakKeyDictionary[object, Pace] = weakref.WeakKeyDictionary()


class ScreeningService:
    def __init__(
        self,
        lexicon: Lexicon,
        learned: LearnedLayer | None = None,
        budget: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lexicon = lexicon
        self.learned = learned
        self.budget = budget  # seconds a chat reply waits for the learned verdict; None: until it comes
        self.clock = clock  # seconds, for the pace (tests give their own)
        self.pace = Pace() if learned is None else _PACES.setdefault(learned, Pace())
        self._running: tuple[float, int] | None = None  # the call under way: (started, messages)
        self._pending: list[_Job] = []
        self._worker: asyncio.Task[None] | None = None
        self._thread: ThreadPoolExecutor | None = None
        # How many calls the learned layer has had and how many messages they carried (a round's batch
        # is whatever waited while the previous one was encoded): logged at DEBUG, read by benchmarks.
        self.calls = 0
        self.messages = 0
        self.late = 0  # verdicts that missed the reply budget (Prometheus, hotline_screening_late)
        self.unwaited = 0  # ... of them not waited for at all: they could not come within it
        self.late_found = 0  # ... and found more than the lexicon: acted on late (its runners count them)

    def _executor(self) -> ThreadPoolExecutor:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="learned-screening", initializer=_background
            )
        return self._thread

    async def screen(self, text: str, earlier: Sequence[str] = ()) -> Screening:
        first = self.lexicon(text)
        if first.is_crisis or self.learned is None or not text.strip():
            return first
        return merge(first, await self._learned(text, earlier))

    async def within(
        self, text: str, earlier: Sequence[str] = (), meanwhile: Meanwhile | None = None
    ) -> Screened:
        """:meth:`screen` for a chat message whose reply must not wait longer than the budget: the
        learned verdict is awaited that long at most; past it, ``now`` is the lexicon's answer and
        ``later`` the whole screening (the lexicon's if the learned layer fails meanwhile). The wait, if
        any, runs inside ``meanwhile()`` (the caller lets go of its slot there)."""
        first = self.lexicon(text)
        if first.is_crisis or self.learned is None or not text.strip():
            return Screened(first)
        verdict = self._enqueue(text, earlier)
        if self.budget is None:
            return Screened(merge(first, await verdict))
        if self.budget > 0 and self.expected_wait() <= self.budget:
            async with meanwhile() if meanwhile is not None else contextlib.nullcontext():
                await asyncio.wait({verdict}, timeout=self.budget)
        elif self.budget > 0:
            self.unwaited += 1
        if verdict.done():
            return Screened(merge(first, verdict.result()))
        self.late += 1
        log.info("a learned verdict missed the reply budget: the reply goes out on the lexicon's screening")
        return Screened(first, verdict)

    def expected_wait(self) -> float:
        """Seconds until the verdict of the text queued last can come, at the learned layer's pace: the
        rest of the call under way, then the next call with every text queued for it. The pace is at
        least what the call under way has taken so far for each of its messages (a first burst, before
        any call has finished). 0 when nothing tells yet (no call so far): then the text waits."""
        pace = self.pace.per_message
        rest = 0.0
        if self._running is not None:
            started, count = self._running
            elapsed = max(0.0, self.clock() - started)
            pace = max(pace, elapsed / count)
            rest = max(0.0, count * pace - elapsed)
        return rest + len(self._pending) * pace

    async def screen_all(
        self, texts: Sequence[str], apart: Sequence[Sequence[str]] | None = None
    ) -> list[Screening | None]:
        """Every text of a batch (a mail poll), the learned layer's share in one worker call. None for
        a text the lexicon failed on (a bug): its caller sets that one aside for a human.

        ``apart[i]``: more of message ``i`` (a mail's subject). The lexicon reads them joined with the
        text, one per line; the learned layer reads each of them and the text as messages of their own,
        and the highest verdict stands (a short mail body read only joined to an ordinary subject was
        diluted by it: docs/screening.md, thirteenth round)."""
        extra = [tuple(e) for e in apart] if apart is not None else [() for _ in texts]
        first: list[Screening | None] = []
        for text, more in zip(texts, extra, strict=True):
            try:
                first.append(self.lexicon("\n".join([*more, text])))
            except Exception:
                log.exception("screening failed on one text of a batch")
                first.append(None)
        todo = [i for i, s in enumerate(first) if s is not None and not s.is_crisis and texts[i].strip()]
        if self.learned is None or not todo:
            return first
        layer = self.learned
        readings = [(texts[i], extra[i]) for i in todo]
        loop = asyncio.get_running_loop()
        try:
            second = await loop.run_in_executor(self._executor(), layer.screen_apart, readings)
        except Exception:
            log.exception("the learned screening layer failed on a batch; the lexicon's results stand")
            return first
        for i, result in zip(todo, second, strict=True):
            done = first[i]
            assert done is not None
            first[i] = merge(done, result)
        return first

    async def _learned(self, text: str, earlier: Sequence[str]) -> Screening:
        return await self._enqueue(text, earlier)

    def _enqueue(self, text: str, earlier: Sequence[str]) -> asyncio.Future[Screening]:
        """The text joins the next batch; its verdict arrives in the future (never an exception:
        a failing layer gives NO_RISK, so the lexicon's answer stands)."""
        future: asyncio.Future[Screening] = asyncio.get_running_loop().create_future()
        self._pending.append(((text, tuple(earlier)), future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="learned-screening")
        return future

    async def _drain(self) -> None:
        assert self.learned is not None
        layer = self.learned
        loop = asyncio.get_running_loop()
        while self._pending:
            jobs, self._pending = self._pending, []
            start = self.clock()
            self._running = (start, len(jobs))
            try:
                verdicts = await loop.run_in_executor(
                    self._executor(), layer.judge, [message for message, _ in jobs]
                )
            except Exception:
                log.exception("the learned screening layer failed; the lexicon's results stand")
                for _, future in jobs:
                    if not future.done():
                        future.set_result(NO_RISK)
                continue
            finally:
                self._running = None
            took = self.clock() - start
            self.pace.add(took, len(jobs))
            self.calls += 1
            self.messages += len(jobs)
            log.debug("learned layer: %d messages in %.0f ms", len(jobs), took * 1000)
            for (_, future), verdict in zip(jobs, verdicts, strict=True):
                if not future.done():
                    future.set_result(verdict.screening)

    async def close(self) -> None:
        if self._worker is not None and not self._worker.done():
            await asyncio.wait({self._worker}, timeout=10)
        if self._thread is not None:
            self._thread.shutdown(wait=False)
            self._thread = None


BACKGROUND_NICE = 10  # added to the process's nice value (at most 19)


def _background() -> None:
    """The learned layer's thread (and the encoder's helper threads it starts, which inherit it) yields
    the CPU to the event loop: on two cores a batch keeps both busy for a second or more, and the replies
    (the lexicon's work, microseconds) must not queue behind it (DESIGN §4 "never silence"). Linux: a
    thread's own nice value; elsewhere nothing."""
    try:
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + BACKGROUND_NICE))
    except (AttributeError, OSError):  # pragma: no cover - not Linux, or not allowed
        log.info("the learned screening thread runs at normal priority")


class ConversationWindow:
    """The last ``size`` messages of each employee within ``minutes``, for at most ``chats`` people.

    A person's messages are one small tuple; whoever has written nothing for ``minutes`` is dropped at
    the next message of anyone (the least recent writer is always first), so only people writing now
    are held in memory, and no one's words stay longer than the window needs them."""

    def __init__(self, size: int, minutes: float, chats: int = 10_000) -> None:
        self.size = size
        self.span = timedelta(minutes=minutes)
        self.chats = chats
        self._recent: OrderedDict[str, tuple[tuple[datetime, str], ...]] = OrderedDict()

    def earlier(self, who: str, now: datetime) -> list[str]:
        kept = self._recent.get(who, ())
        return [text for at, text in kept if now - at <= self.span]

    def add(self, who: str, text: str, now: datetime) -> None:
        if self.size == 0:
            return
        fresh = [item for item in self._recent.pop(who, ()) if now - item[0] <= self.span]
        self._recent[who] = (*fresh[max(0, len(fresh) - (self.size - 1)) :], (now, text))
        while self._recent:
            latest = next(iter(self._recent.values()))[-1][0]
            if len(self._recent) <= self.chats and now - latest <= self.span:
                break
            self._recent.popitem(last=False)

    def forget(self, who: str) -> None:
        self._recent.pop(who, None)
