"""Caches the engine's hidden states at depths 4, 6, 10 for every exemplar text (training samples and
every fragment), fp16, for the fine-tuning experiments."""

import sys
import time
from pathlib import Path

import e5torch
import numpy as np

from hotline import screening_train as st
from hotline.screening.fragments import fragments

DEPTHS = [int(d) for d in sys.argv[1].split(",")] if len(sys.argv) > 1 else [4, 6, 10]
ex = st.training_examples()
texts = sorted({f.text for e in ex for f in fragments(e.text)} | {s.text for s in st.samples(ex)})
tok = e5torch.Tokenizer(Path(".cache"))
ids = [tok.ids(t) for t in texts]
lens = np.array([len(i) for i in ids])
offsets = np.concatenate([[0], np.cumsum(lens)])
T = int(offsets[-1])
outs = [
    np.lib.format.open_memmap(f".cache/ft-h{d}.npy", mode="w+", dtype=np.float16, shape=(T, 384))
    for d in DEPTHS
]
np.savez(
    ".cache/ft-index.npz",
    texts=np.array(texts),
    offsets=offsets,
    ids=np.concatenate([np.array(i) for i in ids]),
)
t0 = time.time()
i = 0
while i < len(ids):
    j, tok_n = i, 0
    while j < len(ids) and tok_n < 8192:
        tok_n += lens[j]
        j += 1
    hs = tok.hidden(ids[i:j], DEPTHS)
    for o, h in zip(outs, hs, strict=True):
        o[offsets[i] : offsets[j]] = h.astype(np.float16)
    i = j
    print(f"{j}/{len(ids)} {time.time() - t0:.0f}s", flush=True)
for o in outs:
    o.flush()
print("done", T, time.time() - t0)
