"""Errors of the mail adapters, one sentence each (the CLI prints them as they are).

    MailError                 any failure of the mail adapters
     ├── MailboxUnavailable   the IMAP server cannot be reached, times out or breaks the protocol
     ├── MailboxAuthFailed    the IMAP server refused the login
     └── MailSendFailed       the SMTP server could not be reached or refused the message

Library exceptions (aioimaplib, aiosmtplib, OSError, timeouts) are mapped to these in one place per
adapter (`imap._map_error`, `smtp._map_error`) with ``raise ... from exc``, so the cause is kept.
"""

from __future__ import annotations

import os
import socket

from hotline.errors import ChannelError


class MailError(ChannelError):
    """Base of every mail adapter error."""


class MailboxUnavailable(MailError):
    """The IMAP server cannot be reached, did not answer in time, or answered nonsense."""


class MailboxAuthFailed(MailError):
    """The IMAP server refused the configured user and password."""


class MailSendFailed(MailError):
    """The SMTP server could not be reached or did not accept the message.

    ``temporary`` is True when trying again later may succeed (network trouble, 4xx replies),
    False when the server refused for good (5xx replies, failed authentication).
    """

    def __init__(self, message: str, *, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary


def os_error_reason(exc: BaseException) -> str:
    """A short lower-case reason for a network error: "connection refused", "name or service not known"."""
    if isinstance(exc, socket.gaierror) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, OSError) and exc.errno and exc.errno > 0:
        return os.strerror(exc.errno).lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return (str(exc) or type(exc).__name__).lower()
