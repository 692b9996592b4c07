"""Local mail for the demo, in this process, on 127.0.0.1 only.

- :class:`LocalSmtp`: a real SMTP server (aiosmtpd) on a free port that keeps every message the service
  sends, so the service's own SMTP client (aiosmtplib) does the real protocol.
- :class:`LocalInbox`: hands a raw mail to the e-mail station exactly as the IMAP poller does, through
  the one seam every fetcher uses (``MailSink.store_batch`` with a UID and an INTERNALDATE). No IMAP
  server is needed, so the demo runs on a machine without Dovecot.

    async with LocalSmtp() as smtp:          # smtp.host, smtp.port for the settings
        ...
        [ack] = await smtp.wait_for(1, within=10)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import SMTP

from hotline.mailbox.ports import FetchedMail, MailSink


@dataclass(frozen=True)
class SentMail:
    """One message as the SMTP server received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage = field(repr=False)

    @property
    def text(self) -> str:
        """The plain-text body (empty when there is none)."""
        body = self.message.get_body(("plain",))
        return body.get_content() if body is not None else ""


class _Keeper:
    def __init__(self, smtp: LocalSmtp) -> None:
        self.smtp = smtp

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        await self.smtp._keep(SentMail(envelope.mail_from, tuple(envelope.rcpt_tos), raw, message))
        return "250 Message accepted for delivery"


class LocalSmtp:
    """An aiosmtpd server on 127.0.0.1 (a free port) in the running event loop; keeps what it receives."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.received: list[SentMail] = []
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> LocalSmtp:
        loop = asyncio.get_running_loop()
        keeper = _Keeper(self)
        self._server = await loop.create_server(
            lambda: SMTP(keeper, hostname="localhost", loop=loop), self.host, 0
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _keep(self, mail: SentMail) -> None:
        async with self._changed:
            self.received.append(mail)
            self._changed.notify_all()

    async def wait_for(self, count: int, within: float = 10.0) -> list[SentMail]:
        """The first ``count`` messages once they have arrived; TimeoutError after ``within`` s."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self.received) >= count)
        return self.received[:count]


class LocalInbox:
    """The station's inbox without an IMAP server: each delivered mail gets the next UID and the
    moment it "reached the mailbox" (INTERNALDATE), and goes to ``sink`` as one batch."""

    def __init__(self, sink: MailSink, mailbox: str = "INBOX", uidvalidity: int = 1) -> None:
        self.sink = sink
        self.mailbox = mailbox
        self.uidvalidity = uidvalidity
        self.last_uid = 0

    async def deliver(self, raw: bytes, received_at: datetime) -> None:
        await self.deliver_many([raw], received_at)

    async def deliver_many(self, raws: Sequence[bytes], received_at: datetime) -> None:
        batch = []
        for raw in raws:
            self.last_uid += 1
            batch.append(FetchedMail(uid=self.last_uid, internaldate=received_at, raw=raw))
        await self.sink.store_batch(self.mailbox, self.uidvalidity, batch)
