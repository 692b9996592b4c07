"""Real-world mail must never jam intake (issue 12 §0): thread keys met in any order, and a mail that
cannot be stored set aside for a human while the batch and later polls go on. SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text

from hotline.mailbox.ports import FetchedMail
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import Stage, StageClock
from hotline.storage.models import Case, Mail, MailCursor
from tests.servers.dovecot import DovecotServer
from tests.servers.smtpd import SmtpSink
from tests.station.test_station import RECEIVED, kept, mail, mail_settings, poll

A, B = "a@agency.example.gov.tw", "b@agency.example.gov.tw"


@pytest.fixture
async def any_db_station(
    emu: TelegramEmulator, db_url: str, imap_server: DovecotServer, smtp_server: SmtpSink, clock: StageClock
) -> AsyncIterator[Stage]:
    settings = mail_settings(emu, db_url, imap_server, smtp_server)
    async with Stage(emu, settings, clock, background_mail=False, background_timers=False) as stage:  # type: ignore[arg-type]
        yield stage


# (sender, own Message-ID, the ids it refers to): each id is seen first as a reference, then as a mail's
# own id, by the same sender and by another, in a mail's own References too.
SEQUENCE = [
    (A, "<m1@x.tw>", ("<m2@x.tw>", "<m3@x.tw>")),
    (A, "<m2@x.tw>", ("<m1@x.tw>",)),
    (B, "<m3@x.tw>", ("<m2@x.tw>", "<m3@x.tw>")),
    (A, "<m3@x.tw>", ("<m4@x.tw>",)),
    (B, "<m4@x.tw>", ("<m1@x.tw>", "<m4@x.tw>")),
    (A, "<m5@x.tw>", ("<m5@x.tw>",)),
]


def sequence_mails() -> list[bytes]:
    return [
        mail(
            f"第{n}封",
            f"內容 {n}",
            sender=who,
            message_id=own,
            in_reply_to=refs[0],
            references=" ".join(refs),
        )
        for n, (who, own, refs) in enumerate(SEQUENCE)
    ]


async def inbound(stage: Stage) -> list[Mail]:
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        return list((await s.scalars(select(Mail).where(Mail.direction == "inbound"))).all())


@pytest.mark.parametrize("split", [len(SEQUENCE), 1, 3], ids=["one-batch", "one-a-batch", "two-batches"])
async def test_ids_seen_first_as_references_then_as_own_ids_thread_and_jam_nothing(
    any_db_station: Stage, imap_server: DovecotServer, split: int
) -> None:
    raws = sequence_mails()
    stored = 0
    for start in range(0, len(raws), split):
        imap_server.append_many(raws[start : start + split], RECEIVED)
        stored += (await poll(any_db_station))[0]
    assert stored == len(raws)
    rows = await inbound(any_db_station)
    assert len(rows) == len(raws) and not any(r.needs_human for r in rows)
    assert all(r.case_id is not None for r in rows)
    by_key = {r.dedup_key: r.case_id for r in rows}
    case_of = [by_key[kept(any_db_station, raw)] for raw in raws]
    assert case_of[0] == case_of[1] == case_of[3], "A's mails refer to each other, in any order: one thread"
    assert len({case_of[0], case_of[2], case_of[4], case_of[5]}) == 4, (
        "B's ids never pull A's mail, nor A's B's"
    )
    assert await poll(any_db_station) == (0, 0)


async def test_random_orders_of_ids_and_senders_never_jam_a_batch(any_db_station: Stage) -> None:
    """Any combination: ids from a small pool, as own ids and references, by two senders, in batches of
    any size, each id possibly met again later; straight to the station's sink (the seam every fetcher
    uses), 60 sequences."""
    sink = any_db_station.running.station
    assert sink is not None
    rng = random.Random(12)
    uid = 0
    for round_ in range(60):
        pool = [f"<p{round_}-{n}@x.tw>" for n in range(5)]
        raws = []
        for n in range(rng.randint(1, 8)):
            refs = rng.sample(pool, rng.randint(0, 3))
            raws.append(
                mail(
                    f"r{round_}-{n}", f"第 {n} 封", sender=rng.choice((A, B)), message_id=rng.choice(pool),
                    in_reply_to=refs[0] if refs else None, references=" ".join(refs) or None,
                )
            )  # fmt: skip
        while raws:
            size = rng.randint(1, len(raws))
            batch, raws = raws[:size], raws[size:]
            fetched = []
            for raw in batch:
                uid += 1
                fetched.append(FetchedMail(uid, RECEIVED, raw))
            await sink.store_batch("INBOX", 7, fetched)
    rows = await inbound(any_db_station)
    # (Some are flagged for a human: two senders opening this many threads pass the daily cap of
    # automatic mails; none is set aside as unstorable.)
    assert rows and not any(r.malformed for r in rows), "every mail stored in its case, none set aside"
    assert all(r.case_id is not None for r in rows)
    async with any_db_station.running.store.unit() as s:  # type: ignore[union-attr]
        cursor = await s.get(MailCursor, "INBOX")
        assert cursor is not None and cursor.last_uid == uid


async def _refuse_mail_uid(stage: Stage, uid: int, url: str) -> None:
    """A database that refuses one mail's row (as a constraint, a full disk or a bug would): a trigger."""
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        if url.startswith("postgresql"):
            await s.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.uid = {uid} AND NOT NEW.needs_human THEN RAISE EXCEPTION 'refused'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            await s.execute(
                text("CREATE TRIGGER refuse BEFORE INSERT ON mails FOR EACH ROW EXECUTE FUNCTION refuse()")
            )
        else:
            await s.execute(
                text(
                    f"CREATE TRIGGER refuse BEFORE INSERT ON mails WHEN NEW.uid = {uid} AND NOT NEW.needs_human "
                    "BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )


async def test_a_mail_the_database_refuses_is_set_aside_and_the_batch_and_later_polls_go_on(
    any_db_station: Stage, imap_server: DovecotServer, smtp_server: SmtpSink, db_url: str
) -> None:
    raws = [mail(f"信 {n}", f"第 {n} 封信", sender=f"w{n}@x.tw", message_id=f"<r{n}@x.tw>") for n in range(4)]
    imap_server.append_many(raws, RECEIVED)
    uids = sorted(imap_server.flags())
    await _refuse_mail_uid(any_db_station, uids[1], db_url)
    stored, sent = await poll(any_db_station)
    assert stored == 4 and sent == 3, "the three others are taken in and acknowledged"
    rows = {r.uid: r for r in await inbound(any_db_station)}
    assert list(rows) == uids
    refused = rows.pop(uids[1])
    assert refused.needs_human and refused.case_id is None and refused.raw_enc is not None
    assert all(r.case_id is not None and not r.needs_human for r in rows.values())
    async with any_db_station.running.store.unit() as s:  # type: ignore[union-attr]
        assert await s.scalar(select(func.count()).select_from(Case)) == 3
        cursor = await s.get(MailCursor, "INBOX")
        assert cursor is not None and cursor.last_uid == uids[-1]
    imap_server.append(mail("之後", "之後的信", sender="later@x.tw", message_id="<later@x.tw>"), RECEIVED)
    assert await poll(any_db_station) == (1, 1), "later polls go on"
