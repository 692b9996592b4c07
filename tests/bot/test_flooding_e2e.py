"""Flooding: past the rate limit nothing is lost and a crisis still gets through."""

from __future__ import annotations

from sqlalchemy import select

from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import Stage, StageClock, stage_settings
from hotline.storage.models import Case
from tests.tests_support import COUNSELOR, consent_and_area


async def test_rate_limit_holds_replies_keeps_words_and_lets_a_crisis_through(
    emu: TelegramEmulator, sqlite_url: str, clock: StageClock
) -> None:
    settings = stage_settings(
        emu.api_url, "4242:TEST-TOKEN-hotline", sqlite_url, rate_limit={"burst": 3, "per_minute": 1}
    )
    async with Stage(emu, settings, clock, background_timers=False) as stage:
        mei = emu.user(7100, "小美")
        wang = emu.user(COUNSELOR, "Wang")
        await stage.say(wang, "/onduty", containing="值班")
        await consent_and_area(stage, mei, "area:mental")
        await stage.say(mei, "第一則", containing="案件代號")  # 1
        await stage.say(mei, "第二則", containing="已加入")  # 2
        await stage.say(mei, "第三則", containing="已加入")  # 3
        notice = await stage.say(mei, "第四則")  # over the limit: one notice
        assert "太快" in (notice.text or "")
        mark = emu.mark()
        await emu.send_text(mei, "第五則")
        crisis = await stage.say(mei, "我不想活了，藥已經準備好了", containing="1925")
        assert "119" in (crisis.text or "")
        await stage.next_message(COUNSELOR, since=mark, containing="危機通報")
        replies = [t for t in stage.texts_to(7100, since=mark) if "已加入" in t or "太快" in t]
        assert replies == [], "no routine reply and no second notice while flooding"
        async with stage.running.store.unit() as s:  # type: ignore[union-attr]
            case = await s.scalar(select(Case))
            assert case is not None and case.message_count == 6, "every message was kept"
            assert case.risk == "imminent"
