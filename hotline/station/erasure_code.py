"""The one-time code that confirms an erasure asked for by e-mail (issue 19).

A From line is forged in a moment, so a mail saying 「確認刪除」 proves nothing by itself. The mail that
explains the erasure goes to the address that asked, and carries a random code; only a mail from that
address that carries the code confirms (in its new text or in the quoted explanation, or its subject).
The code is drawn with ``secrets`` (12 characters of the case-code alphabet, about 59 bits), kept only as
its sha-256 (``forget_tokens``), holds for ``[email] forget_code_hours`` and is spent by its first use.
"""

from __future__ import annotations

import hashlib
import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud or retyped without doubt
GROUPS, GROUP = 3, 4
MAX_CANDIDATES = 20  # codes looked up per mail, at most (a long mail cannot make a long query)

_CHAR = "[2-9A-HJKMNP-Z]"
CODE_PATTERN = re.compile(
    rf"(?<![0-9A-Z])({_CHAR}{{{GROUP}}})[-‐－ ]?({_CHAR}{{{GROUP}}})[-‐－ ]?({_CHAR}{{{GROUP}}})(?![0-9A-Z])",
    re.IGNORECASE,
)


def new_code() -> str:
    """A fresh code, e.g. ``K7PQ-M3XZ-R8WT``."""
    chars = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP))
    return "-".join(chars[i : i + GROUP] for i in range(0, len(chars), GROUP))


def hash_code(code: str) -> str:
    """What ``forget_tokens`` keeps instead of the code (sha-256 hex of its normal form)."""
    return hashlib.sha256(code.upper().encode("ascii")).hexdigest()


def codes_in(*texts: str) -> tuple[str, ...]:
    """The codes a mail carries, in normal form (upper case, dashes), first ones first, without repeats."""
    found: dict[str, None] = {}
    for text in texts:
        for match in CODE_PATTERN.finditer(text):
            found["-".join(match.groups()).upper()] = None
            if len(found) >= MAX_CANDIDATES:
                return tuple(found)
    return tuple(found)


def without_codes(line: str) -> str:
    """A line with any code taken out (so that 「確認刪除 K7PQ-M3XZ-R8WT」 still reads as the keyword)."""
    return CODE_PATTERN.sub("", line)
