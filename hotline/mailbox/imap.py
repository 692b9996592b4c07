"""The IMAP poller (aioimaplib): fetch every new message of one mailbox and hand it to a `MailSink`.

- Resumes from the sink's cursor (UIDVALIDITY, last UID); a UIDVALIDITY change starts from the
  beginning (the sink's dedup keys prevent duplicates).
- Fetches ``UID FETCH <set> (UID INTERNALDATE BODY.PEEK[])`` in batches of at most 200 UIDs
  (aioimaplib parses a response recursively, one frame per line); BODY.PEEK never sets \\Seen and
  nothing is ever flagged, moved or deleted.
- Every command runs under a timeout: a dropped connection can leave a command waiting forever.
- `run` IDLEs when the server can (re-issued at least every 29 minutes), polls otherwise, and
  reconnects with capped exponential backoff.
- aioimaplib's, the network's and the timeouts' errors become `MailboxUnavailable` or
  `MailboxAuthFailed` in one place, `_map_error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import aioimaplib

from hotline.mailbox.errors import MailboxAuthFailed, MailboxUnavailable, MailError, os_error_reason
from hotline.mailbox.ports import FetchedMail, MailCursorStore, MailSink

log = logging.getLogger(__name__)

MAX_BATCH = 200
MAX_IDLE_SECONDS = 29 * 60  # RFC 2177: servers may drop an IDLE after 30 minutes

Security = Literal["tls", "starttls", "none"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ImapConfig:
    host: str
    user: str
    password: str = field(repr=False)
    port: int = 993
    security: Security = "tls"
    mailbox: str = "INBOX"
    connect_timeout: float = 15.0  # TCP + TLS + greeting
    command_timeout: float = 30.0  # any command; FETCH: without a byte arriving
    idle_seconds: float = MAX_IDLE_SECONDS  # re-issue IDLE after this long (capped at 29 min)
    poll_interval: float = 60.0  # without IDLE
    backoff_initial: float = 1.0
    backoff_max: float = 300.0
    batch_size: int = MAX_BATCH  # capped at 200
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)


_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_FETCH_START = re.compile(rb"^(?:\* )?\d+ FETCH \(")
_UID = re.compile(rb"\bUID (\d+)")
_INTERNALDATE = re.compile(
    rb'INTERNALDATE "\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"'
)
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m.encode(): i for i, m in enumerate(_MONTH_NAMES, 1)}


def parse_internaldate(meta: bytes) -> datetime | None:
    """The INTERNALDATE of a FETCH response line as an aware datetime, or None."""
    match = _INTERNALDATE.search(meta)
    if match is None or match.group(2).title() not in _MONTHS:
        return None
    day, mon, year, hh, mm, ss, sign, oh, om = match.groups()
    offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == b"-" else 1)
    try:
        return datetime(
            int(year), _MONTHS[mon.title()], int(day), int(hh), int(mm), int(ss), tzinfo=timezone(offset)
        )
    except ValueError:
        return None


def parse_fetch_lines(lines: Sequence[bytes | bytearray]) -> list[FetchedMail]:
    """Messages of a ``UID FETCH (UID INTERNALDATE BODY.PEEK[])`` response as aioimaplib returns it:
    ``bytes`` lines of protocol text, each message literal as one ``bytearray``, the tagged status
    text last. Items may come in any order, before or after the literal; a FETCH without a body
    (an unsolicited flag update) is skipped."""
    out: list[FetchedMail] = []
    meta = b""
    body: bytes | None = None

    def finish() -> None:
        uid = _UID.search(meta)
        when = parse_internaldate(meta)
        if uid is not None and body is not None and when is not None:
            out.append(FetchedMail(int(uid.group(1)), when, body))

    for line in lines[:-1] if lines else ():
        if isinstance(line, bytearray):
            body = bytes(line)
            continue
        if _FETCH_START.match(line):
            finish()
            meta, body = line, None
        else:
            meta += b" " + line
            if body is None and re.search(rb"BODY\[\] NIL", line):
                body = b""
    finish()
    return sorted({m.uid: m for m in out}.values(), key=lambda m: m.uid)


def uid_set(uids: Sequence[int]) -> str:
    """``1:3,7,9:10`` from sorted UIDs."""
    ranges: list[str] = []
    start = prev = uids[0]
    for uid in [*uids[1:], None]:
        if uid is not None and uid == prev + 1:
            prev = uid
            continue
        ranges.append(str(start) if start == prev else f"{start}:{prev}")
        if uid is not None:
            start = prev = uid
    return ",".join(ranges)


def _map_error(config: ImapConfig, exc: BaseException, doing: str) -> MailError:
    """The one place where aioimaplib's, the network's and the timeouts' errors become ours."""
    where = f"{config.host}:{config.port}"
    if isinstance(exc, MailError):
        return exc
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return MailboxUnavailable(
            f"TLS with IMAP server {where} failed: {getattr(exc, 'reason', None) or exc}"
        )
    if isinstance(exc, TimeoutError | aioimaplib.CommandTimeout):
        return MailboxUnavailable(f"IMAP server {where} did not answer in time ({doing})")
    if isinstance(exc, OSError):
        return MailboxUnavailable(f"cannot reach IMAP server {where}: {os_error_reason(exc)}")
    if isinstance(exc, aioimaplib.AioImapException):
        return MailboxUnavailable(f"IMAP server {where} answered unexpectedly ({doing}): {exc}")
    return MailboxUnavailable(f"IMAP conversation with {where} failed ({doing}): {type(exc).__name__}: {exc}")


