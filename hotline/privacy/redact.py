"""Secrets never reach the logs: a ``logging.Filter`` that masks them in messages, arguments and tracebacks.

Masked: every configured secret (the bot token, ``HOTLINE_SECRET_KEY``, mail passwords, the webhook
secret), also in URL-encoded form; anything shaped like a Telegram bot token (``123456:AAH...``); and the
path segment after ``/bot`` in a Bot API URL (``https://api.telegram.org/bot<token>/sendMessage``).

The filter formats the record (``msg % args``) and the exception text once, masks them, and stores the
result back (``args`` emptied, ``exc_info`` replaced by the masked ``exc_text``), so no handler or
formatter can see the originals. It never raises: a record whose arguments do not fit its format is
logged with the masked raw format string.

:func:`install` puts the masking into the log record factory, which covers every logger and handler,
also those configured later and loggers that do not propagate. This is a safety net, not the rule: code
must not log secrets, contact identities or message content in the first place, and third-party loggers
(``httpx``, ``telegram``) must stay at WARNING because at DEBUG they log whole updates.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

MASK = "[REDACTED]"
MIN_SECRET_CHARS = 6  # shorter "secrets" would mask ordinary words

# A Telegram bot token: numeric bot id, colon, 35 characters of base64url (30+ to be lenient).
TOKEN_SHAPE = r"\d{5,}:[A-Za-z0-9_-]{30,}"
# The token inside a Bot API URL: /bot<id>:<anything up to the next slash or whitespace>.
BOT_URL = r"(?<=/bot)[^/\s'\"]*:[^/\s'\"]+"
DEFAULT_PATTERNS: tuple[str, ...] = (TOKEN_SHAPE, BOT_URL)


class Redactor:
    """Masks configured secrets and patterns in a string."""

    __slots__ = ("_pattern",)

    def __init__(self, secrets: Iterable[str] = (), patterns: Iterable[str] = DEFAULT_PATTERNS) -> None:
        literals: set[str] = set()
        for secret in secrets:
            if len(secret) >= MIN_SECRET_CHARS:
                literals.update({secret, quote(secret, safe=""), quote(secret)})
        # Longest first, so a secret is masked whole even when another secret is part of it.
        alternatives = [re.escape(s) for s in sorted(literals, key=len, reverse=True)]
        alternatives += list(patterns)
        self._pattern = re.compile("|".join(f"(?:{a})" for a in alternatives)) if alternatives else None

    def __call__(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """A logging filter (for a handler or a logger) that masks secrets in place; always lets the record pass."""

    def __init__(self, secrets: Iterable[str] = (), patterns: Iterable[str] = DEFAULT_PATTERNS) -> None:
        super().__init__()
        self.redact = Redactor(secrets, patterns)

    def filter(self, record: logging.LogRecord) -> bool:
        scrub(record, self.redact)
        return True


_formatter = logging.Formatter()


def scrub(record: logging.LogRecord, redact: Redactor) -> None:
    """Mask ``record``'s message, arguments, exception and stack text in place."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string must not break the caller; keep what can be kept
        message = f"{record.msg} [log arguments could not be formatted]"
    record.msg, record.args = redact(message), ()
    if record.exc_info and record.exc_info[0] is not None:
        try:
            record.exc_text = _formatter.formatException(record.exc_info)
        except Exception:
            record.exc_text = f"{record.exc_info[0].__name__} [traceback could not be formatted]"
    record.exc_info = None
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


_installed: RedactingFilter | None = None
_previous_factory: Any = None


def install(secrets: Iterable[str], patterns: Iterable[str] = DEFAULT_PATTERNS) -> RedactingFilter:
    """Mask ``secrets`` (and token-shaped strings) in every log record from now on; returns the filter.

    Call once at start-up, after settings are loaded, with every secret value (empty ones are ignored).
    Calling again replaces the earlier set; :func:`uninstall` restores the previous record factory.
    """
    global _installed, _previous_factory
    redacting = RedactingFilter([s for s in secrets if s], patterns)
    if _installed is None:
        _previous_factory = logging.getLogRecordFactory()
    base = _previous_factory

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        made: logging.LogRecord = base(*args, **kwargs)
        redacting.filter(made)
        return made

    logging.setLogRecordFactory(factory)
    _installed = redacting
    return redacting


def uninstall() -> None:
    global _installed, _previous_factory
    if _installed is not None:
        logging.setLogRecordFactory(_previous_factory)
        _installed, _previous_factory = None, None


__all__ = ["DEFAULT_PATTERNS", "MASK", "RedactingFilter", "Redactor", "install", "scrub", "uninstall"]
