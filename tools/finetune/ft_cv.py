"""Fine-tuning experiments on cached engine hidden states: python tools/ft_cv.py START STOP EPOCHS FOLDS...

Trains layers [START, STOP) of the torch copy (Q4 fake-quantised) jointly with the head (384 -> 256 ReLU ->
classes, group weights of screening_train) on the samples of the folds other than F, then scores every
fragment of the exemplars of fold F and reports false alarms at 95 % crisis recall (learned layer alone)."""

import json
import sys
import time

import e5bin
import e5torch
import numpy as np
import torch
from torch import nn

from hotline import screening_train as st
from hotline.screening.fragments import Kind, fragments
from hotline.screening.learned import DISTRESS, NONE, Head
from hotline.screening_gate import Scored, alerts

torch.set_num_threads(2)
START, STOP, EPOCHS = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
FOLDS_RUN = [int(x) for x in sys.argv[4].split(",")]
LR = float(sys.argv[5]) if len(sys.argv) > 5 else 1e-4
FIT = len(sys.argv) > 6 and sys.argv[6] == "fit"  # score with screening_train.fit's head, not the joint one
HEAD_LR = 2e-3
BATCH = 32

index = np.load(".cache/ft-index.npz")
texts = [str(t) for t in index["texts"]]
row_of = {t: i for i, t in enumerate(texts)}
offsets = index["offsets"]
H = np.load(f".cache/ft-h{START}.npy", mmap_mode="r")
f = e5bin.read(e5torch.package_model_path())

ex = st.training_examples()
all_samples = st.samples(ex)


def hidden_batch(rows):
    lens = [int(offsets[r + 1] - offsets[r]) for r in rows]
    x = torch.zeros(len(rows), max(lens), 384)
    mask = torch.zeros(len(rows), max(lens), dtype=torch.bool)
    for i, r in enumerate(rows):
        x[i, : lens[i]] = torch.from_numpy(np.asarray(H[offsets[r] : offsets[r + 1]], dtype=np.float32))
        mask[i, : lens[i]] = True
    return x, mask


