"""Labelled screening texts in TSV: the training exemplars and the held-out evaluation sets.

One line a text, tab-separated, with a header: ``label  category  lang  shape  text``.

- label: ``crisis`` | ``distress`` | ``none``
- category: the nearest kind (``suicide.plan``, ``violence.home``, ``idiom``, ``media`` …)
- lang: ``zh-TW`` | ``zh-CN`` | ``en`` | ``nan-Hani`` | ``nan-Latn`` | ``mixed``
- shape: ``short`` | ``long`` | ``evasive``
- text: ``\\n`` stands for a line break. In a long crisis exemplar, ``⟦`` … ``⟧`` mark the sentences
  that carry the cue (so the trainer knows which fragment is the crisis); they are removed from the text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LABELS = ("crisis", "distress", "none")
HEADER = ("label", "category", "lang", "shape", "text")
OPEN, CLOSE = "⟦", "⟧"


class ExemplarError(ValueError):
    """A TSV line that cannot be used, naming the file and line."""


@dataclass(frozen=True, slots=True)
class Example:
    label: str
    category: str
    lang: str
    shape: str
    text: str  # marks removed, line breaks restored
    marked: tuple[str, ...]  # the marked cue sentences of a long crisis exemplar

    @property
    def target(self) -> str:
        """The class the head learns: the crisis category, ``distress`` or ``none``."""
        return self.category if self.label == "crisis" else self.label


def parse_line(raw: str, where: str) -> Example:
    fields = raw.rstrip("\n").rstrip("\r").split("\t")
    if len(fields) != len(HEADER):
        raise ExemplarError(f"{where}: {len(fields)} fields, expected {len(HEADER)}")
    label, category, lang, shape, text = fields
    if label not in LABELS:
        raise ExemplarError(f"{where}: label {label!r} is not one of {', '.join(LABELS)}")
    text = text.replace("\\n", "\n")
    marked: list[str] = []
    rest = text
    while OPEN in rest:
        start = rest.index(OPEN)
        end = rest.find(CLOSE, start)
        if end < 0:
            raise ExemplarError(f"{where}: {OPEN} without {CLOSE}")
        marked.append(rest[start + 1 : end].strip())
        rest = rest[end + 1 :]
    if CLOSE in rest:
        raise ExemplarError(f"{where}: {CLOSE} without {OPEN}")
    if marked and label != "crisis":
        raise ExemplarError(f"{where}: only crisis exemplars mark their cue")
    plain = text.replace(OPEN, "").replace(CLOSE, "").strip()
    if not plain:
        raise ExemplarError(f"{where}: empty text")
    return Example(label, category, lang, shape, plain, tuple(m for m in marked if m))


def read_tsv(path: Path) -> list[Example]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or tuple(lines[0].split("\t")) != HEADER:
        raise ExemplarError(f"{path}: the first line must be the header {' '.join(HEADER)}")
    return [parse_line(line, f"{path}:{n}") for n, line in enumerate(lines[1:], start=2) if line.strip()]


def read_all(paths: Iterable[Path]) -> list[Example]:
    return [example for path in sorted(paths) for example in read_tsv(path)]


def digest(paths: Iterable[Path], *extra: str) -> str:
    """SHA-256 of the files' bytes (in name order) and ``extra``: what a trained head was made from."""
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    for item in extra:
        h.update(item.encode())
    return h.hexdigest()
