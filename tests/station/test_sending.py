"""The sender that runs beside a mail poll: what the poll stores is sent, whenever it is stored."""

from __future__ import annotations

import asyncio

from hotline.sandbox.stage import Stage
from hotline.station.sending import Job
from hotline.storage.models import Outbox as OutboxRow
from tests.servers.smtpd import SmtpSink
from tests.station.test_station import station  # noqa: F401  (fixture)


async def test_a_mail_queued_while_the_last_claim_runs_is_still_sent(
    station: Stage,  # noqa: F811
    smtp_server: SmtpSink,
) -> None:
    outbox = station.running.outbox
    store = station.running.store
    assert outbox is not None and store is not None
    real_claim = outbox._claim
    looked, finished = asyncio.Event(), asyncio.Event()

    async def claim(limit: int = 200) -> list[Job]:
        jobs = await real_claim(limit)
        if not looked.is_set():
            looked.set()  # the work queues its mail only after this claim has looked ...
            await finished.wait()  # ... and is over before the claim returns
        return jobs

    async def work() -> str:
        await looked.wait()
        row = outbox.compose(
            "ack",
            "worker@agency.example.gov.tw",
            "最近好累",
            "收到",
            auto=True,
            in_reply_to=None,
            references=(),
        )
        async with store.unit() as s:
            s.add(OutboxRow(case_id=None, **row))
        outbox.wake()
        finished.set()
        return "polled"

    outbox._claim = claim  # type: ignore[method-assign]
    assert await outbox.send_alongside(work()) == ("polled", 1)
    [sent] = await smtp_server.wait_for(1)
    assert sent.rcpt_tos == ("worker@agency.example.gov.tw",)


async def test_a_mail_claimed_again_in_the_same_run_is_sent_once(
    station: Stage,  # noqa: F811
    smtp_server: SmtpSink,
) -> None:
    """A lease that ran out while the mail still waited lets a later claim take it again: the run sends
    it once all the same."""
    outbox = station.running.outbox
    store = station.running.store
    assert outbox is not None and store is not None
    row = outbox.compose(
        "ack", "worker@agency.example.gov.tw", "你好", "收到", auto=True, in_reply_to=None, references=()
    )
    async with store.unit() as s:
        s.add(OutboxRow(case_id=None, **row))
    real_claim = outbox._claim
    first: list[Job] = []

    async def claim(limit: int = 200) -> list[Job]:
        jobs = await real_claim(limit)
        if jobs:
            first.extend(jobs)
        elif first:  # the same rows once more, as if their lease had run out
            jobs, first[:] = list(first), []
        return jobs

    async def work() -> str:
        return "polled"

    outbox._claim = claim  # type: ignore[method-assign]
    assert await outbox.send_alongside(work()) == ("polled", 1)
    assert len(await smtp_server.wait_for(1)) == 1
    assert len(smtp_server.received) == 1
