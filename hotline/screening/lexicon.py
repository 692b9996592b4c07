"""The crisis lexicon as typed values, parsed from already-loaded TOML data.

``parse_lexicon`` validates the mapping (``config/crisis_lexicon.toml``, format documented in that file's
header) and names the offending entry in every error. Nothing here reads files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hotline.domain import Risk


class LexiconError(ValueError):
    """The lexicon data is malformed; the message names the entry and the key."""


class Role(StrEnum):
    """What a matched entry does; see the header of ``config/crisis_lexicon.toml``."""

    INTENT = "intent"  # a wish or intent to die, harm, kill, or being harmed: alerts alone
    PLAN = "plan"  # preparations, farewells, settling affairs: alerts alone, and is concrete
    METHOD = "method"  # a method named without intent (跳樓, 燒炭): alerts unless a context is present
    MENTION = "mention"  # the bare topic (自殺, 輕生): alerts unless a context is present
    HINT = "hint"  # weak farewell words: alert only when two different hints meet, and no context
    MEANS = "means"  # concrete, never alerts alone (安眠藥, 刀, 繩子)
    PLACE = "place"  # concrete, never alerts alone (頂樓, 橋上, 月台)
    TIME = "time"  # concrete, never alerts alone (今晚, 明天, 等一下)
    CONTEXT = "context"  # news, film, training, professional work: silences method, mention and hint
    FRAME = "frame"  # a notice, a story, a case at work: also silences intent, unless an ``own`` fires
    OWN = "own"  # the writer's own wish to die (我也想死): a frame cannot silence the message; never alerts
    FLAG = "flag"  # adds a cue for the counselor (third party, quoted speech); never changes the risk
    DISTRESS = "distress"  # heavy distress, no sign of danger (撐不下去): risk distress, never an alert
    IDIOM = "idiom"  # harmless phrase; silences every match lying entirely inside it
    NEGATION = "negation"  # negated phrase; same effect as idiom


ALERTING = frozenset({Role.INTENT, Role.PLAN, Role.METHOD, Role.MENTION, Role.HINT})
CONTEXTUAL = frozenset({Role.METHOD, Role.MENTION, Role.HINT})
FRAMED = frozenset({Role.INTENT, Role.METHOD, Role.MENTION, Role.HINT})  # what a frame silences
CONCRETE = frozenset({Role.PLAN, Role.METHOD, Role.MEANS, Role.PLACE, Role.TIME})
QUIET = frozenset({Role.IDIOM, Role.NEGATION})
SUBSUMING = frozenset({Role.INTENT, Role.PLAN})

_ID = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)+")
_ENTRY_KEYS = frozenset({"id", "role", "category", "level", "patterns", "note"})


@dataclass(frozen=True, slots=True)
class Entry:
    """One reviewed lexicon entry: a stable id (the cue), its role and its literal patterns."""

    id: str
    role: Role
    category: str
    level: Risk
    patterns: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class Lexicon:
    entries: tuple[Entry, ...]
    separators: str
    removed: str
    folds: Mapping[str, str]


DEFAULT_SEPARATORS = ' .*·•‧・_-~"^+=|/\\#'
DEFAULT_REMOVED = "'’‘`´"


def parse_lexicon(data: Mapping[str, Any]) -> Lexicon:
    """Validate parsed TOML data and return the lexicon; raise ``LexiconError`` on any defect."""
    normalise = data.get("normalise", {})
    if not isinstance(normalise, Mapping):
        raise LexiconError("[normalise] must be a table")
    separators = normalise.get("separators", DEFAULT_SEPARATORS)
    if not isinstance(separators, str):
        raise LexiconError("[normalise] separators must be a string")
    removed = normalise.get("removed", DEFAULT_REMOVED)
    if not isinstance(removed, str):
        raise LexiconError("[normalise] removed must be a string")
    folds = normalise.get("fold", {})
    if not isinstance(folds, Mapping) or not all(
        isinstance(k, str) and len(k) == 1 and isinstance(v, str) for k, v in folds.items()
    ):
        raise LexiconError("[normalise] fold must map single characters to strings")
    raw_entries = data.get("entry")
    if not isinstance(raw_entries, Sequence) or isinstance(raw_entries, str) or not raw_entries:
        raise LexiconError("the lexicon needs at least one [[entry]]")
    entries: list[Entry] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_entries):
        entry = _parse_entry(index, raw)
        if entry.id in seen:
            raise LexiconError(f"entry {entry.id!r}: duplicate id")
        seen.add(entry.id)
        entries.append(entry)
    return Lexicon(tuple(entries), separators, removed, dict(folds))


def _parse_entry(index: int, raw: object) -> Entry:
    where = f"entry #{index + 1}"
    if not isinstance(raw, Mapping):
        raise LexiconError(f"{where}: must be a table")
    ident = raw.get("id")
    if not isinstance(ident, str) or not _ID.fullmatch(ident):
        raise LexiconError(f"{where}: id must look like 'suicide.wish.die' (got {ident!r})")
    where = f"entry {ident!r}"
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise LexiconError(f"{where}: unknown keys {sorted(unknown)}")
    try:
        role = Role(str(raw.get("role")))
    except ValueError:
        raise LexiconError(f"{where}: role must be one of {[r.value for r in Role]}") from None
    category = raw.get("category", ident.split(".", 1)[0])
    if not isinstance(category, str) or not category:
        raise LexiconError(f"{where}: category must be a non-empty string")
    level_raw = raw.get("level", "elevated")
    if level_raw not in ("elevated", "imminent"):
        raise LexiconError(f"{where}: level must be 'elevated' or 'imminent'")
    level = Risk(level_raw)
    if level is Risk.IMMINENT and role not in ALERTING:
        raise LexiconError(f"{where}: only alerting roles may set level = 'imminent'")
    patterns = raw.get("patterns")
    if (
        not isinstance(patterns, Sequence)
        or isinstance(patterns, str)
        or not patterns
        or not all(isinstance(p, str) and p.strip() for p in patterns)
    ):
        raise LexiconError(f"{where}: patterns must be a non-empty list of non-empty strings")
    note = raw.get("note", "")
    if not isinstance(note, str):
        raise LexiconError(f"{where}: note must be a string")
    return Entry(ident, role, category, level, tuple(patterns), note)
