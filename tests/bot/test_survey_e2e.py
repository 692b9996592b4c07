"""The anonymous satisfaction survey (issue 7): invitation once per case, answers by buttons and a
screened comment, and a schema in which no answer can be joined back to a case or an employee."""

from __future__ import annotations

import json

from sqlalchemy import Integer, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Date, DateTime, Time

from hotline.sandbox import ChatUser, TelegramEmulator
from hotline.sandbox.stage import Stage
from hotline.storage import db, survey_repo
from hotline.storage.db import create_engine
from hotline.storage.models import Case, SurveyAnswer, SurveyPending, SurveyToken
from tests.bot.booking_support import frozen_stage, served_case
from tests.tests_support import COUNSELOR

EMPLOYEE = 777000444
SURVEY_TABLES = ("survey_answers", "survey_tokens", "survey_pending", "survey_invitations")
# Anything that could name or point at a case, an employee or a moment finer than a month.
FORBIDDEN_WORDS = (
    *("case", "employee", "pseudonym", "chat", "user", "telegram", "mail", "counselor", "booking"),
    *("created", "updated", "_at", "time", "date", "day"),
)


async def ended_and_skipped_to_the_comment(stage: Stage, mei: ChatUser, wang: ChatUser) -> None:
    """The counselor ends the case; the employee skips the two questions and is asked for a comment."""
    emu = stage.emu
    choose = await stage.say(wang, "/end", containing="結案")
    assert choose.message_id is not None
    update = await emu.press_button(wang, choose.message_id, choose.button_data[0])
    invite = await stage.next_message(EMPLOYEE, since=update.mark, containing="匿名滿意度問卷")
    skip = next(d for d in invite.button_data if d.startswith("sv:skip:"))
    recommend = await stage.press(mei, invite, skip, containing="推薦")
    skip = next(d for d in recommend.button_data if d.startswith("sv:skip:"))
    await stage.press(mei, recommend, skip, containing="想告訴我們")


async def test_chat_case_end_invites_once_and_the_answer_is_held_sealed_until_its_month_is_over(
    emu: TelegramEmulator, db_url: str
) -> None:
    async with frozen_stage(emu, db_url) as stage:
        mei, wang = emu.user(EMPLOYEE, "小美"), emu.user(COUNSELOR, "Wang")
        code = await served_case(stage, mei, wang, area="area:family")
        choose = await stage.say(wang, "/end", containing="結案")
        assert choose.message_id is not None
        update = await emu.press_button(wang, choose.message_id, f"end:{code}:resolved")
        invite = await stage.next_message(EMPLOYEE, since=update.mark, containing="匿名滿意度問卷")
        rate = next(d for d in invite.button_data if d.startswith("sv:rate:4:"))
        recommend = await stage.press(mei, invite, rate, containing="推薦")
        yes = next(d for d in recommend.button_data if d.startswith("sv:rec:yes:"))
        ask = await stage.press(mei, recommend, yes, containing="想告訴我們")
        assert ask.button_data, "the comment can be skipped"
        thanks = await stage.say(mei, "心理師很有耐心，謝謝。")
        assert "謝謝您的回饋" in (thanks.text or "")
        twice = await stage.press(mei, invite, rate, containing="已經結束")
        assert twice.text, "a used invitation cannot answer again"

        service = stage.running
        assert service.aftercare is not None and service.store is not None
        async with service.store.unit() as s:
            case_id = await s.scalar(select(Case.id).where(Case.code == code))
        assert case_id is not None
        mark = emu.mark()
        await service.aftercare.surveys.invite_case(case_id)  # a second ending cannot invite again
        assert not [c for c in emu.calls_to(EMPLOYEE, since=mark) if "問卷" in (c.text or "")]
        async with service.store.unit() as s:
            assert await s.scalar(select(func.count()).select_from(SurveyAnswer)) == 0, "month not over"
            [held] = (await s.scalars(select(SurveyPending))).all()
            assert await s.scalar(select(func.count()).select_from(SurveyToken)) == 0
            case = await s.get(Case, case_id)
            assert case is not None and case.survey_invited
        assert b"telegram" not in held.sealed_enc and len(held.id) == 32, "nothing readable while held"
        assert json.loads(service.store.open(held.sealed_enc)) == {
            "channel": "telegram",
            "month": "2026-11",
            "rating": 4,
            "recommend": True,
            "comment": "心理師很有耐心，謝謝。",
        }, "no area, ever"


async def test_a_crisis_written_as_a_comment_takes_the_crisis_path(
    emu: TelegramEmulator, db_url: str
) -> None:
    async with frozen_stage(emu, db_url) as stage:
        mei, wang = emu.user(EMPLOYEE, "小美"), emu.user(COUNSELOR, "Wang")
        await served_case(stage, mei, wang)
        await ended_and_skipped_to_the_comment(stage, mei, wang)
        mark = emu.mark()
        crisis = await stage.say(mei, "其實我已經把遺書寫好了，今晚就結束")
        assert "1925" in (crisis.text or "")
        await stage.next_message(COUNSELOR, since=mark, containing="危機")
        async with stage.running.store.unit() as s:  # type: ignore[union-attr]
            assert await s.scalar(select(func.count()).select_from(SurveyPending)) == 0, "not a comment"


