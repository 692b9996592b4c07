"""`make demo`, section 12: an employee on LINE next to the ones on Telegram (issue 15).

The real line-bot-sdk in the service against the LINE emulator on 127.0.0.1: 小華 adds the official
account (the LINE consent notice, with quick replies), chooses an area, and writes a crisis message;
she gets the crisis reply at once and the on-duty counselor, on Telegram, gets the alert with the case
code and the channel, never her LINE name or id.
"""

from __future__ import annotations

import asyncio
import textwrap

from hotline.sandbox import LineEmulator, LineUser, TelegramEmulator
from hotline.sandbox.line_model import LineCall, LineEvent

SECTIONS = ("── 12. LINE：員工用 LINE 諮詢（心理師仍在 Telegram），LINE 的危機訊息立即通報值班心理師 ──",)
STEP_TIMEOUT = 10.0
NAME = "員工 小華（LINE）"


def _show_reply(call: LineCall) -> None:
    for message in call.messages:
        body = textwrap.indent(str(message.get("text", "")), "      │ ", lambda _line: True)
        items = message.get("quickReply", {}).get("items", []) if isinstance(message, dict) else []
        labels = " ".join(f"[{item['action']['label']}]" for item in items)
        via = "回覆" if call.endpoint == "reply" else "推播"
        print(f"  🟢 LINE {via} → {NAME}\n{body}" + (f"\n      │ 快速回覆：{labels}" if labels else ""))


async def _answer(line: LineEmulator, user: LineUser, event: LineEvent, containing: str = "") -> LineCall:
    call = await line.wait_for(
        lambda c: c.ok and c.endpoint in ("reply", "push") and any(containing in t for t in c.texts),
        to=user,
        since=event,
        timeout=STEP_TIMEOUT,
    )
    _show_reply(call)
    return call


async def play_line(line: LineEmulator, emu: TelegramEmulator, counselor: int, pause: float) -> None:
    print(f"\n{SECTIONS[0]}")
    hua = line.user("林小華", friend=False)
    await asyncio.sleep(pause)
    print(f"\n  {NAME} 加入官方帳號好友")
    await _answer(line, hua, line.follow(hua), containing="LINE")
    await asyncio.sleep(pause)
    print(f"\n  {NAME} 點選快速回覆：我了解，開始諮詢")
    await _answer(line, hua, line.tap(hua, "我了解，開始諮詢"))
    await asyncio.sleep(pause)
    print(f"\n  {NAME} 點選快速回覆：工作壓力")
    await _answer(line, hua, line.tap(hua, "工作壓力"))
    await asyncio.sleep(pause)
    text = "我真的撐不下去了，覺得活著沒有意義，想結束生命"
    print(f"\n  {NAME} 傳送：{text}")
    mark = emu.mark()
    await _answer(line, hua, line.send_text(hua, text), containing="1925")
    await emu.wait_for(
        lambda c: c.method == "sendMessage" and "危機通報" in (c.text or "") and "LINE" in (c.text or ""),
        chat_id=counselor,
        since=mark,
        timeout=STEP_TIMEOUT,
    )
