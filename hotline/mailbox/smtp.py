"""Sending one message by SMTP with aiosmtplib; aiosmtplib's errors become `MailSendFailed`.

The message is serialised here with `compose.render_bytes` (lines up to 998 characters, so long
Message-IDs are never folded into encoded words) and handed to aiosmtplib as bytes with an explicit
envelope; Bcc never reaches the wire. Retrying is the caller's job (``MailSendFailed.temporary``).
"""

from __future__ import annotations

import copy
import logging
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Literal

import aiosmtplib

from hotline.mailbox.compose import render_bytes
from hotline.mailbox.errors import MailSendFailed, os_error_reason

log = logging.getLogger(__name__)

Security = Literal["tls", "starttls", "none"]


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int = 587
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    security: Security = "starttls"
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)


def _envelope(message: EmailMessage) -> tuple[str, list[str]]:
    sender = getaddresses(message.get_all("Sender", []) or message.get_all("From", []))
    recipients = getaddresses(
        [*message.get_all("To", []), *message.get_all("Cc", []), *message.get_all("Bcc", [])]
    )
    if not sender or not sender[0][1]:
        raise MailSendFailed("the message has no sender address (From)", temporary=False)
    addresses = list(dict.fromkeys(addr for _, addr in recipients if addr))
    if not addresses:
        raise MailSendFailed("the message has no recipient address (To, Cc or Bcc)", temporary=False)
    return sender[0][1], addresses


def _map_error(config: SmtpConfig, exc: Exception) -> MailSendFailed:
    """The one place where aiosmtplib's and the network's errors become ours."""
    where = f"{config.host}:{config.port}"
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return MailSendFailed(f"SMTP login failed for user {config.user}", temporary=False)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        first = exc.recipients[0] if exc.recipients else None
        detail = f": {first.code} {first.message}" if first else ""
        return MailSendFailed(
            f"SMTP server {where} refused the recipient{detail}", temporary=all(400 <= c < 500 for c in codes)
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return MailSendFailed(
            f"SMTP server {where} refused the message: {exc.code} {exc.message}",
            temporary=400 <= exc.code < 500,
        )
    if isinstance(exc, TimeoutError):
        return MailSendFailed(
            f"SMTP server {where} did not answer within {config.timeout:g} s", temporary=True
        )
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return MailSendFailed(f"SMTP server {where} closed the connection unexpectedly", temporary=True)
    if isinstance(exc, aiosmtplib.SMTPConnectError | OSError):
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        return MailSendFailed(f"cannot reach SMTP server {where}: {os_error_reason(cause)}", temporary=True)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return MailSendFailed(f"SMTP server {where} does not support what is needed: {exc}", temporary=False)
    return MailSendFailed(f"sending by SMTP server {where} failed: {exc}", temporary=True)


async def send(config: SmtpConfig, message: EmailMessage) -> None:
    """Send ``message`` to its To, Cc and Bcc recipients. Raises `MailSendFailed` (one sentence)."""
    sender, recipients = _envelope(message)
    wire = copy.copy(message)
    del wire["Bcc"]
    async with SmtpSession(config) as session:
        await session.send_raw(sender, recipients, render_bytes(wire))


class SmtpSession:
    """One SMTP connection for several messages (the outbox sends its batch over one session).

    ``send_raw`` sends bytes exactly as stored (no re-serialisation), so a retried message is the same
    message, with the same Message-ID, on the wire.
    """

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._client: aiosmtplib.SMTP | None = None

    async def __aenter__(self) -> SmtpSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        config = self.config
        client = aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            username=config.user or None,
            password=config.password if config.user else None,
            use_tls=config.security == "tls",
            start_tls=config.security == "starttls",
            tls_context=config.ssl_context,
            timeout=config.timeout,
        )
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise _map_error(config, exc) from exc
        return client

    async def send_raw(self, sender: str, recipients: list[str], data: bytes) -> None:
        if self._client is None or not self._client.is_connected:
            self._client = await self._connect()
        try:
            errors, _ = await self._client.sendmail(sender, recipients, data)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close()
            raise _map_error(self.config, exc) from exc
        if errors:  # some recipients refused, others accepted: not retried (it would send twice)
            log.warning(
                "SMTP server %s:%s refused %d of %d recipients",
                self.config.host,
                self.config.port,
                len(errors),
                len(recipients),
            )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
