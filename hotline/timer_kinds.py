"""The kinds of durable timer: a closed set, so a misspelt kind fails the type check, not a crisis.

A timer row stores its kind as text; :func:`hotline.storage.repo.schedule` refuses anything that is not
a :class:`TimerKind`, :class:`hotline.timers.TimerService` refuses a handler for one, and a due timer
whose kind has no handler stays pending and is reported (``timers.py``).
"""

from __future__ import annotations

from enum import StrEnum


class TimerKind(StrEnum):
    SESSION_REMIND = "session.remind"  # a chat session has run about 30 minutes: tell its counselor
    CASE_OFFER = "case.offer"  # service hours open: offer a case kept overnight
    CRISIS_ESCALATE = "crisis.escalate"  # an alert nobody acknowledged in time: every supervisor
    CRISIS_RESEND = "crisis.resend"  # an alert that may not have gone out: send it again
    EMAIL_REMIND = "email.remind"  # a working day before an e-mail case's reply-by date
    EMAIL_ESCALATE = "email.escalate"  # an e-mail case's reply-by date has passed: supervisors
    BOOKING_REMINDER = "booking_reminder"  # before a confirmed face-to-face session
    DAILY = "maintenance.daily"  # once a night: expire survey invitations, book the next run

    @classmethod
    def of(cls, value: str) -> TimerKind | None:
        """The kind stored as ``value``, or None when no kind is called that."""
        try:
            return cls(value)
        except ValueError:
            return None
