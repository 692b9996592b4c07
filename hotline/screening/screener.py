"""The screener: text in, ``Screening(risk, cues)`` out, from the lexicon and any added layers.

How one message is screened:

1. normalise (one ``str.translate``), then scan the compact and the spaced view with one compiled trie
   each, collecting every pattern that starts at every position (most messages match nothing and stop
   here);
2. drop every match lying entirely inside an idiom or negation match, or inside a longer intent or plan
   match (it is a word of that phrase);
   when a frame entry fired (a notice, a story, a case at work), drop the intent, method, mention and
   hint entries that fire only in sentences holding a frame and no ``own`` entry (``_unframed``: the
   message is scanned again sentence by sentence, which only messages with a frame pay for);
3. decide the risk from the roles of the entries that fired (rules in ``config/crisis_lexicon.toml``).
   The decision depends only on the set of fired entries, so it is cached.

Further layers (a learned second opinion) go through ``with_layers``; they can only add alerts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

from hotline.domain import NO_RISK, Risk, Screening
from hotline.screening.hanzi import simplified_to_traditional
from hotline.screening.lexicon import (
    ALERTING,
    CONCRETE,
    CONTEXTUAL,
    FRAMED,
    QUIET,
    SUBSUMING,
    Entry,
    Lexicon,
    LexiconError,
    Role,
    parse_lexicon,
)
from hotline.screening.matcher import Hit, ViewMatcher
from hotline.screening.normalise import Normaliser, build_table

_LATIN = re.compile(r"[a-z0-9 ]+")
# Latin patterns this long (spaces dropped) are also looked for in the compact view, which catches
# "k i l l m y s e l f"; shorter ones ("kms") only as whole words.
_COMPACT_LATIN_MIN = 8
# Where a frame's reach ends (``Screener._unframed``): sentence punctuation, a line break, ". ".
_SENTENCE = re.compile(r"[。！？!?；;\n]+|[.](?=\s)")
# Quoted words (「我不想活了」, "I want to die") in a framed sentence are what someone else might say: an
# ``own`` entry inside the quotes does not make the sentence the writer's own (``Screener._unframed``).
_QUOTED = re.compile(r"「[^」]*」|『[^』]*』|“[^”]*”|\"[^\"\n]*\"")


class Layer(Protocol):
    """A further opinion on a message. Its result is merged upwards: it may raise, never lower."""

    def screen(self, text: str) -> Screening: ...


def merge(first: Screening, second: Screening) -> Screening:
    """The higher risk and the union of cues; never lowers anything."""
    if second.risk is Risk.NONE:
        return first
    if first.risk is Risk.NONE:
        return second
    return Screening(Risk.highest(first.risk, second.risk), tuple(sorted({*first.cues, *second.cues})))


class Screener:
    """Screens messages for crisis cues. Build it once; ``screen`` is pure and thread-safe."""

    __slots__ = (
        "_compact",
        "_decide",
        "_entries",
        "_layers",
        "_normaliser",
        "_quiet",
        "_roles",
        "_subsumes",
        "_words",
    )

    def __init__(
        self,
        lexicon: Lexicon,
        *,
        s2t: Mapping[str, str] | None = None,
        layers: Sequence[Layer] = (),
    ) -> None:
        self._entries = lexicon.entries
        self._layers = tuple(layers)
        table = build_table(
            s2t if s2t is not None else simplified_to_traditional(),
            lexicon.folds,
            lexicon.separators,
            lexicon.removed,
        )
        self._normaliser = Normaliser(table)
        compact, words = self._index(lexicon.entries)
        self._compact = ViewMatcher(compact, word_bounded=False)
        self._words = ViewMatcher(words, word_bounded=True)
        self._quiet = tuple(entry.role in QUIET for entry in self._entries)
        self._roles = tuple(entry.role for entry in self._entries)
        self._subsumes = tuple(entry.role in SUBSUMING for entry in self._entries)
        self._decide = lru_cache(maxsize=4096)(self._decide_uncached)

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, s2t: Mapping[str, str] | None = None, layers: Sequence[Layer] = ()
    ) -> Screener:
        """Build from the parsed TOML lexicon (``tomllib.load`` of ``config/crisis_lexicon.toml``)."""
        return cls(parse_lexicon(data), s2t=s2t, layers=layers)

    @property
    def entries(self) -> tuple[Entry, ...]:
        return self._entries

    def with_layers(self, *layers: Layer) -> Screener:
        """A screener that also asks ``layers``; the lexicon's alerts always stand."""
        clone = object.__new__(Screener)
        for name in Screener.__slots__:
            setattr(clone, name, getattr(self, name))
        clone._layers = (*self._layers, *layers)
        return clone

    def normalise(self, text: str) -> str:
        """The compact view of ``text`` (what the Chinese patterns are matched against)."""
        return self._normaliser.compact(text)

    def screen(self, text: str) -> Screening:
        result = self._screen_lexicon(text)
        for layer in self._layers:
            result = merge(result, layer.screen(text))
        return result

    def _screen_lexicon(self, text: str) -> Screening:
        fired = self._fired_in(text)
        if not fired:
            return NO_RISK
        if any(self._roles[i] is Role.FRAME for i in fired):
            fired = self._unframed(text, fired)
        return self._decide(frozenset(fired))

    def _fired_in(self, text: str) -> set[int]:
        spaced = text.translate(self._normaliser.table)
        fired = _fired(self._compact.hits(spaced.replace(" ", "")), self._quiet, self._subsumes)
        fired |= _fired(self._words.hits(spaced), self._quiet, self._subsumes)
        return fired

    def _unframed(self, text: str, fired: set[int]) -> set[int]:
        """``fired`` less the intent, method, mention and hint entries that fire only in sentences
        framed as a notice, a story or a case at work (a frame entry and no ``own`` entry in the same
        sentence outside quotation marks: a notice quoting 「我不想活了」 is still a notice). Entries of level imminent are never silenced; neither is what fires across
        sentences."""
        framed: set[int] = set()
        free: set[int] = set()
        for sentence in _SENTENCE.split(text):
            here = self._fired_in(sentence) if sentence.strip() else set()
            roles = {self._roles[i] for i in here}
            silenced = Role.FRAME in roles and (
                Role.OWN not in roles or not self._owned(_QUOTED.sub("，", sentence))
            )
            for i in here:
                if silenced and self._roles[i] in FRAMED and self._entries[i].level is not Risk.IMMINENT:
                    framed.add(i)
                else:
                    free.add(i)
        return fired - (framed - free)

    def _owned(self, unquoted: str) -> bool:
        """An ``own`` entry fires in ``unquoted`` (a sentence with its quotations taken out)."""
        return any(self._roles[i] is Role.OWN for i in self._fired_in(unquoted))

    def _decide_uncached(self, fired: frozenset[int]) -> Screening:
        entries = [self._entries[i] for i in fired]
        context = any(e.role is Role.CONTEXT or e.role is Role.FRAME for e in entries)
        live = [e for e in entries if not (context and e.role in CONTEXTUAL)]
        alarms = [e for e in live if e.role in ALERTING and e.role is not Role.HINT]
        hints = [e for e in live if e.role is Role.HINT]
        if len(hints) >= 2:
            alarms.extend(hints)
        if not alarms:
            distress = sorted(e.id for e in live if e.role is Role.DISTRESS)
            return Screening(Risk.DISTRESS, tuple(distress)) if distress else NO_RISK
        concrete = [e for e in live if e.role in CONCRETE]
        imminent = any(a.level is Risk.IMMINENT for a in alarms) or any(
            c is not a for a in alarms for c in concrete
        )
        cues = tuple(sorted({e.id for e in entries}))
        return Screening(Risk.IMMINENT if imminent else Risk.ELEVATED, cues)

    def _index(self, entries: Iterable[Entry]) -> tuple[dict[str, int], dict[str, int]]:
        compact: dict[str, int] = {}
        words: dict[str, int] = {}
        for index, entry in enumerate(entries):
            for raw in entry.patterns:
                canonical = self._normaliser.pattern(raw)
                if not canonical:
                    raise LexiconError(f"entry {entry.id!r}: pattern {raw!r} is empty once normalised")
                if _LATIN.fullmatch(canonical):
                    _claim(words, canonical, index, entry, self._entries)
                    if len(canonical.replace(" ", "")) >= _COMPACT_LATIN_MIN:
                        _claim(compact, canonical.replace(" ", ""), index, entry, self._entries)
                else:
                    _claim(compact, canonical.replace(" ", ""), index, entry, self._entries)
        return compact, words


def _claim(index: dict[str, int], pattern: str, at: int, entry: Entry, entries: Sequence[Entry]) -> None:
    owner = index.setdefault(pattern, at)
    if owner != at:
        raise LexiconError(
            f"entry {entry.id!r}: pattern {pattern!r} already belongs to {entries[owner].id!r}"
        )


def _fired(hits: list[Hit], quiet: tuple[bool, ...], subsumes: tuple[bool, ...]) -> set[int]:
    """Entry indexes of the hits that count.

    A hit does not count when it lies entirely inside an idiom or negation hit (silenced), or inside a
    longer intent or plan hit of another entry (it is a word of that phrase: 安眠藥 in 存了很多安眠藥).
    """
    if not hits:
        return set()
    if len(hits) == 1:
        index = hits[0][2]
        return set() if quiet[index] else {index}
    covers = [(s, e, i) for s, e, i in hits if quiet[i] or subsumes[i]]
    if not covers:
        return {i for _, _, i in hits}
    return {
        i
        for s, e, i in hits
        if not quiet[i]
        and not any(
            cs <= s and e <= ce and ci != i and (quiet[ci] or ce - cs > e - s) for cs, ce, ci in covers
        )
    }
