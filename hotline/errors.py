"""The project's exceptions, rooted at one base error.

    HotlineError
    ├── ConfigError            a setting is missing or wrong; start-up stops with one sentence
    ├── StorageError           the database failed or is unreachable
    ├── ChannelError           an outside channel failed
    │   ├── ChatUnavailable    the Telegram Bot API could not be reached or refused a call
    │   └── MailError          (hotline.mailbox.errors) IMAP/SMTP trouble
    └── AccessDenied           a command outside the caller's role

Adapters map their library's errors to these in one place and keep the cause (``raise ... from exc``);
flows never see library exceptions.
"""

from __future__ import annotations


class HotlineError(Exception):
    """Base of every error hotline raises on purpose. ``str(err)`` is one sentence for a human."""


class ConfigError(HotlineError):
    """A setting is missing or has a wrong value."""


class StorageError(HotlineError):
    """The database could not do what was asked."""


class ChannelError(HotlineError):
    """An outside channel (Telegram, mail) failed."""


class ChatUnavailable(ChannelError):
    """The Telegram Bot API could not be reached or refused a call."""


class AccessDenied(HotlineError):
    """A command was used outside the caller's role."""
