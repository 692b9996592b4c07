"""One compiled regular expression per view: every lexicon pattern in a single trie.

A plain alternation of hundreds of literals makes ``re`` try each one at every position; a trie
(``想(?:死|消失|...)``) tries only the branches that share the characters already read. The whole trie
sits in a lookahead, so a search finds, at every position, the longest pattern that starts there,
including matches that overlap (an idiom and the crisis word inside it both show up). The leading
character class lets ``re`` skip, in C, the positions where no pattern can start.

Cost: in Chinese text most positions can start some pattern, so the scan is ~2 µs for a short message.
Anchoring each pattern on its rarest character would cut the candidate positions; not done yet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TypeAlias

Hit: TypeAlias = tuple[int, int, int]  # (start, end, entry index)

_Trie: TypeAlias = dict[str, "_Trie"]
_END = ""


# ``re`` tries the alternatives of a group one after the other; the top level of a large lexicon has
# hundreds. Above this many, the first characters are split in halves, each guarded by a character
# class, so that a position costs a few class tests instead of a scan of every alternative.
_SPLIT_ABOVE = 24


def trie_regex(words: Iterable[str]) -> str:
    """A regex matching exactly ``words``, longest alternative first; a space matches a run of spaces."""
    root: _Trie = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[_END] = {}
    if _END in root:
        raise ValueError("empty pattern")
    return _emit_split(root, sorted(root))


def _emit_split(root: _Trie, firsts: list[str]) -> str:
    if len(firsts) <= _SPLIT_ABOVE:
        return _emit({ch: root[ch] for ch in firsts})
    half = len(firsts) // 2
    left, right = firsts[:half], firsts[half:]
    guard = "[" + "".join(re.escape(ch) for ch in left) + "]"
    return f"(?:(?={guard}){_emit_split(root, left)}|{_emit_split(root, right)})"


def _atom(ch: str) -> str:
    return " +" if ch == " " else re.escape(ch)


def _emit(node: _Trie) -> str:
    leaves = sorted(ch for ch, child in node.items() if ch != _END and set(child) == {_END})
    branches = sorted(ch for ch, child in node.items() if ch != _END and set(child) != {_END})
    alternatives = [_atom(ch) + _emit(node[ch]) for ch in branches]
    single = [ch for ch in leaves if ch != " "]
    if " " in leaves:
        alternatives.append(" +")
    if len(single) > 1:
        alternatives.append("[" + "".join(re.escape(ch) for ch in single) + "]")
    elif single:
        alternatives.append(re.escape(single[0]))
    if not alternatives:
        return ""
    body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
    if _END in node:
        return "(?:" + body + ")?"
    return body


class ViewMatcher:
    """Finds lexicon patterns in one normalised view of a message."""

    __slots__ = ("_finditer", "_lookup")

    def __init__(self, patterns: Mapping[str, int], *, word_bounded: bool) -> None:
        self._lookup = dict(patterns)
        if not patterns:
            self._finditer = re.compile(r"(?!)()").finditer
            return
        firsts = "".join(sorted({re.escape(p[0]) for p in patterns}))
        body = trie_regex(patterns)
        if word_bounded:
            regex = f"(?=[{firsts}])(?<![a-z0-9])(?=({body})(?![a-z0-9]))"
        else:
            regex = f"(?=[{firsts}])(?=({body}))"
        self._finditer = re.compile(regex).finditer

    def hits(self, text: str) -> list[Hit]:
        lookup = self._lookup
        found: list[Hit] = []
        for match in self._finditer(text):
            start, end = match.span(1)
            word = match[1]
            index = lookup.get(word)
            if index is None:  # a run of several spaces inside a Latin pattern
                index = lookup[" ".join(word.split())]
            found.append((start, end, index))
        return found
