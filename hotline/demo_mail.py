"""The e-mail station part of `make demo`: anonymous mail in, acknowledgement out, the counselor's
console, the answer in the same thread, and a crisis mail reaching the on-duty counselor at once.

Outgoing mail goes through the service's real SMTP client to a real SMTP server in this process
(`sandbox.mail.LocalSmtp`); incoming mail is handed to the station at the seam the IMAP poller feeds
(`sandbox.mail.LocalInbox`), so no IMAP server (Dovecot) is needed.
"""

from __future__ import annotations

import asyncio
import textwrap
from email.header import Header
from email.mime.text import MIMEText
from email.utils import format_datetime

from hotline.app import Service
from hotline.flows import mailcase
from hotline.sandbox import BotCall, ChatUser, TelegramEmulator
from hotline.sandbox.mail import LocalInbox, LocalSmtp, SentMail

STATION = "eap-station@demo.example"
WRITER = "tired.clerk@mail.demo.example"
CRISIS_WRITER = "anon.0427@mail.demo.example"
MAIL_COUNSELOR = 9002
STEP_TIMEOUT = 10.0

# One section per step; a test checks that each of these lines was printed.
SECTIONS = (
    "── 7. E-mail 抒壓站：陳心理師上線值班 ──",
    "── 8. 匿名來信（Big5 編碼）抵達，系統自動回覆確認信與回覆期限 ──",
    "── 9. 心理師在 Telegram 主控台看到這封信（只有案件代號，沒有寄件地址） ──",
    "── 10. 心理師的回覆以 E-mail 寄回同一個討論串 ──",
    "── 11. 危機來信（HTML 格式）：立即通報值班心理師，並回信附上求助專線 ──",
)


class _Acts:
    """A counselor's actions on the emulator, each returning the bot's next message to them."""

    def __init__(self, emu: TelegramEmulator, pause: float) -> None:
        self.emu, self.pause = emu, pause

    async def say(self, user: ChatUser, text: str, containing: str = "") -> BotCall:
        await asyncio.sleep(self.pause)
        update = await self.emu.send_text(user, text)
        return await self.emu.wait_for(
            lambda c: containing in (c.text or ""), method="sendMessage", chat_id=user.id, since=update,
            timeout=STEP_TIMEOUT,
        )  # fmt: skip

    async def press(self, user: ChatUser, call: BotCall, data: str) -> BotCall:
        await asyncio.sleep(self.pause)
        assert call.message_id is not None
        update = await self.emu.press_button(user, call.message_id, data)
        return await self.emu.wait_for(
            method="sendMessage", chat_id=user.id, since=update, timeout=STEP_TIMEOUT
        )


def big5_mail(subject: str, body: str, message_id: str, date: str) -> bytes:
    """A plain-text mail as many Taiwanese mail programs still send it: Big5 body, RFC 2047 subject."""
    msg = MIMEText(body, "plain", "big5")
    msg["Subject"] = Header(subject, "big5").encode()
    return _headers(msg, WRITER, message_id, date)


def html_mail(subject: str, html: str, message_id: str, date: str) -> bytes:
    """An HTML-only mail (no text part), as web mail often sends."""
    msg = MIMEText(html, "html", "utf-8")
    msg["Subject"] = Header(subject, "utf-8").encode()
    return _headers(msg, CRISIS_WRITER, message_id, date)


def _headers(msg: MIMEText, sender: str, message_id: str, date: str) -> bytes:
    msg["From"] = sender
    msg["To"] = STATION
    msg["Date"] = date
    msg["Message-ID"] = message_id
    return msg.as_bytes()


def show_inbound(sender: str, subject: str, body: str, raw: bytes) -> None:
    content_type = next(
        (line for line in raw.decode("ascii", "replace").splitlines() if line.startswith("Content-Type")), ""
    )
    print(f"\n  📧 匿名同仁（{sender}）寄出一封信到 {STATION}")
    print(f"      │ 主旨：{subject}")
    print(textwrap.indent(body, "      │ ", lambda _line: True))
    print(f"      │ （原始信件：{content_type}）")


