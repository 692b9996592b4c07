"""Unwrapping ``format=flowed`` text (RFC 3676), which many mail clients send for text/plain.

A flowed message cuts its paragraphs into short lines and marks each soft break with a trailing
space; a line without one ends its paragraph. Read as written, a sentence broken across lines
reaches the counselor (and the screener's sentence splitter) cut in the middle, as "煮飯\\n餵藥".

- Quoted lines start with ``>`` marks; only lines of the same quote depth flow together.
- A leading space is "stuffing" (added before ``>``, ``From `` or a space) and is removed.
- ``-- `` is the signature separator: never flowed.
- With ``DelSp=yes`` the trailing space of a soft break is removed (clients writing CJK, where words
  are not separated by spaces, use it); otherwise it stays.

Unwrapped quoted lines are written back with their marks (``> `` per depth) so the quotation reader
still recognises them.
"""

from __future__ import annotations

from dataclasses import dataclass

SIGNATURE = "-- "


@dataclass(frozen=True, slots=True)
class _Line:
    depth: int
    text: str
    soft: bool


def _read(line: str) -> _Line:
    depth = len(line) - len(line.lstrip(">"))
    text = line[depth:]
    if text.startswith(" "):
        text = text[1:]  # space-stuffing (RFC 3676 §4.4)
    soft = text.endswith(" ") and text != SIGNATURE
    return _Line(depth, text, soft)


def unflow(text: str, *, delsp: bool = False) -> str:
    """The text with soft line breaks joined, paragraph by paragraph, at each quote depth."""
    lines = [_read(line) for line in text.replace("\r\n", "\n").split("\n")]
    out: list[str] = []
    current: list[str] = []
    depth = 0
    for i, line in enumerate(lines):
        if not current:
            depth = line.depth
        body = line.text[:-1] if line.soft and delsp else line.text
        current.append(body)
        following = lines[i + 1] if i + 1 < len(lines) else None
        if line.soft and following is not None and following.depth == depth:
            continue
        joined = "".join(current)
        out.append(("> " * depth if depth else "") + joined)
        current = []
    return "\n".join(out)


def is_flowed(format_param: str | None) -> bool:
    return (format_param or "").strip().lower() == "flowed"


def deletes_space(delsp_param: str | None) -> bool:
    return (delsp_param or "").strip().lower() == "yes"
