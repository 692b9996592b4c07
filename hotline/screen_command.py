"""``hotline screen``: one message per input line in, one JSON object per line out, same order.

Input is read as UTF-8 whatever the locale (undecodable bytes become lone surrogates and are screened
like any other text). Each line is answered as soon as it has been read: what is already available
is read at once (``read1``) and screened as one batch (the learned layer encodes the batch in one
call), then written and flushed, so a program that writes one line and waits for its answer gets it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TextIO

from hotline.domain import Screening
from hotline.screening import Screener, merge

if TYPE_CHECKING:  # numpy is imported only when the learned layer is used (--lexicon-only starts faster)
    from hotline.screening.learned import LearnedLayer

_CHUNK = 1 << 16


class Input(Protocol):
    """A binary stream that returns what is available (``sys.stdin.buffer``, ``io.BytesIO``)."""

    def read1(self, size: int = -1, /) -> bytes: ...


def run_screen(stdin: Input, stdout: TextIO, screener: Screener, learned: LearnedLayer | None = None) -> int:
    """Screen every line of ``stdin``; write ``{"risk": ..., "cues": [...]}`` lines to ``stdout``.

    A blank line is risk none. ``learned``: the learned layer, asked about every line the lexicon
    does not already flag. Returns the exit code."""
    encode = _encoder()
    pending = b""
    while True:
        data = stdin.read1(_CHUNK)
        if not data:
            break
        lines = (pending + data).split(b"\n")
        pending = lines.pop()
        if lines:
            _answer(lines, stdout, screener, learned, encode)
    if pending:
        _answer([pending], stdout, screener, learned, encode)
    stdout.flush()
    return 0


def _answer(
    raw: Sequence[bytes],
    stdout: TextIO,
    screener: Screener,
    learned: LearnedLayer | None,
    encode: Callable[[Screening], str],
) -> None:
    texts = [line.removesuffix(b"\r").decode("utf-8", "surrogateescape") for line in raw]
    results = [screener.screen(text) for text in texts]
    if learned is not None:
        todo = [i for i, r in enumerate(results) if not r.is_crisis and texts[i].strip()]
        if todo:
            second = learned.screen_many([texts[i] for i in todo])
            for i, result in zip(todo, second, strict=True):
                results[i] = merge(results[i], result)
    stdout.write("".join(encode(r) for r in results))
    stdout.flush()


def _encoder() -> Callable[[Screening], str]:
    cache: dict[Screening, str] = {}

    def encode(result: Screening) -> str:
        encoded = cache.get(result)
        if encoded is None:
            payload = {"risk": result.risk.value, "cues": list(result.cues)}
            encoded = cache[result] = json.dumps(payload, ensure_ascii=False) + "\n"
        return encoded

    return encode
