"""LINE's other events end to end (issue 15): follow, unfollow, stickers and images, groups and rooms,
the employee's rights typed as commands, a console command refused, LINE's 429 waited out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from hotline.bot.runner import EmployeeRunner
from hotline.errors import ChatUnavailable
from hotline.line import inbox as line_inbox
from hotline.line.send import LineEmployees, line_recipient
from hotline.privacy.audit import audit_log
from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import StageClock
from hotline.storage.models import Case, Employee, LineBlocked
from hotline.storage.models import LineEvent as LineEventRow
from tests.line.line_support import LineStage, line_stage
from tests.tests_support import COUNSELOR


@pytest.fixture
async def ls(emu: TelegramEmulator, sqlite_url: str, clock: StageClock) -> AsyncIterator[LineStage]:
    async with line_stage(emu, sqlite_url, clock) as running:
        yield running


async def test_follow_sticker_group_room_and_unfollow(ls: LineStage) -> None:
    line = ls.line
    mei = line.user("小美", friend=False)
    notice = await ls.answer(mei, line.follow(mei), containing="LINE 名稱")
    assert notice.endpoint == "reply" and notice.messages[0]["quickReply"]["items"]
    sticker = await ls.answer(mei, line.send_sticker(mei), containing="文字")
    image = await ls.answer(mei, line.send_image(mei), containing="文字")
    assert sticker.texts == image.texts

    group, room = line.group(mei, line.user("阿傑")), line.room(mei)
    joined = await ls.answer(group, line.join(group), containing="一對一")  # type: ignore[arg-type]
    await ls.answer(room, line.send_text(mei, "大家好", chat=room), containing="一對一")  # type: ignore[arg-type]
    # told once already: no second line in the group
    await ls.settle(line.send_text(mei, "有人在嗎", chat=group))
    assert line.texts(group) == joined.texts and len(line.texts(room)) == 1

    await ls.settle(line.unfollow(mei))
    async with ls.stage.running.store.unit() as s:  # type: ignore[union-attr]
        assert len((await s.scalars(select(LineBlocked))).all()) == 1
    await ls.restart()  # blocked is kept in the database
    employees = ls.stage.running.desk.channels.adapter("line")  # type: ignore[union-attr]
    assert isinstance(employees, LineEmployees)
    assert await employees.is_blocked(employees.pseudonym(mei.user_id))
    calls = len(line.calls)
    with pytest.raises(ChatUnavailable, match="blocked"):
        await employees.send_text(line_recipient(mei.user_id), "有新的訊息")
    assert len(line.calls) == calls, "nothing is sent to someone who blocked the account"
    await ls.answer(mei, line.follow(mei, unblocked=True), containing="LINE 名稱")
    async with ls.stage.running.store.unit() as s:  # type: ignore[union-attr]
        assert (await s.scalars(select(LineBlocked))).all() == []


async def test_rights_as_commands_and_a_console_command_refused(ls: LineStage) -> None:
    stage, line = ls.stage, ls.line
    wang = stage.emu.user(COUNSELOR, "Wang")
    await stage.say(wang, "/onduty", containing="已開始值班")
    mei = line.user("小美")
    help_text = await ls.say(mei, "/help", containing="/mydata")
    assert "LINE" in help_text.texts[0]
    await ls.say(mei, "/mydata", containing="沒有保存")
    await ls.say(mei, "/start", containing="LINE 名稱")
    await ls.tap(mei, "我了解，開始諮詢", containing="領域")
    await ls.tap(mei, "心理健康")
    await ls.say(mei, "最近常常失眠，心情很低落。", containing="HL-")
    summary = await ls.say(mei, "/mydata", containing="案件 1 件")
    assert "等候中" in summary.texts[0]
    await ls.say(mei, "/reveal HL-AAAAAA 想看", containing="僅限諮詢團隊")
    await ls.idle()
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        denied = (
            await s.execute(select(audit_log.c.detail).where(audit_log.c.action == "access_denied"))
        ).all()
        assert [row.detail["wanted"] for row in denied] == ["reveal"]

    line.fail_next("reply", status=429, to=mei)  # LINE asks to slow down once: waited out, not lost
    explain = await ls.say(mei, "/forget", containing="LINE 帳號連結")
    assert explain.endpoint == "reply"
    assert [c.status for c in line.calls if c.injected] == [429]
    done = await ls.tap(mei, "確定刪除", containing="已刪除")
    assert done.endpoint == "reply"
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        assert (await s.scalars(select(Employee))).all() == []
        [case] = (await s.scalars(select(Case))).all()
        assert case.employee_id is None and case.channel == "line"


async def test_forget_erases_an_event_left_over_after_every_attempt_failed(
    ls: LineStage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One process: an event that failed in every attempt stays stored (sealed, with the user's key) for
    the next start. /forget erases it with the rest, so the next start cannot carry it out after the
    erasure; what the user writes after /forget is carried out as usual."""
    stage, line = ls.stage, ls.line
    monkeypatch.setattr(line_inbox, "RETRY_SECONDS", 0.0)
    original = EmployeeRunner.said

    async def fails_on_secret(
        self: EmployeeRunner, user_id: int | str, chat_id: int | str, text: str
    ) -> None:
        if "祕密" in text:
            raise RuntimeError("a bug in a handler")
        await original(self, user_id, chat_id, text)

    monkeypatch.setattr(EmployeeRunner, "said", fails_on_secret)
    mei = line.user("小美")
    await ls.say(mei, "/start", containing="LINE 名稱")
    await ls.tap(mei, "我了解，開始諮詢", containing="領域")
    await ls.tap(mei, "心理健康")
    await ls.say(mei, "最近常常失眠，心情很低落。", containing="HL-")
    await ls.settle(line.send_text(mei, "這是我的祕密"))

    async def left_over() -> list[LineEventRow]:
        async with stage.running.store.unit() as s:  # type: ignore[union-attr]
            return list(
                (await s.scalars(select(LineEventRow).where(LineEventRow.payload_enc.is_not(None)))).all()
            )

    assert len(await left_over()) == 1, "kept stored after every attempt failed"
    await ls.say(mei, "/forget", containing="LINE 帳號連結")
    await ls.tap(mei, "確定刪除", containing="已刪除")
    await ls.idle()
    assert await left_over() == []
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        keys = (
            await s.scalars(select(LineEventRow.user_key).where(LineEventRow.user_key.is_not(None)))
        ).all()
        assert keys == []
    await ls.say(mei, "你好", containing="LINE 名稱")  # after the erasure: a new start, as usual