async def test_leaving_a_served_conversation_invites_too(emu: TelegramEmulator, db_url: str) -> None:
    async with frozen_stage(emu, db_url) as stage:
        mei, wang = emu.user(EMPLOYEE, "小美"), emu.user(COUNSELOR, "Wang")
        await served_case(stage, mei, wang)
        mark = emu.mark()
        await emu.send_text(mei, "/cancel")
        invite = await stage.next_message(EMPLOYEE, since=mark, containing="匿名滿意度問卷")
        stop = next(d for d in invite.button_data if d.startswith("sv:stop:"))
        done = await stage.press(mei, invite, stop)
        assert "謝謝" in (done.text or "")
        async with stage.running.store.unit() as s:  # type: ignore[union-attr]
            assert await s.scalar(select(func.count()).select_from(SurveyPending)) == 0, "nothing answered"
            assert await s.scalar(select(func.count()).select_from(SurveyToken)) == 0


def _survey_schema(conn: object) -> dict[str, tuple[list[dict[str, object]], list[dict[str, object]]]]:
    inspector = inspect(conn)
    return {
        table: (inspector.get_columns(table), inspector.get_foreign_keys(table)) for table in SURVEY_TABLES
    }


async def test_no_column_of_the_survey_tables_can_reach_a_case_or_an_employee(db_url: str) -> None:
    await db.upgrade(db_url)
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            assert isinstance(conn, AsyncConnection)
            schema = await conn.run_sync(_survey_schema)
            referencing = await conn.run_sync(
                lambda sync: [
                    (table, fk["referred_table"])
                    for table in inspect(sync).get_table_names()
                    for fk in inspect(sync).get_foreign_keys(table)
                    if fk["referred_table"] in SURVEY_TABLES
                ]
            )
    finally:
        await engine.dispose()
    assert referencing == [], "nothing points at a survey row either"
    allowed = {
        "survey_answers": {"id", "channel", "month", "rating", "recommend", "comment_enc"},
        "survey_tokens": {"token_hash", "channel", "month", "state", "rating", "recommend"},
        "survey_pending": {"id", "sealed_enc"},
        "survey_invitations": {"month", "channel", "invited"},
    }
    for table, (columns, foreign_keys) in schema.items():
        assert foreign_keys == [], f"{table} has a foreign key"
        names = {str(c["name"]) for c in columns}
        assert names == allowed[table], f"{table} columns changed: review them for linkability"
        for column in columns:
            name = str(column["name"])
            assert not any(word in name for word in FORBIDDEN_WORDS), f"{table}.{name} could link back"
            assert not isinstance(column["type"], DateTime | Date | Time), f"{table}.{name} is a timestamp"
            if column.get("primary_key") or name in {"id", "token_hash"}:
                assert not isinstance(column["type"], Integer), f"{table}.{name}: a counter reveals order"


async def test_words_written_long_after_the_comment_prompt_are_a_new_request(
    emu: TelegramEmulator, db_url: str
) -> None:
    async with frozen_stage(emu, db_url) as stage:
        mei, wang = emu.user(EMPLOYEE, "小美"), emu.user(COUNSELOR, "Wang")
        await served_case(stage, mei, wang)
        await ended_and_skipped_to_the_comment(stage, mei, wang)
        stage.clock.advance(days=14)
        again = await stage.say(mei, "我又很痛苦，想找人談")
        assert "謝謝您的回饋" not in (again.text or "") and "7858" in (again.text or ""), "the intake answers"
        async with stage.running.store.unit() as s:  # type: ignore[union-attr]
            assert await s.scalar(select(func.count()).select_from(SurveyPending)) == 0


async def test_invitations_left_open_expire_in_the_daily_maintenance(
    emu: TelegramEmulator, db_url: str
) -> None:
    async with frozen_stage(emu, db_url) as stage:
        mei, wang = emu.user(EMPLOYEE, "小美"), emu.user(COUNSELOR, "Wang")
        await served_case(stage, mei, wang, area="area:legal")
        choose = await stage.say(wang, "/end", containing="結案")
        assert choose.message_id is not None
        update = await emu.press_button(wang, choose.message_id, choose.button_data[0])
        invite = await stage.next_message(EMPLOYEE, since=update.mark, containing="匿名滿意度問卷")
        rate = next(d for d in invite.button_data if d.startswith("sv:rate:3:"))
        await stage.press(mei, invite, rate, containing="推薦")  # then never comes back
        service = stage.running
        assert service.aftercare is not None and service.store is not None
        assert await service.aftercare.surveys.sweep() == 0, "this month's invitation stays open"
        async with service.store.unit() as s:  # a busier month: 4 more chat cases were invited
            for _ in range(4):
                await survey_repo.count_invitation(s, "2026-11", "telegram")
        stage.clock.advance(days=70)
        assert await service.aftercare.surveys.sweep() == 1
        async with service.store.unit() as s:
            assert await s.scalar(select(func.count()).select_from(SurveyToken)) == 0
            assert await s.scalar(select(func.count()).select_from(SurveyPending)) == 0
            [answer] = (await s.scalars(select(SurveyAnswer))).all()
        assert answer.rating == 3 and answer.recommend is None, "what was answered is kept"
        assert (answer.channel, answer.month) == ("telegram", "2026-11")
