"""Plain domain vocabulary shared by every part: risks, channels, statuses, areas, outcomes.

Pure values only; nothing here performs I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Risk(StrEnum):
    """Risk of a message or a case, ordered none < distress < elevated < imminent.

    ``distress`` is heavy distress with no sign of danger: the case goes first in the queue, and no
    crisis reply or alert follows. ``elevated`` and ``imminent`` are crises."""

    NONE = "none"
    DISTRESS = "distress"
    ELEVATED = "elevated"
    IMMINENT = "imminent"

    @property
    def rank(self) -> int:
        return _RISK_RANK[self]

    @staticmethod
    def highest(*risks: Risk) -> Risk:
        return max(risks, key=lambda r: r.rank, default=Risk.NONE)


_RISK_RANK = {Risk.NONE: 0, Risk.DISTRESS: 1, Risk.ELEVATED: 2, Risk.IMMINENT: 3}


@dataclass(frozen=True, slots=True)
class Screening:
    """Result of screening one text: the risk and the cues (lexicon entry ids) that fired."""

    risk: Risk
    cues: tuple[str, ...] = ()

    @property
    def is_crisis(self) -> bool:
        return self.risk is Risk.ELEVATED or self.risk is Risk.IMMINENT


NO_RISK = Screening(Risk.NONE, ())


class Channel(StrEnum):
    TELEGRAM = "telegram"
    EMAIL = "email"
    LINE = "line"


class CaseStatus(StrEnum):
    """Life of a case: waiting in the queue -> active with a counselor -> closed."""

    WAITING = "waiting"
    ACTIVE = "active"
    CLOSED = "closed"


class Category(StrEnum):
    """The eight information areas of the seeds (Taoyuan 7858)."""

    LEGAL = "legal"
    CAREER = "career"
    FAMILY = "family"
    FINANCE = "finance"
    MENTAL = "mental"
    MEDICAL = "medical"
    WORK_STRESS = "work_stress"
    LIFE_EVENTS = "life_events"


class Outcome(StrEnum):
    """How a counselor ends a case."""

    RESOLVED = "resolved"
    FACE_TO_FACE = "face_to_face"
    MEDICAL = "medical"
    CRISIS_HANDLED = "crisis_handled"


class Role(StrEnum):
    COUNSELOR = "counselor"
    SUPERVISOR = "supervisor"


CASE_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud and typed on a phone
CASE_CODE_PATTERN = r"HL-[2-9A-HJKMNP-Z]{6}"


def make_case_code(random_index: Callable[[int], int]) -> str:
    """A short human-friendly case code such as ``HL-7KQ2MX``; ``random_index(n)`` picks in range(n)."""
    n = len(CASE_CODE_ALPHABET)
    return "HL-" + "".join(CASE_CODE_ALPHABET[random_index(n)] for _ in range(6))


def email_identity(address: str) -> str:
    """The form of an e-mail address that its pseudonym is made of (one person, however they type it)."""
    return address.strip().lower()
