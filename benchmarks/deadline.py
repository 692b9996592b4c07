"""An overall deadline for a benchmark that waits on the service, so that a stalled service fails the run
with one sentence instead of hanging it (the LINE benchmark once waited forever).

Each benchmark module names its deadline (``DEADLINE``, seconds: several times its normal run) and says
what it is waiting for as it goes (:func:`doing`: a step, and optionally a callable that tells how far it
got, e.g. "12 of 300 users got no reply"). :func:`run_async` (a coroutine, under ``asyncio.timeout``) and
:func:`run_sync` (a function, under a ``SIGALRM`` timer: a blocking wait on a subprocess is interrupted and
the subprocess killed by ``subprocess.run``) raise :class:`Stuck` on expiry, whose message is that one
sentence, ending with the last lines the service logged (kept by :class:`LastLines`). :func:`guarded` runs a
benchmark for ``python -m benchmarks`` and turns :class:`Stuck` into the sentence on stderr and exit code 1.

Every benchmark's ``main(argv: list[str]) -> int`` parses its own arguments (``--deadline`` among them:
:func:`deadline_option`) and runs under its deadline with :func:`run_main` or :func:`run_main_async`: 0
when it finished, 1 when it was stuck; a crash or a wrong count raises. Its targets are printed, met or
not; they do not change the exit code (a loaded machine misses them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")
LOG_LINES = 3  # of the service's log, quoted in the sentence


class Stuck(Exception):
    """The benchmark did not finish within its deadline; the message is one sentence saying what is stuck."""


class LastLines(logging.Handler):
    """The last few log records (whatever passes the levels the benchmark leaves on), one line each."""

    def __init__(self, keep: int = LOG_LINES) -> None:
        super().__init__(logging.NOTSET)
        self.lines: deque[str] = deque(maxlen=keep)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}".splitlines()[0])
        except Exception:  # a record that cannot be formatted is not worth failing a benchmark
            self.handleError(record)


@dataclass
class Watch:
    """What a benchmark is waiting for, for the sentence if its deadline passes."""

    name: str  # "LINE benchmark"
    seconds: float
    step: str = "starting"
    progress: Callable[[], str] | None = None
    started: float = field(default_factory=time.monotonic)
    log: LastLines = field(default_factory=LastLines)

    def sentence(self) -> str:
        elapsed = time.monotonic() - self.started
        how_far = ""
        if self.progress is not None:
            try:
                how_far = f": {self.progress()}"
            except Exception as exc:  # the sentence must come out whatever the benchmark's state
                how_far = f" (progress unknown: {type(exc).__name__})"
        said = "; ".join(self.log.lines) or "none"
        return (
            f"{self.name} stuck at {self.step}{how_far}, still unfinished after {elapsed:.0f} s "
            f"(deadline {self.seconds:g} s); the service's last log lines: {said}"
        )


_current: Watch | None = None


def doing(step: str, progress: Callable[[], str] | None = None) -> None:
    """The running benchmark now waits for ``step``; ``progress()`` says how far it got (called only if
    the deadline passes). Does nothing outside :func:`run_async`/:func:`run_sync`."""
    if _current is not None:
        _current.step = step
        _current.progress = progress


def progress(how_far: Callable[[], str]) -> None:
    """How far the current step got (a load harness says it; the step is the benchmark's)."""
    if _current is not None:
        _current.progress = how_far


@contextlib.contextmanager
def _watching(watch: Watch) -> Iterator[Watch]:
    global _current
    root = logging.getLogger()
    root.addHandler(watch.log)
    before, _current = _current, watch
    try:
        yield watch
    finally:
        _current = before
        root.removeHandler(watch.log)


async def run_async(name: str, seconds: float, main: Coroutine[Any, Any, T]) -> T:
    """Await ``main``; :class:`Stuck` when it has not finished after ``seconds`` (it is cancelled)."""
    with _watching(Watch(name, seconds)) as watch:
        try:
            async with asyncio.timeout(seconds):
                return await main
        except TimeoutError:  # ours, or a wait inside the benchmark that gave up first: stuck either way
            raise Stuck(watch.sentence()) from None


def run_sync(name: str, seconds: float, main: Callable[[], T]) -> T:
    """Call ``main`` (in the main thread); :class:`Stuck` when it has not returned after ``seconds``: the
    exception is raised inside it, where it waits (a subprocess it waits on is killed by ``subprocess``)."""
    with _watching(Watch(name, seconds)) as watch:

        def expire(_signum: int, _frame: FrameType | None) -> None:
            raise Stuck(watch.sentence())

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return main()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def guarded(run: Callable[[], object]) -> int:
    """Run one benchmark for the command line: 0 when it finished, 1 with the sentence on stderr when it
    was stuck."""
    try:
        run()
    except Stuck as stuck:
        print(stuck, file=sys.stderr)
        return 1
    return 0


def deadline_option(parser: argparse.ArgumentParser, seconds: float) -> None:
    """``--deadline SECONDS`` (the module's ``DEADLINE`` by default): the smoke runs give a shorter one."""
    parser.add_argument(
        "--deadline", type=float, default=seconds, metavar="SECONDS",
        help=f"stop with one sentence on stderr and exit code 1 past this (default {seconds:g})",
    )  # fmt: skip


def run_main(name: str, seconds: float, run: Callable[[], object]) -> int:
    """A benchmark's ``main`` for a blocking ``run``: 0 when it finished, 1 (one sentence on stderr)
    when it was still running after ``seconds``."""
    return guarded(lambda: run_sync(name, seconds, run))


def run_main_async(name: str, seconds: float, run: Callable[[], Coroutine[Any, Any, object]]) -> int:
    """The same for a coroutine (``run()`` is awaited in a new event loop)."""
    return guarded(lambda: asyncio.run(run_async(name, seconds, run())))
