"""The sender that runs beside a mail poll: what the poll stores is sent, whenever it is stored."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from hotline.sandbox.stage import Stage, StageClock
from hotline.station.outbox import CLAIM_AHEAD
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


async def test_a_poll_stopped_while_sending_leaves_each_mail_to_be_sent_once(
    station: Stage,  # noqa: F811
    smtp_server: SmtpSink,
    clock: StageClock,
) -> None:
    """More acknowledgements than the sender claims at once; the poll stops after a few went out (the
    rest claimed, leased or not yet claimed): once the leases run out each is sent, and none twice."""
    outbox = station.running.outbox
    store = station.running.store
    assert outbox is not None and store is not None
    count = CLAIM_AHEAD + 10
    async with store.unit() as s:
        for n in range(count):
            row = outbox.compose(
                "ack",
                f"w{n}@agency.example.gov.tw",
                "你好",
                "收到",
                auto=True,
                in_reply_to=None,
                references=(),
            )
            s.add(OutboxRow(case_id=None, **row))
    never = asyncio.Event()
    poll = asyncio.ensure_future(outbox.send_alongside(never.wait()))
    await smtp_server.wait_for(3)
    poll.cancel()
    await asyncio.wait({poll})
    assert 3 <= len(smtp_server.received) < count
    await outbox.send_due()  # those the stopped poll had not claimed; the claimed ones wait for their lease
    assert len(smtp_server.received) < count
    clock.advance(minutes=6)
    while await outbox.send_due():
        pass
    recipients = [item.rcpt_tos for item in smtp_server.received]
    assert len(recipients) == count and len(set(recipients)) == count
    async with store.unit() as s:
        pending = await s.scalar(select(func.count()).where(OutboxRow.status != "sent"))
    assert pending == 0
