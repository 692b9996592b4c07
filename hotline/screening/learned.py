"""The learned second opinion: a frozen sentence encoder and a small trained head.

The lexicon fits the phrases it was written from; people in crisis write others. This layer reads each
fragment of a message (``fragments.py``) through a multilingual sentence encoder (behind ``Encoder``)
and a multinomial logistic head trained on the project's exemplars (``python -m
hotline.screening_train``). Its result only ever adds to the lexicon's (``merge``): it may raise an
alert the lexicon missed, or mark heavy distress, never lower a risk.

How fragment scores combine: a short message read whole, or the conversation window, alerts when its
crisis probability reaches ``whole``; a single sentence or pair of a longer text needs ``part``, set
higher, because every extra fragment is another chance to cross a threshold. The head was trained on
fragments of long, sad but safe mails as negatives for the same reason.

Pure: numpy arithmetic on what the encoder returns; loading the encoder and the head's file is done by
``hotline.learned_loader``.
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from hotline.domain import NO_RISK, Risk, Screening
from hotline.screening.chars import CharHead
from hotline.screening.fragments import Fragment, Kind, fragments
from hotline.screening.screener import merge

Matrix = NDArray[np.float32]

NONE = "none"
DISTRESS = "distress"

# What counselors read of a learned alert: the layer and the nearest category of the exemplars.
CUES = {
    "suicide.direct": "learned.suicide",
    "suicide.passive": "learned.passive_wish",
    "suicide.plan": "learned.plan",
    "suicide.place": "learned.place",
    "suicide.pact": "learned.pact",
    "suicide.farewell": "learned.farewell",
    "selfharm": "learned.selfharm",
    "violence.home": "learned.violence_home",
    "threat.others": "learned.threat",
    "sexual.assault": "learned.sexual_assault",
    "third.party": "learned.third_party",
    DISTRESS: "learned.distress",
}
# Fragments whose head probabilities are remembered (by digest), the most recently read ones: about a
# hundred bytes each.
REMEMBER = 20_000
# A pair of sentences is read only when one of them reaches NEAR_PART of the ``part`` threshold alone, or
# is shorter than TOO_SHORT characters (`LearnedLayer.needs_pair`). Measured on the 3,073 exemplars
# (issue 12 §3): every verdict the same as reading every pair, with a quarter less text encoded; the
# same held up to 0.9 and 8, so these leave a margin for a retrained head.
NEAR_PART = 0.3
TOO_SHORT = 12
# A sentence or pair of a long text is judged in context: its crisis score is (1 - OVERLAP) times its own
# plus OVERLAP times the highest of the readings overlapping it (a sentence's pairs, a pair's two
# sentences), its own when none was read (`in_context`). One ambiguous sentence of a long, harmless mail
# read with its neighbour reads as harmless; a cue reads as a cue either way. 0: each alone (the ninth
# round's cross-validation, docs/screening.md: not shipped). A fragment the gate lets skip the encoder
# counts as crisis 0 here too, which the trainer's cross-validation (before the gate) does not see.
OVERLAP = 0.0
# Categories that mean danger now: an alert of these is imminent (110/119 in the reply).
IMMINENT = frozenset({"suicide.plan", "suicide.place", "suicide.pact"})


def logit(probability: float) -> float:
    """The log-odds of ``probability`` (0 < p < 1): the scale the gates' thresholds are on."""
    return float(np.log(probability / (1 - probability)))


class Encoder(Protocol):
    """A frozen sentence encoder: texts in, one L2-normalised row per text out."""

    @property
    def name(self) -> str:
        """Names the model and its version; a head is valid only for the encoder it was trained on."""
        ...

    def encode(self, texts: Sequence[str]) -> Matrix: ...


