"""An aiosmtpd SMTP server on 127.0.0.1 (free port) that collects what it receives.

    server = SmtpSink.start()
    await server.wait_for(2, within=5)      # the first two messages, or TimeoutError
    server.fault = Fault.TEMPFAIL           # 451 on DATA; REJECT: 550 on RCPT; AUTH required: see `start`
    server.stop()

aiosmtpd runs in its own thread and event loop (aiosmtpd's Controller), so any test's loop can use it.
"""

from __future__ import annotations

import asyncio
import enum
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.servers.certs import client_context, make_certificate, server_context


class Fault(enum.Enum):
    NONE = "none"
    TEMPFAIL = "451 4.3.0 Temporary failure, try again later"  # at DATA
    REJECT = "550 5.1.1 No such user here"  # at RCPT
    DATA_REJECT = "554 5.6.0 Message refused"  # at DATA


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes  # exactly as received (CRLF line ends)
    message: EmailMessage = field(repr=False)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.sink.fault is Fault.REJECT:
            return Fault.REJECT.value
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.sink.fault in (Fault.TEMPFAIL, Fault.DATA_REJECT):
            self.sink._attempt()
            return str(self.sink.fault.value)
        raw: bytes = envelope.original_content or envelope.content
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.sink._add(Received(envelope.mail_from, tuple(envelope.rcpt_tos), raw, message))
        return "250 Message accepted for delivery"


class _Authenticator:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            self.user,
            self.password,
        )
        return AuthResult(success=ok, handled=False)


class _PortZeroController(Controller):
    """aiosmtpd's Controller cannot bind port 0 by itself: it probes the configured port."""

    def _trigger_server(self) -> None:
        server = cast(asyncio.Server, self.server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpSink:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.attempts = 0  # DATA commands answered with a fault
        self.fault = Fault.NONE
        self._cond = threading.Condition()
        self._controller: _PortZeroController | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.cafile: Path | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    def start(cls, *, auth: tuple[str, str] | None = None) -> SmtpSink:
        """Start on a free port; with ``auth=(user, password)`` the server offers STARTTLS (a
        self-signed certificate: `client_context()` trusts it) and requires AUTH after it."""
        sink = cls()
        kwargs: dict[str, Any] = {}
        if auth is not None:
            sink._tmp = tempfile.TemporaryDirectory(prefix="hotline-smtpd-")
            cert, key = make_certificate(Path(sink._tmp.name))
            sink.cafile = cert
            kwargs.update(
                authenticator=_Authenticator(*auth),
                auth_required=True,
                auth_require_tls=True,
                require_starttls=True,
                tls_context=server_context(cert, key),
            )
        controller = _PortZeroController(_Handler(sink), hostname="127.0.0.1", port=0, **kwargs)
        controller.start()
        sink._controller = controller
        sink.port = controller.port
        return sink

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def client_context(self) -> ssl.SSLContext:
        assert self.cafile is not None, "start(auth=...) makes the certificate"
        return client_context(self.cafile)

    def _add(self, item: Received) -> None:
        with self._cond:
            self.received.append(item)
            self._cond.notify_all()

    def _attempt(self) -> None:
        with self._cond:
            self.attempts += 1
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self.received.clear()
            self.attempts = 0
            self.fault = Fault.NONE

    async def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        """The first ``count`` messages once they have arrived; TimeoutError after ``within`` s."""

        def wait() -> bool:
            with self._cond:
                return self._cond.wait_for(lambda: len(self.received) >= count, within)

        if not await asyncio.to_thread(wait):
            raise TimeoutError(f"expected {count} messages, got {len(self.received)} within {within} s")
        return self.received[:count]
