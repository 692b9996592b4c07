"""The employee's rights through the real bot: /mydata and /forget; counselors' /view and /reveal."""

from __future__ import annotations

from sqlalchemy import func, select

from hotline.privacy.audit import audit_log
from hotline.sandbox.stage import Stage
from hotline.storage.models import Case, Employee, Message
from tests.tests_support import COUNSELOR, OTHER, SUPERVISOR, consent_and_area

EMPLOYEE = 6100


async def test_mydata_and_forget(stage: Stage) -> None:
    emu = stage.emu
    mei = emu.user(EMPLOYEE, "小美")
    wang = emu.user(COUNSELOR, "Wang")
    assert "沒有保存任何" in ((await stage.say(mei, "/mydata")).text or "")
    await stage.say(wang, "/onduty", containing="值班")
    await consent_and_area(stage, mei, "area:finance")
    mark = emu.mark()
    queued = await stage.say(mei, "卡債的事想問", containing="案件代號")
    card = await stage.next_message(COUNSELOR, since=mark, containing="財務問題")
    await stage.press(wang, card, card.button_data[0], expect=EMPLOYEE, containing="接手")
    code = card.button_data[0].removeprefix("claim:")
    assert code in (queued.text or "")

    summary = await stage.say(mei, "/mydata", containing="保存的關於您的資料")
    assert code in (summary.text or "") and "1 件" in (summary.text or "")
    explain = await stage.say(mei, "/forget", containing="會保留")
    assert explain.button_data == ["forget:confirm", "forget:keep"]
    assert "沒有變動" in ((await stage.press(mei, explain, "forget:keep")).text or "")
    mark = emu.mark()
    done = await stage.press(mei, explain, "forget:confirm", containing="已刪除")
    assert "1925" in (done.text or "")
    await stage.next_message(COUNSELOR, since=mark, containing="當事人已結束對談")

    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        assert await s.scalar(select(func.count()).select_from(Employee)) == 0
        case = await s.scalar(select(Case).where(Case.code == code))
        assert case is not None and case.employee_id is None
        assert case.status == "closed" and case.outcome == "withdrawn" and case.category == "finance"
        kept = await s.scalar(
            select(func.count()).select_from(Message).where(Message.content_enc.is_not(None))
        )
        assert kept == 0
        actions = (await s.execute(select(audit_log.c.action, audit_log.c.actor_kind))).all()
        assert ("forget", "employee") in actions and ("mydata", "employee") in actions
    assert "沒有保存任何" in ((await stage.say(mei, "/mydata")).text or ""), "nothing is left to show"
    again = await stage.say(mei, "/start", containing="7858")
    assert again.button_data[0] == "consent:accept", "a forgotten person starts afresh"


async def test_view_and_reveal_follow_roles_and_are_audited(stage: Stage) -> None:
    emu = stage.emu
    mei = emu.user(EMPLOYEE, "小美")
    wang, chen = emu.user(COUNSELOR, "Wang"), emu.user(OTHER, "Chen")
    lin = emu.user(SUPERVISOR, "Lin")
    await stage.say(wang, "/onduty", containing="值班")
    await consent_and_area(stage, mei, "area:legal")
    mark = emu.mark()
    await stage.say(mei, "車禍理賠", containing="案件代號")
    card = await stage.next_message(COUNSELOR, since=mark, containing="法律諮詢")
    code = card.button_data[0].removeprefix("claim:")

    record = await stage.say(wang, f"/view {code}", containing="📁")
    assert "車禍理賠" in (record.text or "") and "小美" not in (record.text or "")
    refused = await stage.say(chen, f"/view {code}", containing=code)
    assert "找不到" in (refused.text or ""), "not offered to Chen: refused"
    assert "車禍理賠" in ((await stage.say(lin, f"/view {code}", containing="📁")).text or "")

    assert "僅限督導" in ((await stage.say(wang, f"/reveal {code} 擔心安全")).text or "")
    assert "理由" in ((await stage.say(lin, f"/reveal {code}")).text or ""), "a written reason is required"
    revealed = await stage.say(lin, f"/reveal {code} 當事人表示有立即危險，需通報", containing="🔐")
    assert str(EMPLOYEE) in (revealed.text or "")
    for text in stage.texts_to(COUNSELOR) + stage.texts_to(OTHER):
        assert str(EMPLOYEE) not in text

    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        rows = (await s.execute(select(audit_log.c.action, audit_log.c.actor_id, audit_log.c.reason))).all()
    assert ("read_case", str(COUNSELOR), None) in rows
    assert ("access_denied", str(OTHER), None) in rows
    assert ("read_case", str(SUPERVISOR), None) in rows
    assert ("reveal_identity", str(SUPERVISOR), "當事人表示有立即危險，需通報") in rows
    denied = [r for r in rows if r[0] == "access_denied"]
    assert len(denied) >= 3, "view by Chen, reveal by Wang, reveal without reason"
