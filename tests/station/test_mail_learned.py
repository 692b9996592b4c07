"""A short mail body is read by the learned layer as a message of its own, and the subject apart
(thirteenth session): read only joined to its subject, 站在月台邊 車快來了 under a subject asking how to
book counselling was diluted below the alert threshold, and such a mail got an acknowledgement and no
alert. The real learned layer, the real station on Dovecot."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hotline.learned_loader import load_learned
from hotline.sandbox.stage import Stage
from hotline.screening_loader import load_screener
from hotline.storage.models import Case, Message
from tests.servers.dovecot import DovecotServer
from tests.station.test_station import RECEIVED, mail, poll, station
from tests.tests_support import COUNSELOR

__all__ = ["station"]  # the fixture, shared with test_station.py
pytestmark = pytest.mark.learned

SUBJECT = "請問諮商怎麼預約"
BODIES = ("站在月台邊 車快來了", "明天開始就不用再麻煩大家了，謝謝")


def test_these_bodies_are_seen_only_when_read_apart_from_their_subject() -> None:
    """The premise: the lexicon lets them through, and the learned layer alerts on each body read
    alone but not on the body read only joined to the subject (what the station did before)."""
    lexicon, learned = load_screener(), load_learned()
    for body in BODIES:
        assert not lexicon.screen(f"{SUBJECT}\n{body}").is_crisis
        assert not learned.screen(f"{SUBJECT}\n{body}").is_crisis
        assert learned.screen(body).is_crisis


async def test_a_short_crisis_mail_under_an_ordinary_subject_alerts_the_counselor(
    station: Stage, imap_server: DovecotServer
) -> None:
    emu = station.emu
    wang = emu.user(COUNSELOR, "Wang")
    await station.say(wang, "/onduty", containing="值班")
    for n, body in enumerate(BODIES):
        imap_server.append(
            mail(SUBJECT, body, sender=f"m{n}@agency.example.gov.tw", message_id=f"<short{n}@x.tw>"), RECEIVED
        )
    mark = emu.mark()
    await poll(station)
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        found = (await s.scalars(select(Case).order_by(Case.id))).all()
    assert len(found) == 2 and all(case.risk in ("elevated", "imminent") for case in found)
    for case in found:
        alert = await station.next_message(COUNSELOR, since=mark, containing=f"危機通報｜案件 {case.code}")
        assert "模型判讀" in (alert.text or ""), "the alert says the learned layer saw it"
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        cues = (await s.scalars(select(Message.cues).where(Message.direction == "inbound"))).all()
    assert sorted(tuple(c) for c in cues) == [("learned.farewell",), ("learned.place",)]
