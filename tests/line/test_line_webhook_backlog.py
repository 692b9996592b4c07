"""The LINE webhook takes a burst of connections at once (issue 15): LINE posts each event on its own
request, many together. Connections the service has not accepted yet wait in the listen backlog; with
aiohttp's default (128) a burst of a few hundred overflowed it, and each connection dropped there came
back only when TCP tried again, a second later (a crisis message among them a second late)."""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path
from typing import cast

from linebot.v3 import WebhookParser

from hotline.line.inbox import LineInbox
from hotline.line.webhook import BACKLOG, LineWebhook

BURST = 300


def handshakes_done(port: int, count: int, within: float) -> int:
    """Open ``count`` connections to ``port`` at once and wait (blocking: the event loop, which would
    accept them, is held meanwhile) until their handshakes are done or ``within`` seconds have passed;
    how many were done. The kernel completes a handshake for a connection that fits in the backlog."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            socks.append(sock)
        waiting = set(socks)
        give_up = time.monotonic() + within
        while waiting and time.monotonic() < give_up:
            _, writable, _ = select.select([], list(waiting), [], 0.1)
            waiting.difference_update(
                s for s in writable if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            )
        return count - len(waiting)
    finally:
        for sock in socks:
            sock.close()


async def test_a_burst_of_connections_waits_in_the_backlog_none_is_dropped() -> None:
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert somaxconn >= BURST, (
        f"net.core.somaxconn is {somaxconn}: the kernel caps every listen backlog there"
    )
    assert BACKLOG >= BURST
    webhook = LineWebhook(WebhookParser("secret"), cast(LineInbox, None), "127.0.0.1:0")
    await webhook.start()
    try:
        assert handshakes_done(webhook.port, BURST, within=5) == BURST, "connections dropped by the backlog"
    finally:
        await webhook.stop()
