"""What the screening trainer reads: the exemplar files, each text once, the training texts (samples) cut
from them, and an on-disk cache of their embeddings (``hotline.screening_train`` trains from these)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hotline.exemplars import Example, ExemplarError, read_all
from hotline.screening.fragments import Kind, fragments
from hotline.screening.learned import Encoder, Matrix

DATA = Path(__file__).resolve().parent / "screening" / "data"
EXEMPLARS = DATA / "exemplars"
CACHE = Path(".cache") / "screening-embeddings.npz"


def exemplar_files() -> list[Path]:
    return sorted(EXEMPLARS.glob("*.tsv"))


def training_examples() -> list[Example]:
    """The exemplars, each text once: the retired held-out sets (``heldout-N.tsv``, kept byte for byte as
    frozen) share a few openers (你好, 👋) and short lines with the other files and with each other. A text
    labelled two ways is an error."""
    first: dict[str, Example] = {}
    for example in read_all(exemplar_files()):
        seen = first.setdefault(example.text, example)
        if seen.label != example.label:
            raise ExemplarError(f"{example.text[:40]!r} is labelled both {seen.label} and {example.label}")
    return list(first.values())


@dataclass(frozen=True, slots=True)
class Sample:
    text: str
    target: str
    example: int  # index of the exemplar it came from


def samples(examples: Sequence[Example]) -> list[Sample]:
    out: list[Sample] = []
    for index, ex in enumerate(examples):
        if ex.label != "crisis":
            texts = {f.text for f in fragments(ex.text)}
            out.extend(Sample(t, ex.target, index) for t in sorted(texts))
        elif ex.marked:
            cues = [m for m in ex.marked]
            texts = {f.text for f in fragments(ex.text) if any(c in f.text or f.text in c for c in cues)}
            texts.update(cues)
            out.extend(Sample(t, ex.target, index) for t in sorted(texts))
        else:  # a crisis text too long to read whole without marks (sets retired from held out): no sample,
            # since which of its sentences carries the cue is unknown; cross-validation still scores it
            whole = [f.text for f in fragments(ex.text) if f.kind is Kind.WHOLE]
            out.extend(Sample(t, ex.target, index) for t in whole)
    return out


class CachedEncoder:
    """Wraps an encoder with an on-disk cache of embeddings (keyed by the text's SHA-1)."""

    def __init__(self, encoder: Encoder, path: Path = CACHE) -> None:
        self.inner = encoder
        self.path = path
        self.cache: dict[str, Matrix] = {}
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                if str(data["encoder"]) == encoder.name:
                    keys, vectors = data["keys"], data["vectors"]
                    self.cache = {str(k): vectors[i] for i, k in enumerate(keys)}

    @property
    def name(self) -> str:
        return self.inner.name

    def encode(self, texts: Sequence[str]) -> Matrix:
        keys = [hashlib.sha1(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in self.cache}.items())
        for start in range(0, len(missing), 256):
            chunk = missing[start : start + 256]
            vectors = self.inner.encode([t for _, t in chunk])
            for (key, _), vector in zip(chunk, vectors, strict=True):
                self.cache[key] = vector
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self.cache[k] for k in keys]).astype(np.float32)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self.cache)
        np.savez(
            self.path,
            encoder=self.inner.name,
            keys=np.array(keys),
            vectors=np.stack([self.cache[k] for k in keys]),
        )