def ngram_features(texts: Sequence[str], dim: int) -> Matrix:
    """Hashed character 1-3-grams of the lower-cased text, L2-normalised, ``dim`` buckets.

    The encoder barely separates romanised Hokkien and evasive spellings; character n-grams do. The
    hash is CRC-32 (stable across processes, unlike ``hash``)."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        t = " " + " ".join(text.lower().split()) + " "
        for n in (1, 2, 3):
            for i in range(len(t) - n + 1):
                gram = t[i : i + n]
                if gram.strip():
                    out[row, zlib.crc32(gram.encode("utf-8", "surrogatepass")) % dim] += 1.0
        norm = float(np.linalg.norm(out[row]))
        if norm:
            out[row] /= norm
    return out


def in_context(group: Sequence[Fragment], crisis: Matrix, weight: float | None = None) -> Matrix:
    """The crisis scores of ``group`` with each sentence or pair blended with the highest score among the
    fragments overlapping it (``weight``, default `OVERLAP`); the whole message and the window are left
    as they are."""
    weight = OVERLAP if weight is None else weight
    if not weight:
        return crisis
    sentence_at = {f.text: i for i, f in enumerate(group) if f.kind is Kind.SENTENCE}
    best = np.full(len(group), -1.0)
    for i, fragment in enumerate(group):
        if fragment.kind is not Kind.PAIR:
            continue
        for sentence in fragment.parts:
            j = sentence_at.get(sentence)
            if j is not None:
                best[i] = max(best[i], float(crisis[j]))
                best[j] = max(best[j], float(crisis[i]))
    result: Matrix = np.where(
        best >= 0, (1 - weight) * crisis + weight * best.astype(np.float32), crisis
    ).astype(np.float32)
    return result


@dataclass(frozen=True)
class Gate:
    """The cascade's cheap first stage: a linear model on hashed character n-grams (microseconds a
    fragment, no encoder). A fragment it scores below ``threshold`` is not encoded and counts as none
    (crisis and distress probability 0). The threshold was chosen by cross-validation on the
    exemplars so that it loses no crisis exemplar the learned layer caught (``hotline.screening_gate``)."""

    weights: Matrix  # (dim,)
    bias: float
    dim: int
    threshold: float  # on the logit

    def scores(self, texts: Sequence[str]) -> Matrix:
        result: Matrix = ngram_features(texts, self.dim) @ self.weights + np.float32(self.bias)
        return result

    def passes(self, texts: Sequence[str]) -> list[bool]:
        """For each text: does it need the encoder?"""
        return [bool(score >= self.threshold) for score in self.scores(texts)]


@dataclass(frozen=True)
class Head:
    """A trained multinomial logistic head and its decision thresholds."""

    classes: tuple[str, ...]
    weights: Matrix  # (features, classes)
    bias: Matrix  # (classes,)
    ngram_dim: int  # 0: embedding only
    ngram_scale: float
    whole: float  # crisis threshold for a message read whole, or the conversation window
    part: float  # crisis threshold for one sentence or a pair
    distress: float  # distress threshold (any fragment), when no crisis
    encoder: str  # the encoder it was trained on
    digest: str  # of the exemplars and training settings it was trained from
    hidden_weights: Matrix | None = None  # (features, hidden): a hidden ReLU layer, when trained with one
    hidden_bias: Matrix | None = None
    gate: Gate | None = None  # the cascade's first stage; None: every fragment is encoded
    chars: CharHead | None = None  # the character n-gram reader, same classes (`blend`)
    chars_share: float = 0.0  # its share of the blended probabilities
    # The cascade with the reader: a fragment whose crisis logit by the reader alone is below this is not
    # encoded and keeps the reader's probabilities (below every alert threshold); None: all are encoded.
    chars_gate: float | None = None
    crisis_index: NDArray[np.intp] = field(init=False, repr=False, compare=False)
    distress_index: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        crisis = [i for i, c in enumerate(self.classes) if c not in (NONE, DISTRESS)]
        distress = self.classes.index(DISTRESS) if DISTRESS in self.classes else -1
        object.__setattr__(self, "crisis_index", np.array(crisis, dtype=np.intp))
        object.__setattr__(self, "distress_index", distress)
        if self.chars_gate is not None:
            lowest = min(self.whole, self.part)
            if not 0 < lowest < 1 or self.chars_gate > logit(lowest):
                raise ValueError(
                    f"the reader's gate {self.chars_gate:.2f} would let a fragment it does not send to the "
                    f"encoder alert on the reader alone (thresholds {self.whole:.2f} / {self.part:.2f})"
                )

    def features(self, texts: Sequence[str], embedded: Matrix) -> Matrix:
        if not self.ngram_dim:
            return embedded
        grams = ngram_features(texts, self.ngram_dim) * np.float32(self.ngram_scale)
        return np.hstack([embedded, grams])

    def probabilities(self, features: Matrix) -> Matrix:
        if self.hidden_weights is not None and self.hidden_bias is not None:
            features = np.maximum(features @ self.hidden_weights + self.hidden_bias, 0)
        logits = features @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        result: Matrix = exp / exp.sum(axis=1, keepdims=True)
        return result

    def blend(self, texts: Sequence[str], probabilities: Matrix, chars: Matrix | None = None) -> Matrix:
        """The encoder head's ``probabilities`` of ``texts`` and the character n-gram reader's (``chars``
        when already computed), weighted ``1 - chars_share`` and ``chars_share``
        (`hotline.screening.chars`)."""
        if self.chars is None or not self.chars_share:
            return probabilities
        if chars is None:
            chars = self.chars.probabilities(texts)
        share = np.float32(self.chars_share)
        result: Matrix = (1 - share) * probabilities + share * chars
        return result

    def chars_logits(self, chars: Matrix) -> Matrix:
        """The log-odds of crisis by the reader alone, from its probabilities (what ``chars_gate`` reads)."""
        crisis = np.clip(self.crisis_scores(chars), 1e-7, 1 - 1e-7)
        result: Matrix = np.log(crisis / (1 - crisis)).astype(np.float32)
        return result

    def crisis_scores(self, probabilities: Matrix) -> Matrix:
        result: Matrix = probabilities[:, self.crisis_index].sum(axis=1)
        return result

    def distress_scores(self, probabilities: Matrix) -> Matrix:
        index = self.distress_index
        if index < 0:
            return np.zeros(len(probabilities), dtype=np.float32)
        result: Matrix = probabilities[:, index]
        return result

    def nearest_crisis(self, row: Matrix) -> str:
        crisis = self.crisis_index
        return self.classes[int(crisis[int(np.argmax(row[crisis]))])]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The learned layer's view of one message: the screening and the scores that made it."""

    screening: Screening
    whole: float  # the highest crisis probability of the message read whole or of the window
    part: float  # the highest crisis probability of one sentence or pair
    distress: float  # the highest distress probability of any fragment


