"""`hotline mail poll --once` with its fetching and parsing in a helper process.

A one-shot poll of a full mailbox is CPU-bound: fetching (aioimaplib's response handling) and parsing
cost about as much as everything this process does with the mails (cases, storage, acknowledgements by
SMTP). The helper does the first half on the machine's other core while this process does the second:
it is started first, logs in while this process starts up, waits for the cursor, then fetches and parses
batch after batch (≤ 200) and sends each back through a pipe; this process stores each batch exactly as
it would have (the cursor moves in the batch's transaction, so a crash loses nothing and duplicates
nothing). The helper is an `ImapPoller` like the one `hotline run` uses, with the same timeouts; its
errors come back as the same one-sentence `MailError`s. The running service keeps polling in process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import pickle
import signal
import struct
import sys
from collections.abc import Sequence
from typing import IO, Any, Protocol

from hotline.mailbox.errors import MailboxAuthFailed, MailboxUnavailable, MailError
from hotline.mailbox.imap import ImapConfig, ImapPoller
from hotline.mailbox.parse import ParsedMail, parse_message
from hotline.mailbox.ports import FetchedMail, MailCursorStore

STOP_SECONDS = 10.0
_HEADER = struct.Struct(">Q")  # each frame: its length, then a pickle
_ERRORS: dict[str, type[MailError]] = {"auth": MailboxAuthFailed, "unavailable": MailboxUnavailable}


class ParsedSink(Protocol):
    async def store_batch(
        self,
        mailbox: str,
        uidvalidity: int,
        messages: Sequence[FetchedMail],
        parsed_ahead: Sequence[ParsedMail] | None = None,
    ) -> None: ...


def _frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


# ---- in the helper (``python -m hotline.mailbox.fetcher``) ----------------------------------------------


class _Frames:
    """The helper's side of its pipes: frames in on stdin, frames out on stdout."""

    def __init__(self, inbox: IO[bytes], outbox: IO[bytes]) -> None:
        self._in, self._out = inbox, outbox

    def read(self) -> Any:
        (size,) = _HEADER.unpack(self._in.read(_HEADER.size))
        return pickle.loads(self._in.read(size))

    def write(self, message: Any) -> None:
        with contextlib.suppress(OSError):  # the main process is gone: it is failing or stopping already
            self._out.write(_frame(message))
            self._out.flush()

    async def load_cursor(self, mailbox: str) -> tuple[int, int] | None:
        cursor: tuple[int, int] | None = await asyncio.to_thread(self.read)
        return cursor

    async def store_batch(self, mailbox: str, uidvalidity: int, messages: Sequence[FetchedMail]) -> None:
        parsed = [parse_message(m.raw) for m in messages]
        await asyncio.to_thread(self.write, ("batch", mailbox, uidvalidity, list(messages), parsed))


def helper_main() -> None:  # pragma: no cover - runs in the helper process
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the main process, which ends this one
    frames = _Frames(sys.stdin.buffer, sys.stdout.buffer)

    async def poll() -> None:
        config: ImapConfig = await asyncio.to_thread(frames.read)
        poller = ImapPoller(config, frames, frames)
        try:
            total = await poller.poll_once()
        finally:
            await poller.aclose()
        frames.write(("done", total))

    try:
        asyncio.run(poll())
    except MailError as exc:
        frames.write(("error", "auth" if isinstance(exc, MailboxAuthFailed) else "unavailable", str(exc)))
    except BaseException as exc:  # whatever it is: one sentence goes back, no traceback
        frames.write(("error", "unavailable", f"the mail helper failed ({type(exc).__name__})"))
    # Every frame is flushed as it is written and the IMAP session is closed: end without freeing every
    # parsed mail one by one (the main process waits for this exit).
    if "coverage" not in sys.modules:
        os._exit(0)


# ---- in this process ---------------------------------------------------------------------------------


class HelperPoller:
    """`ImapPoller.poll_once` with fetching and parsing in a helper process (see the module doc).

    ``await start()`` as early as possible; ``poll_once(cursors, sink)`` once; ``close()`` always."""

    def __init__(self, config: ImapConfig) -> None:
        self.config = config
        self._process: asyncio.subprocess.Process | None = None

    @staticmethod
    def usable(config: ImapConfig) -> bool:
        """A custom TLS context cannot cross to the helper: such a config polls in process."""
        return config.ssl_context is None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-P", "-m", "hotline.mailbox.fetcher",  # -P: never code from the current directory
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self._send(dataclasses.replace(self.config, ssl_context=None))

    def _send(self, message: Any) -> None:
        assert self._process is not None and self._process.stdin is not None
        with contextlib.suppress(OSError):  # the helper failed already: its error is waiting to be read
            self._process.stdin.write(_frame(message))

    async def _read(self) -> Any:
        assert self._process is not None and self._process.stdout is not None
        try:
            header = await self._process.stdout.readexactly(_HEADER.size)
            return pickle.loads(await self._process.stdout.readexactly(_HEADER.unpack(header)[0]))
        except asyncio.IncompleteReadError:
            raise MailboxUnavailable("the mail helper process stopped before it finished") from None

    async def poll_once(self, cursors: MailCursorStore, sink: ParsedSink) -> int:
        assert self._process is not None, "start() first"
        self._send(await cursors.load_cursor(self.config.mailbox))
        total = 0
        while True:
            message: tuple[Any, ...] = await self._read()
            if message[0] == "batch":
                _, mailbox, uidvalidity, fetched, parsed = message
                await sink.store_batch(mailbox, uidvalidity, fetched, parsed)
                total += len(fetched)
            elif message[0] == "error":
                raise _ERRORS[message[1]](message[2])
            else:
                return total

    async def close(self) -> None:
        """End the helper: it ends by itself once done; at once if it is still at work (this process is
        failing or cancelled)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 1.0)  # done: it is logging out
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), STOP_SECONDS)
        if process.returncode is None:  # pragma: no cover - a helper that ignores SIGTERM
            process.kill()
            await process.wait()


if __name__ == "__main__":  # pragma: no cover
    helper_main()
