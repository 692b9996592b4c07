"""What the learned layer reads of one message: the message, its sentences, and the conversation.

A cry for help is often one sentence at the end of a long mail about work, or split across two chat
messages. Scoring only the whole text dilutes it; scoring only sentences loses what two of them say
together. So a message becomes a short list of fragments, each scored on its own:

- ``whole``: the message itself, when it is short enough to be read at once (a long one would be
  diluted, and its cost grows with the square of its length);
- ``sentence``: each sentence or clause, long ones cut at commas, tiny ones joined to the next (screening
  reads them in a text too long to read whole; the trainer in every text);
- ``pair``: in a text too long to read whole, two neighbouring sentences read together (a cue split
  across them: 藥都買好了。就今晚), among the first and the last few sentences (the cost of a mail
  grows with every fragment; cues sit at the end of a long mail far more often than in its middle);
- ``window``: the employee's last few messages in the same conversation and this one, joined.

Pure: text in, fragments out; no model, no I/O.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    WHOLE = "whole"
    SENTENCE = "sentence"
    PAIR = "pair"
    WINDOW = "window"


@dataclass(frozen=True, slots=True)
class Fragment:
    kind: Kind
    text: str
    parts: tuple[str, ...] = ()  # a pair's two sentences (the learned layer reads it only around a cue)


# Read whole up to this many characters (about 200 tokens of Chinese).
WHOLE_LIMIT = 240
# Screening also reads the sentences of a text longer than this that it reads whole (one crisis sentence
# in a 200-character chat ramble is diluted when read whole only). Cross-validation on the exemplars as
# the service reads them (eleventh round, docs/screening.md), harmless exemplars alerted at 95 % of
# crises caught: sentences from 240 characters (read whole only) 88 of 1,690, from 100 85, from 60 80;
# crises of 101-240 characters caught 78 -> 86 of 91, long ones 416 -> 432 of 441.
SENTENCES_FROM = 60
# A sentence longer than this is cut at commas; pieces shorter than SHORT join their neighbour.
SENTENCE_LIMIT = 60
SHORT = 8
# At most this many sentence fragments per message: the last ones are kept (a cue at the end of a
# long mail is the common case) together with the first ones (the subject, the opening).
MAX_SENTENCES = 32
HEAD = 8
# Pairs of a long text: among its first PAIRS_HEAD and its last PAIRS_TAIL sentences.
PAIRS_HEAD = 3
PAIRS_TAIL = 8
# The conversation window: at most this many characters, the most recent ones.
WINDOW_LIMIT = 240

_SENTENCE_END = re.compile(r"(?<=[。！？!?；;…~～\n])|(?<=[.](?=\s))|(?<=[\U0001F300-\U0001FAFF])(?=\s)")
_CLAUSE_END = re.compile(r"(?<=[，,、：:])")
_SPACE = re.compile(r"\s+")


def sentences(text: str) -> list[str]:
    """The sentences and clauses of ``text``, each at most about ``SENTENCE_LIMIT`` characters."""
    pieces: list[str] = []
    for raw in _SENTENCE_END.split(text):
        sentence = _SPACE.sub(" ", raw).strip()
        if not sentence:
            continue
        if len(sentence) <= SENTENCE_LIMIT:
            pieces.append(sentence)
            continue
        pieces.extend(_cut(sentence))
    return _join_short(pieces)


def _cut(sentence: str) -> list[str]:
    """A long sentence cut at clause marks into pieces of at most ``SENTENCE_LIMIT`` characters (or
    hard-cut where a run has none)."""
    out: list[str] = []
    current = ""
    for clause in _CLAUSE_END.split(sentence):
        if current and len(current) + len(clause) > SENTENCE_LIMIT:
            out.append(current.strip())
            current = ""
        current += clause
        while len(current) > SENTENCE_LIMIT:
            out.append(current[:SENTENCE_LIMIT].strip())
            current = current[SENTENCE_LIMIT:]
    if current.strip():
        out.append(current.strip())
    return out


def _join_short(pieces: list[str]) -> list[str]:
    out: list[str] = []
    carry = ""
    for piece in pieces:
        piece = f"{carry} {piece}".strip() if carry else piece
        carry = ""
        if len(piece) < SHORT:
            carry = piece
            continue
        out.append(piece)
    if carry:
        if out and len(out[-1]) + len(carry) <= SENTENCE_LIMIT:
            out[-1] = f"{out[-1]} {carry}"
        else:
            out.append(carry)
    return out


def fragments(text: str, earlier: Sequence[str] = (), *, short_by_sentence: bool = True) -> list[Fragment]:
    """The fragments of ``text`` to score; ``earlier`` are the employee's preceding messages in the
    same conversation, oldest first (empty for a mail or a first message).

    ``short_by_sentence=False`` (what screening reads, and what the trainer's cross-validation scores): a
    text of up to ``SENTENCES_FROM`` characters is read whole only, not also sentence by sentence (a chat
    message of a line or two; its sentences would be most of the encoder's work on a chat line). The
    trainer's samples keep the default: a short exemplar's sentences stay training data."""
    text = text.strip()
    if not text:
        return []
    out: list[Fragment] = []
    if len(text) <= WHOLE_LIMIT:
        out.append(Fragment(Kind.WHOLE, text))
    parts = sentences(text)
    if len(parts) > MAX_SENTENCES:
        parts = parts[:HEAD] + parts[-(MAX_SENTENCES - HEAD) :]
    long = len(text) > WHOLE_LIMIT
    if long or (len(parts) > 1 and (short_by_sentence or len(text) > SENTENCES_FROM)):
        out.extend(Fragment(Kind.SENTENCE, part) for part in parts)
    if long:
        pairs = list(itertools.pairwise(parts))
        if len(pairs) > PAIRS_HEAD + PAIRS_TAIL:
            pairs = pairs[:PAIRS_HEAD] + pairs[-PAIRS_TAIL:]
        out.extend(Fragment(Kind.PAIR, f"{first} {second}", (first, second)) for first, second in pairs)
    recent = [m.strip() for m in earlier if m.strip()]
    if recent:
        joined = " ".join([*recent, text])
        out.append(Fragment(Kind.WINDOW, joined[-WINDOW_LIMIT:]))
    return _unique(out)


def _unique(found: list[Fragment]) -> list[Fragment]:
    seen: set[str] = set()
    out: list[Fragment] = []
    for fragment in found:
        if fragment.text not in seen:
            seen.add(fragment.text)
            out.append(fragment)
    return out
