"""Baseline for the mail-ingest benchmark (DESIGN §5a: `hotline mail poll --once` of 1,000 mails ≤ 2×).

``raw_fetch(host, port, user, password)`` is the floor: bare aioimaplib over plain IMAP, UID SEARCH,
``UID FETCH (BODY.PEEK[])`` in batches of 200, and the standard ``email`` parse (policy.default) of
every message with its text body read — no storage, no cases. ``fill_mailbox`` puts N generated
messages (zh-TW text, some Big5, some replies) into a mailbox with IMAP APPEND.

Run on its own against a private Dovecot: ``.venv/bin/python -m benchmarks.mail_raw_fetch [n]``; as the
whole-process floor of the mail benchmark: ``python -m benchmarks.mail_raw_fetch fetch HOST PORT USER
PASSWORD`` (prints how many mails it fetched and parsed).
"""

from __future__ import annotations

import asyncio
import email
import imaplib
import sys
import time
from collections.abc import Iterable
from email import policy
from email.message import EmailMessage

import aioimaplib

BATCH = 200


def _uids(lines: list[bytes | bytearray]) -> list[int]:
    return [int(n) for line in lines[:-1] if isinstance(line, bytes) for n in line.split() if n.isdigit()]


async def raw_fetch(
    host: str, port: int, user: str, password: str, mailbox: str = "INBOX"
) -> tuple[int, float]:
    """(messages fetched and parsed, seconds) for everything in ``mailbox``."""
    started = time.perf_counter()
    client = aioimaplib.IMAP4(host=host, port=port, timeout=60)
    count = 0
    try:
        await client.wait_hello_from_server()
        if (await client.login(user, password)).result != "OK":
            raise RuntimeError(f"IMAP login failed for user {user}")
        await client.select(mailbox)
        uids = _uids((await client.uid_search("ALL", charset=None)).lines)
        for start in range(0, len(uids), BATCH):
            chunk = uids[start : start + BATCH]
            response = await client.uid("fetch", f"{chunk[0]}:{chunk[-1]}", "(UID BODY.PEEK[])")
            for line in response.lines:
                if isinstance(line, bytearray):
                    msg = email.message_from_bytes(bytes(line), policy=policy.default)
                    assert isinstance(msg, EmailMessage)
                    body = msg.get_body(("plain", "html"))
                    if body is not None:
                        body.get_content()
                    count += 1
        await client.logout()
    finally:
        if client.protocol.transport is not None:
            client.protocol.transport.close()
    return count, time.perf_counter() - started


def generate(n: int) -> list[bytes]:
    """``n`` plausible help-line mails: UTF-8 and Big5, new mails and replies, some long."""
    out: list[bytes] = []
    for i in range(n):
        charset, codec = ("big5", "cp950") if i % 3 == 0 else ("utf-8", "utf-8")
        text = f"第 {i} 封信：最近工作壓力很大，主管一直要求加班，晚上睡不著。\n" * (1 + i % 7)
        if i % 4 == 1:
            text += (
                "\n於 2026年11月20日 週五 上午10:15，E-mail 抒壓站 <station@hotline.example> 寫道：\n> 您好\n"
            )
        head = (
            f"From: employee{i % 97}@agency.example.gov.tw\r\nTo: station@hotline.example\r\n"
            f"Subject: =?utf-8?B?5bel5L2c5aOT5Yqb?= {i}\r\nMessage-ID: <bench-{i}@agency.example.gov.tw>\r\n"
            f"Date: Fri, 20 Nov 2026 10:15:00 +0800\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        )
        out.append(head.encode("ascii") + text.replace("\n", "\r\n").encode(codec))
    return out


def fill_mailbox(
    host: str, port: int, user: str, password: str, n: int, mailbox: str = "INBOX",
    messages: Iterable[bytes] | None = None,
) -> None:  # fmt: skip
    """APPEND ``messages`` (by default ``n`` generated ones) to ``mailbox`` (stdlib imaplib, one
    connection)."""
    imap = imaplib.IMAP4(host, port, timeout=60)
    try:
        imap.login(user, password)
        for raw in generate(n) if messages is None else messages:
            status, data = imap.append(mailbox, None, None, raw)
            if status != "OK":
                raise RuntimeError(f"APPEND failed: {data!r}")
    finally:
        imap.logout()


def main(argv: list[str]) -> None:
    if argv[1:2] == ["fetch"]:  # the floor as a process of its own
        host, port, user, password = argv[2:6]
        print(asyncio.run(raw_fetch(host, int(port), user, password))[0])
        return
    from tests.servers.dovecot import DovecotServer  # the benchmark brings its own private Dovecot

    n = int(argv[1]) if len(argv) > 1 else 1000
    server = DovecotServer.start()
    try:
        fill_mailbox(server.host, server.port, server.user, server.password, n)
        best = min(
            asyncio.run(raw_fetch(server.host, server.port, server.user, server.password))[1]
            for _ in range(3)
        )
        print(
            f"raw aioimaplib fetch + email parse of {n} messages: best of 3 {best:.3f} s ({n / best:,.0f}/s)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main(sys.argv)
