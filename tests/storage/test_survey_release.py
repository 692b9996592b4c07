"""Issue 17: no stored survey answer singles anyone out. A month with a rare area (one legal case) and a
rare channel (one face-to-face session), a small month beside it; SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from hotline.flows.survey import StoreSurveyAnswer, SurveyState
from hotline.flows.survey_release import MERGED, recode
from hotline.report.compute import build_report
from hotline.report.query import report_input
from hotline.sandbox.stage import TAIPEI
from hotline.storage import booking_repo, survey_repo
from hotline.storage.models import SurveyAnswer, SurveyPending
from tests.storage.test_repo import make_store

K = 5
QUASI_IDENTIFIERS = {"channel", "month"}  # every stored column an answer could be matched on


@dataclass(frozen=True)
class Invited:
    """One invited case, as the EAP office knows it from its own records."""

    channel: str
    area: str
    month: str
    rating: int


# November: 7 chat cases (one of them the only legal case), 6 e-mail cases, 1 face-to-face session.
NOVEMBER = [
    *(Invited("telegram", "work_stress", "2026-11", 4) for _ in range(6)),
    Invited("telegram", "legal", "2026-11", 1),  # the rare area: rated 1
    *(Invited("email", "family", "2026-11", 5) for _ in range(6)),
    Invited("face_to_face", "mental", "2026-11", 2),  # the rare channel: rated 2
]
OCTOBER = [Invited("telegram", "career", "2026-10", 3) for _ in range(3)]  # too few to hide anyone


def test_recode_merges_small_channels_whole_months_at_a_time() -> None:
    assert recode({"telegram": 7, "email": 6, "face_to_face": 1}) == {
        "telegram": "telegram",
        "email": MERGED,  # the smallest kept channel joins the one session: 7 in the group
        "face_to_face": MERGED,
    }
    assert recode({"telegram": 12, "email": 3, "face_to_face": 2}) == {
        "telegram": "telegram",
        "email": MERGED,
        "face_to_face": MERGED,
    }
    assert recode({"telegram": 5, "email": 0}) == {"telegram": "telegram"}
    assert recode({"telegram": 3, "email": 1}) is None
    assert recode({}) is None


async def test_a_month_with_a_rare_area_keeps_no_answer_that_matches_fewer_than_5_cases(db_url: str) -> None:
    store = await make_store(db_url)
    try:
        async with store.unit() as s:
            for case in NOVEMBER + OCTOBER:
                await booking_repo.issue_token(s, SurveyState(case.channel, case.month))
                given = StoreSurveyAnswer(case.channel, case.month, case.rating, True, None)
                await booking_repo.store_answer(s, store, given)
        async with store.unit() as s:
            held = (await s.scalars(select(SurveyPending))).all()
            assert len(held) == len(NOVEMBER + OCTOBER)
            assert not any(b"2026" in h.sealed_enc or b"legal" in h.sealed_enc for h in held), "sealed"
            assert await s.scalar(select(func.count()).select_from(SurveyAnswer)) == 0
            assert await survey_repo.release_answers(s, store, "2026-11") == (0, 3), "October: too few"
        async with store.unit() as s:
            assert await survey_repo.release_answers(s, store, "2026-12") == (len(NOVEMBER), 0)
        async with store.unit() as s:
            stored = (await s.scalars(select(SurveyAnswer))).all()
            assert await s.scalar(select(func.count()).select_from(SurveyPending)) == 0

        columns = set(SurveyAnswer.__table__.columns.keys())
        assert columns - QUASI_IDENTIFIERS == {"id", "rating", "recommend", "comment_enc"}, "no area"
        assert len(stored) == len(NOVEMBER)
        own = {a.channel for a in stored if a.channel != MERGED}  # what anyone can see was kept apart
        for answer in stored:
            matches = [
                c
                for c in NOVEMBER + OCTOBER
                if c.month == answer.month
                and (c.channel == answer.channel or (answer.channel == MERGED and c.channel not in own))
            ]
            assert len(matches) >= K, f"{answer.channel} {answer.month} matches {len(matches)} cases"
        legal = [a for a in stored if a.rating == 1]
        assert [a.channel for a in legal] == ["telegram"], "the legal case hides among the 7 chat cases"
        session = [a for a in stored if a.rating == 2]
        assert [a.channel for a in session] == [MERGED], "the session hides among e-mail cases"

        async with store.unit() as s:  # the report reads what remains, and only that
            data = await report_input(
                s,
                date(2026, 10, 1),
                date(2026, 11, 30),
                as_of=datetime(2026, 12, 5, tzinfo=TAIPEI),
                zone=TAIPEI,
                quota_hours=4,
            )
        assert sorted((r.channel, r.rating) for r in data.surveys) == sorted(
            (a.channel, a.rating) for a in stored
        )
        table = build_report(data).table("survey")
        assert "report.channel.merged" in table.rows
        total = table.cells[table.rows.index("report.total")]
        assert total[0].value == len(NOVEMBER), "October's answers are gone; November's are all counted"
    finally:
        await store.close()