class Model(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.layers = nn.ModuleList(e5torch.Layer(f, i, 12) for i in range(START, STOP))
        for layer in self.layers:
            layer.quantise = True
        self.hidden = nn.Linear(384, 256)
        self.out = nn.Linear(256, k)
        self.register_buffer("mean", torch.zeros(384))
        self.register_buffer("scale", torch.ones(384))

    def embed(self, x, mask):
        bias = e5torch.attention_bias(mask)
        for layer in self.layers:
            x = layer(x, bias)
        return e5torch.pool(x, mask)

    def forward(self, x, mask):
        e = (self.embed(x, mask) - self.mean) / self.scale
        return self.out(torch.relu(self.hidden(e)))


def batches(rows, size, order_seed=None):
    """Length-bucketed batches (little padding); shuffled when a seed is given."""
    rows = np.array(rows)
    lens = offsets[rows + 1] - offsets[rows]
    if order_seed is not None:
        g = np.random.default_rng(order_seed)
        rows = rows[g.permutation(len(rows))]
        lens = offsets[rows + 1] - offsets[rows]
        # bucket within chunks of 50 batches
        out = []
        chunk = size * 50
        for s in range(0, len(rows), chunk):
            part = rows[s : s + chunk]
            part = part[np.argsort(offsets[part + 1] - offsets[part], kind="stable")]
            out += [part[i : i + size] for i in range(0, len(part), size)]
        return [out[i] for i in g.permutation(len(out))]
    order = rows[np.argsort(lens, kind="stable")]
    return [order[i : i + size] for i in range(0, len(order), size)]


def run_fold(fold):
    torch.manual_seed(st.SEED + fold)
    inside = {i for i, e in enumerate(ex) if st.fold_of(e) != fold}
    data = [s for s in all_samples if s.example in inside]
    classes = tuple(sorted({s.target for s in data} | {NONE, DISTRESS}))
    targets = np.array([classes.index(s.target) for s in data])
    weights = st.sample_weights(targets, classes) * len(data)
    rows = np.array([row_of[s.text] for s in data])
    model = Model(len(classes))
    # standardisation from the starting model's embeddings of 1024 inside samples
    g = np.random.default_rng(st.SEED)
    probe = g.choice(len(rows), min(1024, len(rows)), replace=False)
    with torch.no_grad():
        embs = []
        for b in batches(rows[probe], 64):
            embs.append(model.embed(*hidden_batch(b)))
        e = torch.cat(embs)
        model.mean.copy_(e.mean(0))
        model.scale.copy_(e.std(0) + 1e-6)
    enc_params = [p for layer in model.layers for p in layer.parameters()]
    if LR == 0:
        for p in enc_params:
            p.requires_grad_(False)
        enc_params = []
    opt = torch.optim.AdamW(
        [
            *([{"params": enc_params, "lr": LR, "weight_decay": 0.0}] if enc_params else []),
            {
                "params": list(model.hidden.parameters()) + list(model.out.parameters()),
                "lr": HEAD_LR,
                "weight_decay": 1e-4,
            },
        ]
    )
    # a text may be a sample of two classes: iterate over sample indices
    sidx = np.arange(len(data))
    t0 = time.time()
    epochs_int = int(np.ceil(EPOCHS))
    all_b = []
    for ep in range(epochs_int):
        bs = batches(sidx, BATCH, order_seed=st.SEED + 100 * fold + ep)
        if ep + 1 > EPOCHS:
            bs = bs[: int(len(bs) * (EPOCHS - ep))]
        all_b += bs
    total = len(all_b)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 30) * max(0.0, 1 - s / total))
    model.train()
    for nsteps, b in enumerate(all_b, 1):
        x, mask = hidden_batch(rows[b])
        logits = model(x, mask)
        w = torch.from_numpy(weights[b]).float()
        loss = (
            nn.functional.cross_entropy(logits, torch.from_numpy(targets[b]), reduction="none") * w
        ).sum() / len(b)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if nsteps % 50 == 0:
            print(
                f"  fold {fold} step {nsteps}/{total} loss {loss.item():.3f} {time.time() - t0:.0f}s",
                flush=True,
            )
    train_time = time.time() - t0
    model.eval()
    outside = [i for i, e in enumerate(ex) if st.fold_of(e) == fold]
    pieces = [fragments(ex[i].text) for i in outside]
    ftexts = sorted({fr.text for grp in pieces for fr in grp})
    frows = np.array([row_of[t] for t in ftexts])
    probs = {}
    if FIT:
        # the fine-tuned encoder's embeddings under the shipped head recipe (screening_train.fit)
        def embed_rows(rws):
            out = np.zeros((len(rws), 384), np.float32)
            with torch.no_grad():
                for b in batches(np.arange(len(rws)), 64):
                    out[b] = model.embed(*hidden_batch(rws[b])).numpy()
            return out

        params = st.fit(embed_rows(rows), targets, classes)
        head = Head(classes, params["w"], params["b"], 0, 0.0, 1, 1, 1, "", "", params["hw"], params["hb"])
        p = head.probabilities(embed_rows(frows))
        probs = dict(zip(ftexts, p, strict=True))
    else:
        with torch.no_grad():
            for b in batches(np.arange(len(frows)), 64):
                p = torch.softmax(model(*hidden_batch(frows[b])), dim=1).numpy()
                for i, row in zip(b, p, strict=True):
                    probs[ftexts[i]] = row
    crisis_idx = [i for i, c in enumerate(classes) if c not in (NONE, DISTRESS)]
    d_idx = classes.index(DISTRESS)
    scored = []
    for grp in pieces:
        P = np.stack([probs[fr.text] for fr in grp])
        part = np.array([fr.kind in (Kind.SENTENCE, Kind.PAIR) for fr in grp])
        scored.append(
            Scored(
                part,
                P[:, crisis_idx].sum(1).astype(np.float32),
                P[:, d_idx].astype(np.float32),
                np.zeros(len(grp), np.float32),
            )
        )
    return outside, scored, train_time, time.time() - t0 - train_time


results = []
all_out, all_sc = [], []
for fold in FOLDS_RUN:
    outside, scored, tt, et = run_fold(fold)
    all_out += outside
    all_sc += scored
    print(f"fold {fold}: train {tt:.0f}s eval {et:.0f}s", flush=True)
exs = [ex[i] for i in all_out]
whole, part, dist = st.choose_thresholds(exs, all_sc, [False] * len(exs), st.RECALL)
learned = [alerts(s, whole, part) for s in all_sc]


def rate(label):
    v = [a for e, a in zip(exs, learned, strict=True) if e.label == label]
    return sum(v) / len(v), sum(v), len(v)


line = dict(
    head="fit" if FIT else "joint",
    start=START,
    stop=STOP,
    epochs=EPOCHS,
    lr=LR,
    folds=FOLDS_RUN,
    whole=whole,
    part=part,
    crisis=rate("crisis"),
    none=rate("none"),
    distress=rate("distress"),
)
print(json.dumps(line), flush=True)
with open(".cache/ft-results.jsonl", "a") as fh:
    fh.write(json.dumps(line) + "\n")