class ImapPoller:
    """Fetches new mail of ``config.mailbox`` into ``sink``, resuming from ``cursors``.

    Use as ``async with ImapPoller(...) as poller`` (or call `aclose`)."""

    def __init__(
        self,
        config: ImapConfig,
        cursors: MailCursorStore,
        sink: MailSink,
        *,
        on_error: Callable[[Exception, float], None] | None = None,
    ) -> None:
        """``on_error(exc, retry_in_seconds)`` is told of every failed poll in `run` (status, metrics)."""
        self.config = config
        self._on_error = on_error
        self._cursors = cursors
        self._sink = sink
        self._client: aioimaplib.IMAP4 | None = None
        self._lost: asyncio.Event | None = None
        self._uidvalidity = 0
        self.connections = 0  # how many times a connection was opened (for tests and logs)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ---- commands under a timeout ---------------------------------------------------------------
    async def _call(self, awaitable: Awaitable[T], doing: str, limit: float | None = None) -> T:
        try:
            return await asyncio.wait_for(awaitable, limit or self.config.command_timeout)
        except (OSError, TimeoutError, aioimaplib.AioImapException, ssl.SSLError) as exc:
            raise _map_error(self.config, exc, doing) from exc

    @staticmethod
    def _ok(response: Any) -> bool:
        return getattr(response, "result", None) == "OK"

    # ---- connection --------------------------------------------------------------------------
    async def _connect(self) -> aioimaplib.IMAP4:
        cfg = self.config
        lost = asyncio.Event()
        context: ssl.SSLContext | None = None
        if cfg.security != "none":
            context = cfg.ssl_context or ssl.create_default_context()
        client = aioimaplib.IMAP4(
            host=cfg.host,
            port=cfg.port,
            timeout=cfg.command_timeout,
            conn_lost_cb=lambda _exc: lost.set(),
            ssl_context=context if cfg.security == "tls" else None,
        )
        self._client, self._lost = client, lost
        self.connections += 1
        await self._call(
            client.wait_hello_from_server(), "waiting for the greeting", limit=cfg.connect_timeout
        )
        if cfg.security == "starttls":
            assert context is not None
            await self._call(self._starttls(client, context), "STARTTLS", limit=cfg.connect_timeout)
        response = await self._call(client.login(cfg.user, cfg.password), "LOGIN")
        if not self._ok(response):
            raise MailboxAuthFailed(f"IMAP login failed for user {cfg.user}")
        return client

    async def _starttls(self, client: aioimaplib.IMAP4, context: ssl.SSLContext) -> None:
        """aioimaplib has no STARTTLS: send the command, then upgrade the transport in place."""
        protocol = client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise MailboxUnavailable(
                f"IMAP server {self.config.host}:{self.config.port} does not offer STARTTLS"
            )
        response = await protocol.execute(
            aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        )
        if not self._ok(response):
            raise MailboxUnavailable(f"IMAP server {self.config.host}:{self.config.port} refused STARTTLS")
        loop = asyncio.get_running_loop()
        protocol.transport = await loop.start_tls(
            protocol.transport, protocol, context, server_hostname=self.config.host
        )
        await protocol.capability()  # capabilities may change after TLS (RFC 3501 6.2.1)

    async def _select(self, client: aioimaplib.IMAP4) -> int:
        response = await self._call(client.select(self.config.mailbox), f"SELECT {self.config.mailbox}")
        if not self._ok(response):
            raise MailboxUnavailable(
                f"IMAP mailbox {self.config.mailbox!r} cannot be opened on "
                f"{self.config.host}:{self.config.port}"
            )
        for line in response.lines:
            match = _UIDVALIDITY.search(bytes(line))
            if match:
                return int(match.group(1))
        raise MailboxUnavailable(f"IMAP server {self.config.host}:{self.config.port} sent no UIDVALIDITY")

    async def _disconnect(self) -> None:
        client, lost = self._client, self._lost
        self._client = self._lost = None
        if client is None:
            return
        transport = client.protocol.transport
        if transport is not None and lost is not None and not lost.is_set():
            with contextlib.suppress(Exception):
                if client.has_pending_idle():
                    client.idle_done()
                await asyncio.wait_for(client.logout(), 1.0)
            transport.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), 2.0)
        for task in [*client.tasks, *client.protocol.tasks]:
            task.cancel()
        if client._idle_waiter is not None:
            client._idle_waiter.cancel()
        if not client._client_task.done():
            client._client_task.cancel()

    async def aclose(self) -> None:
        await self._disconnect()

    async def _ensure(self) -> aioimaplib.IMAP4:
        if self._client is not None and self._lost is not None and self._lost.is_set():
            await self._disconnect()
        if self._client is None:
            try:
                client = await self._connect()
            except BaseException:
                await self._disconnect()
                raise
        else:
            client = self._client
        return client

    # ---- polling ------------------------------------------------------------------------------
    async def poll_once(self) -> int:
        """Fetch everything new into the sink, in batches; return how many messages were handed over.

        Raises MailboxUnavailable / MailboxAuthFailed; whatever the sink raises passes through (the
        cursor then stays where the sink left it, and the next poll resumes from there)."""
        try:
            return await self._poll()
        except MailError:
            await self._disconnect()
            raise

    async def _poll(self) -> int:
        client = await self._ensure()
        uidvalidity = await self._select(client)
        cursor = await self._cursors.load_cursor(self.config.mailbox)
        last = cursor[1] if cursor is not None and cursor[0] == uidvalidity else 0
        if cursor is not None and cursor[0] != uidvalidity:
            log.warning(
                "UIDVALIDITY of %s changed (%s -> %s): fetching it all again",
                self.config.mailbox,
                cursor[0],
                uidvalidity,
            )
        response = await self._call(client.uid_search("UID", f"{last + 1}:*", charset=None), "UID SEARCH")
        if not self._ok(response):
            raise MailboxUnavailable(f"IMAP server {self.config.host}:{self.config.port} refused UID SEARCH")
        uids = sorted(
            {
                int(n)
                for line in response.lines[:-1]
                if isinstance(line, bytes)
                for n in line.split()
                if n.isdigit()
            }
        )
        uids = [u for u in uids if u > last]  # "n:*" always matches the highest UID
        size = max(1, min(self.config.batch_size, MAX_BATCH))
        total = 0
        for start in range(0, len(uids), size):
            chunk = uids[start : start + size]
            response = await self._call(
                client.uid("fetch", uid_set(chunk), "(UID INTERNALDATE BODY.PEEK[])"),
                f"UID FETCH of {len(chunk)} messages",
                limit=self.config.command_timeout * 4,
            )
            if not self._ok(response):
                raise MailboxUnavailable(
                    f"IMAP server {self.config.host}:{self.config.port} refused UID FETCH"
                )
            messages = [m for m in parse_fetch_lines(response.lines) if m.uid > last]
            if messages:
                await self._sink.store_batch(self.config.mailbox, uidvalidity, messages)
                total += len(messages)
        return total

    # ---- running ------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set: IDLE between polls when the server can, else every
        ``poll_interval`` s; on any error reconnect after a capped exponential backoff."""
        delay = self.config.backoff_initial
        try:
            while not stop.is_set():
                try:
                    count = await self.poll_once()
                    if count:
                        log.info("fetched %d new messages from %s", count, self.config.mailbox)
                    delay = self.config.backoff_initial
                    client = self._client
                    if client is not None and client.has_capability("IDLE"):
                        await self._idle(client, stop)
                    else:
                        await _wait(stop, self.config.poll_interval)
                except Exception as exc:  # the sink's errors too: keep polling, never die
                    pause = delay * random.uniform(0.9, 1.1)
                    log.warning("mail poll failed, retrying in %.1f s: %s", pause, exc)
                    if self._on_error is not None:
                        self._on_error(exc, pause)
                    await self._disconnect()
                    await _wait(stop, pause)
                    delay = min(delay * 2, self.config.backoff_max)
        finally:
            await self._disconnect()

    async def _idle(self, client: aioimaplib.IMAP4, stop: asyncio.Event) -> None:
        """One IDLE: until the server reports something, ``idle_seconds`` pass, or ``stop``."""
        seconds = max(0.01, min(self.config.idle_seconds, MAX_IDLE_SECONDS))
        idle = await self._call(client.idle_start(timeout=seconds), "IDLE")
        push = asyncio.ensure_future(client.wait_server_push(timeout=seconds + self.config.command_timeout))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({push, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (push, stopping):
                task.cancel()
            await asyncio.gather(push, stopping, return_exceptions=True)
        if client.has_pending_idle():
            client.idle_done()
        await self._call(idle, "ending IDLE")


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
