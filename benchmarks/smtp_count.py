"""An SMTP server in its own process (aiosmtpd) that writes one line per recipient of every message it
accepts to a file: ``python -m benchmarks.smtp_count HOST PORT FILE``. The mail benchmark counts the
lines to check that each sender got exactly one mail."""

from __future__ import annotations

import asyncio
import sys
from typing import IO

from aiosmtpd.smtp import SMTP, Envelope, Session


class Counter:
    def __init__(self, out: IO[str]) -> None:
        self.out = out

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        for rcpt in envelope.rcpt_tos:
            self.out.write(rcpt + "\n")
        self.out.flush()
        return "250 OK"


async def serve(host: str, port: int, path: str) -> None:
    with open(path, "a", encoding="utf-8") as out:
        handler = Counter(out)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(handler, hostname="sink.example"), host, port)
        async with server:
            await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
