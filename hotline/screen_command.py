"""``hotline screen``: one message per input line in, one JSON object per line out, same order."""

from __future__ import annotations

import json
from typing import TextIO

from hotline.screening import Screener

_BATCH = 1024


def run_screen(stdin: TextIO, stdout: TextIO, screener: Screener) -> int:
    """Screen every line of ``stdin``; write ``{"risk": ..., "cues": [...]}`` lines to ``stdout``.

    A blank line is risk none. Undecodable input (lone surrogates from ``surrogateescape``) and very
    long lines are screened like any other text; output is written in batches. Returns the exit code.
    """
    screen = screener.screen
    dumps = json.dumps
    cache: dict[tuple[str, tuple[str, ...]], str] = {}
    out: list[str] = []
    for raw in stdin:
        line = raw[:-1] if raw.endswith("\n") else raw
        if line.endswith("\r"):
            line = line[:-1]
        result = screen(line)
        key = (result.risk.value, result.cues)
        encoded = cache.get(key)
        if encoded is None:
            encoded = dumps({"risk": key[0], "cues": list(key[1])}, ensure_ascii=False) + "\n"
            cache[key] = encoded
        out.append(encoded)
        if len(out) >= _BATCH:
            stdout.write("".join(out))
            out.clear()
    if out:
        stdout.write("".join(out))
    stdout.flush()
    return 0