def show_outbound(mail: SentMail) -> None:
    message = mail.message
    print(f"\n  📨 E-mail 抒壓站以 SMTP 寄給 {', '.join(mail.rcpt_tos)}")
    print(f"      │ 主旨：{message['Subject']}")
    print(f"      │ 回覆的信件（In-Reply-To）：{message['In-Reply-To']}")
    print(textwrap.indent(mail.text.strip(), "      │ ", lambda _line: True))


async def send_queued(service: Service, smtp: LocalSmtp) -> None:
    """What the running service's outbox does by itself: send every queued mail (here, when the demo
    says so, for a steady order of output); then print each as the SMTP server received it."""
    assert service.outbox is not None
    before = len(smtp.received)
    sent = await service.outbox.send_due()
    await smtp.wait_for(before + sent, within=STEP_TIMEOUT)
    for mail in smtp.received[before:]:
        show_outbound(mail)


async def play_mail(service: Service, emu: TelegramEmulator, smtp: LocalSmtp, pause: float) -> None:
    """Sections 7-11 of the demo, on a running service whose outbox sends to ``smtp``."""
    assert service.station is not None and service.desk is not None
    acts = _Acts(emu, pause)
    say, press = acts.say, acts.press
    inbox = LocalInbox(service.station)
    desk = service.desk
    chen = emu.user(MAIL_COUNSELOR, "Chen", username="chen_counselor")

    print(f"\n{SECTIONS[0]}")
    await say(chen, "/onduty")

    print(f"\n{SECTIONS[1]}")
    await asyncio.sleep(pause)
    subject = "工作壓力好大"
    body = "您好，我不想留名字。\n最近科裡人手不足，每天加班到很晚，回家也睡不好，\n覺得很疲憊，不知道可以跟誰說。"
    arrived = desk.now()
    raw = big5_mail(subject, body, "<m1.demo@mail.demo.example>", format_datetime(arrived))
    show_inbound(WRITER, subject, body, raw)
    mark = emu.mark()
    await inbox.deliver(raw, arrived)
    card = await emu.wait_for(
        lambda c: "📧" in (c.text or ""), method="sendMessage", chat_id=MAIL_COUNSELOR, since=mark,
        timeout=STEP_TIMEOUT,
    )  # fmt: skip
    await send_queued(service, smtp)
    due = mailcase.reply_due(arrived, desk.settings.email.reply_days, desk.hours.zone)
    remind = mailcase.reminder_time(due, desk.hours.is_working_day, desk.hours.zone)
    print(
        f"\n  ⏰ 回覆期限 {due.date().isoformat()}（收信後 {desk.settings.email.reply_days} 日內）；"
        f"依台灣行事曆（週末、國定假日、補班日），期限前最後一個工作日 "
        f"{remind.astimezone(desk.hours.zone):%Y-%m-%d %H:%M} 若還沒回覆，會提醒值班心理師。"
    )

    print(f"\n{SECTIONS[2]}")
    await press(chen, card, card.button_data[0])

    print(f"\n{SECTIONS[3]}")
    answer = "謝謝您願意寫信來。長期加班又睡不好，真的會讓人很疲憊。方便說說大概持續多久了嗎？"
    await say(chen, answer, containing="已排入寄送")
    mark = emu.mark()
    await send_queued(service, smtp)
    await emu.wait_for(
        lambda c: "已寄出" in (c.text or ""), method="sendMessage", chat_id=MAIL_COUNSELOR, since=mark,
        timeout=STEP_TIMEOUT,
    )  # fmt: skip
    print("\n  （回信的 In-Reply-To 正是同仁來信的 Message-ID，郵件軟體會把它排在同一個討論串。）")

    print(f"\n{SECTIONS[4]}")
    await asyncio.sleep(pause)
    html = "<div>謝謝你們之前的幫忙。</div><div><b>我想死，藥已經準備好了。</b></div>"
    raw = html_mail("對不起", html, "<c1.demo@mail.demo.example>", format_datetime(desk.now()))
    show_inbound(CRISIS_WRITER, "對不起", html, raw)
    mark = emu.mark()
    await inbox.deliver(raw, desk.now())
    await emu.wait_for(
        lambda c: "危機" in (c.text or ""), method="sendMessage", chat_id=MAIL_COUNSELOR, since=mark,
        timeout=STEP_TIMEOUT,
    )  # fmt: skip
    await send_queued(service, smtp)
