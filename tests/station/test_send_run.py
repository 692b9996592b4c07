"""One sending run, with a stand-in SMTP session that records what it was asked (no server is needed to
show how the run handles a refusal and a session that breaks)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import ClassVar

import pytest

from hotline.crypto import Vault
from hotline.desk import Outgoing
from hotline.mailbox.errors import MailSendFailed
from hotline.mailbox.smtp import SmtpConfig
from hotline.sandbox.stage import DEMO_SECRET
from hotline.station.sending import Job, SendRun

VAULT = Vault(DEMO_SECRET)


class StandInSession:
    asked: ClassVar[list[bytes]] = []

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    async def __aenter__(self) -> StandInSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def send_raw(self, sender: str, recipients: list[str], data: bytes) -> None:
        StandInSession.asked.append(data)
        await asyncio.sleep(0)
        if data == b"refused":
            raise MailSendFailed("refused", temporary=False)
        if data == b"boom":
            raise RuntimeError("a bug inside a session")


def job(row_id: int, raw: bytes) -> Job:
    return Job(
        row_id, None, "answer", 7, 0,
        VAULT.encrypt("w@x.example", context=b"contact"), VAULT.encrypt_bytes(raw, context=b"mail"),
    )  # fmt: skip


async def test_a_broken_session_does_not_lose_the_rest_nor_the_notes() -> None:
    StandInSession.asked = []
    recorded: list[int] = []
    delivered: list[Outgoing] = []

    async def record_sent(jobs: Sequence[Job]) -> list[Outgoing]:
        recorded.extend(j.row_id for j in jobs)
        return [Outgoing(7, f"sent {j.row_id}") for j in jobs]

    async def record_failed(failed: Job, exc: MailSendFailed) -> list[Outgoing]:
        return [Outgoing(7, f"failed {failed.row_id}")]

    async def deliver(notes: list[Outgoing]) -> None:
        delivered.extend(notes)

    run = SendRun(
        smtp=SmtpConfig(host="smtp.example"), session_factory=StandInSession,  # type: ignore[arg-type]
        mail_from="station@hotline.example", vault=VAULT, record_sent=record_sent,
        record_failed=record_failed, deliver=deliver, now=lambda: datetime.now(UTC), sessions=2,
    )  # fmt: skip
    run.feed([job(1, b"ok 1"), job(2, b"refused"), job(3, b"boom"), job(4, b"ok 4"), job(5, b"ok 5")])
    run.feed([job(1, b"ok 1")])  # claimed again: not sent again
    with pytest.raises(RuntimeError, match="a bug inside a session"):
        await run.finish()
    assert sorted(recorded) == [1, 4, 5], "the other session sent the rest, and each was recorded"
    assert StandInSession.asked.count(b"ok 1") == 1
    texts = {n.text for n in delivered}
    assert {"failed 2", "sent 1", "sent 4", "sent 5"} <= texts, "counselors are told, even on the way out"