class LearnedLayer:
    """Screens messages with an encoder and a head. ``screen_many`` batches every fragment of every
    message through the encoder at once (one call a round, the encoder's threads working on all of
    them; see `judge`)."""

    def __init__(self, encoder: Encoder, head: Head, *, remember: int = REMEMBER) -> None:
        if head.encoder != encoder.name:
            raise ValueError(f"the head was trained on {head.encoder!r}, not on {encoder.name!r}")
        self.encoder = encoder
        self.head = head
        # The head's probabilities of recently read fragments, by a digest of the text (never the text:
        # what people wrote does not stay in memory for this): greetings, closings, signatures and
        # subjects come back mail after mail, batch after batch, and the answer depends on the text only.
        self._remember = remember
        self._known: OrderedDict[bytes, Matrix] = OrderedDict()
        self._lock = threading.Lock()

    def screen(self, text: str, earlier: Sequence[str] = ()) -> Screening:
        return self.judge([(text, earlier)])[0].screening

    def screen_many(self, texts: Sequence[str]) -> list[Screening]:
        return [v.screening for v in self.judge([(t, ()) for t in texts])]

    def screen_apart(self, readings: Sequence[tuple[str, Sequence[str]]]) -> list[Screening]:
        """For each (text, parts): the text and each part read as messages of their own (a mail's short
        body and its subject), in one call; the highest verdict of each reading."""
        owners = [i for i, (text, parts) in enumerate(readings) for _ in (text, *parts)]
        verdicts = self.judge([(part, ()) for text, parts in readings for part in (text, *parts)])
        found = [NO_RISK] * len(readings)
        for i, verdict in zip(owners, verdicts, strict=True):
            found[i] = merge(found[i], verdict.screening)
        return found

    def judge(self, messages: Sequence[tuple[str, Sequence[str]]]) -> list[Verdict]:
        """Each message's verdict. Read in two rounds, each one encoder call for all the messages: first
        the message whole, its sentences and the conversation window; then only the pairs of sentences
        that the first round gives a reason to read (`needs_pair`). Most pairs of a long mail join two
        plainly harmless sentences, and they are its longest fragments (issue 12 §3)."""
        pieces = [fragments(text, earlier, short_by_sentence=False) for text, earlier in messages]
        first = [f.text for group in pieces for f in group if f.kind is not Kind.PAIR]
        scores = self.head.crisis_scores(self._probabilities(first))
        crisis_of = {text: float(score) for text, score in zip(first, scores, strict=True)}
        pieces = [
            [f for f in group if f.kind is not Kind.PAIR or self.needs_pair(f, crisis_of)] for group in pieces
        ]
        flat = [f for group in pieces for f in group]
        if not flat:
            return [Verdict(NO_RISK, 0.0, 0.0, 0.0) for _ in messages]
        probabilities = self._probabilities([f.text for f in flat])  # the first round's are remembered
        crisis = self.head.crisis_scores(probabilities)
        distress = self.head.distress_scores(probabilities)
        verdicts: list[Verdict] = []
        start = 0
        for group in pieces:
            end = start + len(group)
            verdicts.append(
                self._decide(
                    group, probabilities[start:end], in_context(group, crisis[start:end]), distress[start:end]
                )
            )
            start = end
        return verdicts

    def needs_pair(self, pair: Fragment, crisis_of: dict[str, float]) -> bool:
        """Whether a pair of sentences is read, given the crisis scores of its sentences read alone: a cue
        split across two sentences (藥都買好了。就今晚) leaves one of them near a crisis already, or too
        short to judge alone."""
        limit = NEAR_PART * self.head.part
        return not pair.parts or any(
            len(sentence) < TOO_SHORT or crisis_of.get(sentence, 1.0) >= limit for sentence in pair.parts
        )

    def _probabilities(self, texts: Sequence[str]) -> Matrix:
        """The head's probabilities for each text; a text met twice in one call, or read recently, is not
        encoded again (the encoder is most of the cost of screening a mail poll; issue 12 §3)."""
        digests = [
            hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=16).digest() for t in texts
        ]
        with self._lock:
            known = {d: self._known[d] for d in digests if d in self._known}
            for digest in known:
                self._known.move_to_end(digest)
        todo: dict[bytes, str] = {}
        for digest, text in zip(digests, texts, strict=True):
            if digest not in known:
                todo.setdefault(digest, text)
        if todo:
            fresh = list(todo.values())
            computed = self._compute(fresh)
            with self._lock:
                for digest, row in zip(todo, computed, strict=True):
                    known[digest] = self._known[digest] = row.copy()
                    if len(self._known) > self._remember:
                        self._known.popitem(last=False)
        return (
            np.stack([known[d] for d in digests])
            if digests
            else np.zeros((0, len(self.head.classes)), np.float32)
        )

    def _compute(self, texts: list[str]) -> Matrix:
        """The head's probabilities of ``texts``; what the gate lets skip the encoder counts as none."""
        head = self.head
        if head.chars is not None and head.chars_gate is not None:
            alone = head.chars.probabilities(texts)
            rows = np.flatnonzero(head.chars_logits(alone) >= head.chars_gate)
            if len(rows):
                picked = [texts[i] for i in rows]
                encoded = head.probabilities(head.features(picked, self.encoder.encode(picked)))
                alone[rows] = head.blend(picked, encoded, alone[rows])
            return alone
        if head.gate is None:
            return head.blend(texts, head.probabilities(head.features(texts, self.encoder.encode(texts))))
        passes = head.gate.passes(texts)
        out = np.zeros((len(texts), len(head.classes)), dtype=np.float32)
        out[:, head.classes.index(NONE)] = 1.0
        chosen = [i for i, ok in enumerate(passes) if ok]
        if chosen:
            picked = [texts[i] for i in chosen]
            out[chosen] = head.probabilities(head.features(picked, self.encoder.encode(picked)))
        return head.blend(texts, out)

    def _decide(
        self, group: list[Fragment], probabilities: Matrix, crisis: Matrix, distress: Matrix
    ) -> Verdict:
        head = self.head
        whole = part = 0.0
        best, margin = -1, -1.0
        for index, (fragment, score) in enumerate(zip(group, crisis, strict=True)):
            is_part = fragment.kind in (Kind.SENTENCE, Kind.PAIR)
            if is_part:
                part = max(part, float(score))
            else:
                whole = max(whole, float(score))
            over = float(score) - (head.part if is_part else head.whole)
            if best < 0 or over > margin:
                best, margin = index, over
        top_distress = float(distress.max()) if len(group) else 0.0
        if best >= 0 and margin >= 0:
            category = head.nearest_crisis(probabilities[best])
            risk = Risk.IMMINENT if category in IMMINENT else Risk.ELEVATED
            cue = CUES.get(category, "learned." + category.replace(".", "_"))
            return Verdict(Screening(risk, (cue,)), whole, part, top_distress)
        if len(group) and top_distress >= head.distress:
            return Verdict(Screening(Risk.DISTRESS, (CUES[DISTRESS],)), whole, part, top_distress)
        return Verdict(NO_RISK, whole, part, top_distress)
