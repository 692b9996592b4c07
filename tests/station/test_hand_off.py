"""A mail poll hands each committed batch's outbox rows straight to its sender (issue 12 §3): they are
stored claimed in the batch's own transaction, so no claim transaction is spent on them, and across a
crash between the commit and the sending they behave as claimed rows always have: due once their
lease is over, then sent once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from hotline.sandbox.stage import Stage, StageClock
from hotline.station.outbox import SEND_LEASE
from hotline.station.sending import LEASE_MARGIN, Job
from hotline.storage.models import Outbox as OutboxRow
from tests.servers.dovecot import DovecotServer
from tests.servers.smtpd import SmtpSink
from tests.station.test_station import RECEIVED, mail, poll, station  # noqa: F401  (fixture)

SENDERS = [f"w{n}@agency.example.gov.tw" for n in range(5)]


def fill(imap_server: DovecotServer) -> None:
    imap_server.append_many(
        [mail("最近好累", "工作壓力很大，想找人聊聊。", sender=who, message_id=f"<h{n}@x.tw>") for n, who in enumerate(SENDERS)],
        RECEIVED,
    )  # fmt: skip


async def test_a_polls_acknowledgements_are_sent_without_a_claim(
    station: Stage,  # noqa: F811
    imap_server: DovecotServer,
    smtp_server: SmtpSink,
) -> None:
    outbox = station.running.outbox
    assert outbox is not None
    fill(imap_server)
    claimed: list[Job] = []
    real_claim = outbox._claim

    async def claim(limit: int = 200) -> list[Job]:
        jobs = await real_claim(limit)
        claimed.extend(jobs)
        return jobs

    outbox._claim = claim  # type: ignore[method-assign]
    assert await poll(station) == (len(SENDERS), len(SENDERS))
    assert claimed == [], "the batch's rows were handed to the sender, not claimed"
    received = [item.rcpt_tos for item in await smtp_server.wait_for(len(SENDERS))]
    assert sorted(received) == sorted((who,) for who in SENDERS)
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        assert await s.scalar(select(func.count()).where(OutboxRow.status != "sent")) == 0


async def test_a_poll_stopped_between_the_commit_and_the_sending_leaves_each_mail_to_be_sent_once(
    station: Stage,  # noqa: F811
    imap_server: DovecotServer,
    smtp_server: SmtpSink,
    clock: StageClock,
) -> None:
    """The crash window of the hand-off: the batch is committed with its rows claimed, the process stops
    before the sender had them. No other sender takes them while the lease holds; then each goes once."""
    outbox = station.running.outbox
    assert outbox is not None
    fill(imap_server)
    handed: list[Job] = []
    stopped = asyncio.Event()

    def hand(jobs: list[Job]) -> None:  # the process stops here: the sender never gets them
        handed.extend(jobs)
        stopped.set()

    outbox.hand = hand  # type: ignore[method-assign,assignment]
    polling = asyncio.ensure_future(poll(station))
    await stopped.wait()
    polling.cancel()
    await asyncio.wait({polling})
    assert len(handed) == len(SENDERS) and smtp_server.received == []
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        stored = await s.scalar(select(func.count()).where(OutboxRow.status == "pending"))
    assert stored == len(SENDERS), "committed with the batch: not lost"

    assert await outbox.send_due() == 0, "still claimed: another sender does not take them"
    clock.advance(minutes=SEND_LEASE.total_seconds() / 60 + 1)
    while await outbox.send_due():
        pass
    recipients = [item.rcpt_tos for item in smtp_server.received]
    assert sorted(recipients) == sorted((who,) for who in SENDERS), "each sent once"
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        assert await s.scalar(select(func.count()).where(OutboxRow.status != "sent")) == 0


async def test_a_queued_mail_whose_lease_is_running_out_is_left_to_a_new_claim(
    station: Stage,  # noqa: F811
    smtp_server: SmtpSink,
    clock: StageClock,
) -> None:
    """A mail that waited in the sender's queue until its lease (nearly) ran out may already be claimed
    by another sender: the run does not send it; it stays due, and the run's next claim sends it once."""
    outbox = station.running.outbox
    store = station.running.store
    assert outbox is not None and store is not None
    row = outbox.compose(
        "ack", "late@agency.example.gov.tw", "你好", "收到", auto=True, in_reply_to=None, references=()
    )
    async with store.unit() as s:
        s.add(OutboxRow(case_id=None, **row))
    [job] = await outbox._claim()
    assert job.leased_until is not None
    clock.advance(seconds=(SEND_LEASE - LEASE_MARGIN).total_seconds() + 1)  # it waited in the queue

    async def work() -> None:
        outbox.hand([job])

    assert await outbox.send_alongside(work()) == (None, 0)
    assert smtp_server.received == [], "not sent on a lease another sender may now hold"
    clock.advance(seconds=LEASE_MARGIN.total_seconds())  # the lease is over: it is due again
    assert await outbox.send_alongside(asyncio.sleep(0)) == (None, 1)
    assert [item.rcpt_tos for item in await smtp_server.wait_for(1)] == [("late@agency.example.gov.tw",)]
    assert timedelta(0) < LEASE_MARGIN < SEND_LEASE
