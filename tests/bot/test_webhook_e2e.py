"""Webhook mode: Telegram (the emulator) calls us with the secret token; anyone else is refused."""

from __future__ import annotations

import aiohttp

from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import Stage, StageClock, stage_settings
from tests.servers.dovecot import free_port

SECRET = "webhook-secret-0123456789abcdef"


async def test_webhook_checks_the_secret_token(
    emu: TelegramEmulator, sqlite_url: str, clock: StageClock
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram-hook"
    settings = stage_settings(
        emu.api_url,
        "4242:TEST-TOKEN-hotline",
        sqlite_url,
        telegram_webhook_url=url,
        telegram_webhook_secret=SECRET,
        telegram_webhook_listen=f"127.0.0.1:{port}",
    )
    async with Stage(emu, settings, clock, background_timers=False) as stage:
        info = emu.webhook_info()
        assert info["url"] == url
        mei = emu.user(8100, "小美")
        reply = await stage.say(mei, "/start", containing="7858")  # delivered by POST with the header
        assert reply.button_data[0] == "consent:accept"

        forged = {
            "update_id": 999_999,
            "message": {
                "message_id": 1, "date": 0, "chat": {"id": 8101, "type": "private"},
                "from": {"id": 8101, "is_bot": False, "first_name": "x"}, "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }  # fmt: skip
        mark = emu.mark()
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
                async with http.post(url, json=forged, headers=headers) as response:
                    assert response.status == 403
        again = await stage.say(mei, "/help", containing="1925")
        assert again.chat_id == 8100
        assert stage.texts_to(8101, since=mark) == [], "a forged update is never processed"
