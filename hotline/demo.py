"""`make demo`: the real service on embedded defaults against the sandbox, playing both channels.

SQLite in a temporary directory, the Telegram Bot API emulator and an SMTP server on 127.0.0.1, no
token, no network, no IMAP server. Both sides are printed as they happen: the employees (小美, 阿傑,
two anonymous mail writers, 小華 on LINE) and the counselors (王心理師, 陳心理師). Sections 1-6 are the
Telegram line, 7-11 the e-mail station (`demo_mail`), 12 LINE (`demo_line`, the LINE emulator).
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
import textwrap
from pathlib import Path

from hotline.app import Service
from hotline.demo_line import SECTIONS as LINE_SECTIONS
from hotline.demo_line import play_line
from hotline.demo_mail import SECTIONS as MAIL_SECTIONS
from hotline.demo_mail import STATION, play_mail
from hotline.sandbox import (
    BotCall,
    Button,
    ChatUser,
    EmulatorEvent,
    InjectedUpdate,
    LineEmulator,
    TelegramEmulator,
)
from hotline.sandbox.mail import LocalSmtp
from hotline.sandbox.stage import StageClock, stage_settings
from hotline.sandbox.telegram_model import inline_buttons

TOKEN = "7858000:DEMO-SANDBOX-TOKEN"
EMPLOYEE, SECOND_EMPLOYEE, COUNSELOR, MAIL_COUNSELOR, SUPERVISOR = 1001, 1002, 9001, 9002, 9100
NAMES = {
    EMPLOYEE: "員工 小美",
    SECOND_EMPLOYEE: "員工 阿傑",
    COUNSELOR: "王心理師",
    MAIL_COUNSELOR: "陳心理師",
    SUPERVISOR: "林督導",
}
SECTIONS = (
    "── 1. 心理師開始值班 ──",
    "── 2. 員工開始諮詢：保密聲明、選擇領域、寫下困擾 ──",
    "── 3. 心理師接案，雙方對談（心理師只看到案件代號） ──",
    "── 4. 面談預約：心理師公布時段，員工用預約代碼預約，心理師確認（只有這位心理師看到身分） ──",
    "── 5. 匿名滿意度問卷：按一下就完成 ──",
    "── 6. 危機訊息：立即回覆求助專線，並通報值班心理師 ──",
    *MAIL_SECTIONS,
    *LINE_SECTIONS,
)
STEP_TIMEOUT = 10.0
DEMO_PHONE = "03-000-7858（示範）"


def _show(event: EmulatorEvent) -> None:
    if isinstance(event, InjectedUpdate):
        who = NAMES.get(event.user_id, str(event.user_id))
        what = event.text or f"[{event.kind}]"
        prefix = "按下按鈕" if event.kind == "callback_query" else "傳送"
        print(f"\n  {who} {prefix}：{what}")
        return
    if (
        not isinstance(event, BotCall)
        or event.method not in {"sendMessage", "editMessageText"}
        or not event.ok
    ):
        return
    who = NAMES.get(event.chat_id or 0, str(event.chat_id))
    verb = "更新訊息" if event.method == "editMessageText" else "→"
    body = textwrap.indent(event.text or "", "      │ ", lambda _line: True)
    buttons = " ".join(f"[{b.text}]" for row in _buttons(event) for b in row)
    print(f"  🤖 {verb} {who}\n{body}" + (f"\n      │ 按鈕：{buttons}" if buttons else ""))


def _buttons(call: BotCall) -> list[list[Button]]:
    return inline_buttons(call.reply_markup)


async def _play(emu: TelegramEmulator, pause: float) -> None:
    mei = emu.user(EMPLOYEE, "小美", username="mei_private")
    jie = emu.user(SECOND_EMPLOYEE, "阿傑", username="jie_private")
    wang = emu.user(COUNSELOR, "Wang", username="wang_counselor")
    lin = emu.user(SUPERVISOR, "Lin", username="lin_supervisor")

    async def say(user: ChatUser, text: str, *, expect: int, containing: str = "") -> BotCall:
        await asyncio.sleep(pause)
        update = await emu.send_text(user, text)
        return await emu.wait_for(
            lambda c: containing in (c.text or ""), method="sendMessage", chat_id=expect, since=update,
            timeout=STEP_TIMEOUT,
        )  # fmt: skip

    async def press(
        user: ChatUser, call: BotCall, data: str, *, expect: int, containing: str = ""
    ) -> BotCall:
        await asyncio.sleep(pause)
        assert call.message_id is not None
        update = await emu.press_button(user, call.message_id, data)
        return await emu.wait_for(
            lambda c: containing in (c.text or ""), method="sendMessage", chat_id=expect, since=update,
            timeout=STEP_TIMEOUT,
        )  # fmt: skip

    print(SECTIONS[0])
    await say(wang, "/onduty", expect=COUNSELOR)
    print(f"\n{SECTIONS[1]}")
    notice = await say(mei, "/start", expect=EMPLOYEE)
    areas = await press(mei, notice, "consent:accept", expect=EMPLOYEE)
    await press(mei, areas, "area:work_stress", expect=EMPLOYEE)
    mark = emu.mark()
    await say(mei, "最近工作量暴增，主管一直加派任務，我晚上都睡不著，很焦慮。", expect=EMPLOYEE)
    card = await emu.wait_for(method="sendMessage", chat_id=COUNSELOR, since=mark, timeout=STEP_TIMEOUT)
    print(f"\n{SECTIONS[2]}")
    await press(wang, card, card.button_data[0], expect=EMPLOYEE, containing="接手")
    await say(wang, "您好，我是今天值班的心理師。聽起來您這陣子真的很辛苦，睡不好多久了呢？", expect=EMPLOYEE)
    await say(mei, "大概兩個禮拜了，白天上班也很難專心。", expect=COUNSELOR)
    await say(wang, "/note 睡眠困擾兩週，工作量增加；建議面談", expect=COUNSELOR)
    ask = await say(wang, "/end", expect=COUNSELOR)
    mark = emu.mark()
    await press(wang, ask, ask.button_data[1], expect=COUNSELOR, containing="已結案")  # 轉介面談諮商
    referral = await emu.wait_for(
        lambda c: "預約代碼" in (c.text or ""), method="sendMessage", chat_id=EMPLOYEE, since=mark,
        timeout=STEP_TIMEOUT,
    )  # fmt: skip
    survey = await emu.wait_for(
        lambda c: "問卷" in (c.text or ""), method="sendMessage", chat_id=EMPLOYEE, since=mark,
        timeout=STEP_TIMEOUT,
    )  # fmt: skip
    print(f"\n{SECTIONS[3]}")
    await say(wang, "/slots add 2026-11-27 18:30 60 online", expect=COUNSELOR, containing="新增時段")
    code = re.findall(r"BK-\w{8}", referral.text or "")[0]
    offer = await say(mei, f"/book {code}", expect=EMPLOYEE, containing="時段")
    consent = await press(mei, offer, offer.button_data[0], expect=EMPLOYEE, containing="同意")
    request = await press(mei, consent, consent.button_data[0], expect=COUNSELOR, containing="預約申請")
    await press(wang, request, request.button_data[0], expect=COUNSELOR, containing="tg://user")
    print(f"\n{SECTIONS[4]}")
    rated = await press(mei, survey, survey.button_data[4], expect=EMPLOYEE, containing="推薦")
    await press(mei, rated, rated.button_data[-1], expect=EMPLOYEE, containing="謝謝")
    print(f"\n{SECTIONS[5]}")
    mark = emu.mark()
    await say(jie, "我真的撐不下去了，今晚想從頂樓跳下去", expect=SECOND_EMPLOYEE)
    alert = await emu.wait_for(
        lambda c: c.method == "sendMessage" and "危機" in (c.text or ""), chat_id=COUNSELOR, since=mark,
        timeout=STEP_TIMEOUT,
    )  # fmt: skip
    await press(wang, alert, alert.button_data[0], expect=SECOND_EMPLOYEE, containing="接手")
    await say(
        wang,
        "我是值班心理師，我在這裡。你現在在哪裡？身邊有人陪你嗎？",
        expect=SECOND_EMPLOYEE,
        containing="我在這裡",
    )
    del lin


async def run_demo(*, fast: bool = False) -> int:
    pause = 0.0 if fast else 0.4
    print(
        "hotline demo: 真實的 python-telegram-bot 程式連到本機的 Telegram Bot API 模擬器，"
        "E-mail 抒壓站以真實的 SMTP 寄到本機的郵件伺服器，LINE 以真實的 line-bot-sdk 連到本機的 LINE 模擬器"
        "（不需 token、不連網路、不需安裝郵件伺服器）。\n"
    )
    with tempfile.TemporaryDirectory(prefix="hotline-demo-") as tmp:
        async with TelegramEmulator(token=TOKEN) as emu, LocalSmtp() as smtp, LineEmulator() as line:
            settings = stage_settings(
                emu.api_url, TOKEN, Path(tmp) / "demo.db", config_dir=_config_dir(),
                booking={"office_phone": DEMO_PHONE},
                # The station is on when an IMAP host is set; the demo's inbox hands mail to it in this
                # process instead (sandbox.mail.LocalInbox), so nothing ever connects to this address.
                imap_host="127.0.0.1", imap_user="demo", imap_password="demo", imap_security="none",
                smtp_host=smtp.host, smtp_port=smtp.port, smtp_security="none", mail_from=STATION,
                line_channel_secret=line.channel_secret, line_channel_access_token=line.access_token,
                line_api_url=line.api_url, line_webhook_listen="127.0.0.1:0",
            )  # fmt: skip
            # background_mail=False: no IMAP poller; the demo hands mail in and lets the outbox send
            async with Service(settings, clock=StageClock(), background_mail=False) as service:
                assert service.line_webhook is not None
                line.set_webhook(service.line_webhook.url)
                unsubscribe = emu.subscribe(_show)
                try:
                    await _play(emu, pause)
                    await play_mail(service, emu, smtp, pause)
                    await play_line(line, emu, COUNSELOR, pause)
                except TimeoutError as exc:
                    print(f"\ndemo failed: the service did not answer in time ({exc})", file=sys.stderr)
                    return 1
                finally:
                    unsubscribe()
    print("\n示範結束：所有資料都在暫存目錄中，已刪除。")
    return 0


def _config_dir() -> Path:
    from hotline.settings import DEFAULT_CONFIG_DIR

    return DEFAULT_CONFIG_DIR
