"""A mail corpus shaped like the e-mail station's production mail (issue 12 §3), deterministic.

``realistic(n)`` gives ``n`` mails, each from its own sender (``n`` distinct addresses, so ``n`` new
cases and ``n`` acknowledgements), about 2 KB each on average, in these shapes (by ``i % 20``):

- 11 in 20 multipart/alternative: a text/plain part and a text/html part, one base64 and the other
  quoted-printable (alternating which);
- 3 in 20 HTML only (base64 or quoted-printable);
- 4 in 20 text/plain with ``format=flowed`` (soft line breaks with trailing spaces; half of them
  quoted-printable, half 8bit);
- 2 in 20 plain text 8bit;

one in six in Big5 (``i % 6 == 0``; encoded as cp950), the rest UTF-8; every subject an RFC 2047 encoded
word (B or Q, in the body's charset) and every From a display name in RFC 2047 with its address; about
one in three a reply quoting an earlier mail (``>`` lines under an attribution line); the usual
transport headers (Received ×2, DKIM-Signature, Return-Path). ``CRISES`` of them carry a real crisis
(`elevated` or `imminent`), one in eight an ordinary distress mail (exhaustion about caring for a
parent or a child, with an everyday time phrase: `distress`, no alert); the rest everyday questions
about work, family, money and law.
"""

from __future__ import annotations

import base64
import quopri
import random
from collections.abc import Iterator
from email.header import Header
from html import escape

CRISES = 6  # mails with a real cue of danger among ``n``

SUBJECTS = [
    "工作壓力很大，想找人談談",
    "請問諮商怎麼預約",
    "關於家庭關係的困擾",
    "主管的要求讓我很困擾",
    "想了解法律諮詢的服務",
    "最近睡不好",
    "財務問題請教",
    "職涯規劃的問題",
    "同事相處的問題",
    "照顧家人好累",
    "孩子的教養問題",
    "請問 EAP 的保密原則",
    "婚姻的事情想請教",
    "新進人員的適應",
]
EVERYDAY = [  # {a}, {b}: numbers, so that mails do not share their sentences (as real ones do not)
    "最近工作上的事情越來越多，主管每週交代{a}件新任務，常常要加班到晚上{b}點才能回家。",
    "我想請問一下，員工協助方案的諮商是不是完全保密？我在這個單位{a}年了，會不會讓人事或主管知道？",
    "家裡每個月房貸{a}萬加上小孩的學費{b}千，壓力很大，不知道有沒有財務諮詢可以幫忙規劃。",
    "我和同事之間因為業務分配的問題有一些摩擦，這{a}個星期開會的時候氣氛都很僵，不知道該怎麼處理。",
    "從{a}月開始晚上常常睡不著，大概只睡{b}個小時，白天上班精神很差，擔心會影響工作表現。",
    "想了解法律諮詢的範圍，我們家有一件{a}坪土地繼承的事情，{b}個兄弟姊妹之間意見不同。",
    "我{a}月剛調到新的單位，業務內容和以前完全不一樣，{b}個多星期了還是覺得自己學得很慢，有點焦慮。",
    "最近和另一半常常為了小事吵架，這個月已經吵了{a}次，兩個人都很累，想知道有沒有婚姻諮商的資源。",
    "我今年{a}歲，在考慮要不要轉換跑道，但又擔心年紀和經驗的問題，想找人聊聊職涯的方向。",
    "謝謝你們{a}月{b}日的回覆，我已經和主管談過了，情況有好一點，但還是有些地方想請教。",
    "請問面談諮商一年可以使用幾個小時？我已經用了{a}個小時，如果超過了要怎麼收費？可以約晚上{b}點嗎？",
    "孩子上國中{a}年級以後很少跟我們說話，回家就關在房間裡{b}個小時，我和太太都不知道該怎麼跟他溝通。",
]
DISTRESS = [
    "照顧我媽媽已經三年了，白天上班晚上顧她，真的快撐不住了，明天還要請假帶她去回診。",
    "孩子生病住院，我每天下班就趕去醫院，心好累，這週末還要輪班，覺得身心俱疲。",
    "最近工作和家裡的事情壓得我喘不過氣，每天都在哭，明天又要面對主管，快崩潰了。",
    "爸爸失智以後都是我在照顧，弟弟妹妹都不管，我真的到極限了，下班後還要煮飯餵藥。",
]
CRISIS = [
    "我已經把安眠藥都存好了，今晚就想結束這一切，對不起讓大家失望。",
    "活著好累，覺得自己是家人的負擔，我已經寫好遺書了，不想再醒來。",
    "我常常站在頂樓往下看，想著跳下去就解脫了，這個週末可能就會去做。",
]
CLOSINGS = ["謝謝您撥空看這封信。", "麻煩您了，謝謝。", "希望能盡快收到回覆。", "謝謝。"]
NAMES = ["陳小姐", "林先生", "王小明", "張美玲", "李志豪", "黃淑芬", "吳建宏", "劉怡君", "蔡佩珊", "楊家豪"]
DOMAINS = ["mail.agency.gov.tw", "tycg.gov.tw", "gmail.com", "yahoo.com.tw", "hotmail.com"]
QUOTED = [
    "您好，我們已收到您的來信，個案代碼為 E-{code}，會在三個工作天內回覆您。",
    "如果您有立即的危險，請撥打 1925 安心專線（24 小時）。",
    "E-mail 抒壓站 敬上",
]


def _paragraphs(rng: random.Random, i: int, crises: set[int]) -> list[str]:
    body = [f"您好，我是{NAMES[i % len(NAMES)]}。"]
    count = rng.choice((1, 1, 2, 2, 3))
    body += [p.format(a=rng.randint(2, 40), b=rng.randint(3, 12)) for p in rng.sample(EVERYDAY, count)]
    if i in crises:
        body.insert(len(body) - 1, CRISIS[i % len(CRISIS)])
    elif i % 8 == 3:
        body.insert(1, DISTRESS[i % len(DISTRESS)])
    body.append(rng.choice(CLOSINGS))
    return body


def _html(paragraphs: list[str]) -> str:
    inner = "".join(
        f'<p style="margin:0 0 1em 0;font-family:Microsoft JhengHei">{escape(p, quote=False)}</p>\r\n'
        for p in paragraphs
    )
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>\r\n'
        f'<body><div dir="ltr">\r\n{inner}</div></body></html>\r\n'
    )


def _flowed(text: str, width: int = 36) -> str:
    """``text`` as a format=flowed client writes it (RFC 3676, DelSp=yes): lines cut at ``width``
    characters with a trailing space at each soft break; a quoted line's continuations keep its ``>``
    marks; a line starting with a space, ``>`` or ``From `` is space-stuffed."""
    out: list[str] = []
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        marks, rest = line[:depth], line[depth:]
        if depth and rest.startswith(" "):
            rest = rest[1:]  # the space after the marks is stuffing, added again below
        while len(rest) > width:
            out.append(_stuffed(marks, rest[:width]) + " ")
            rest = rest[width:]
        out.append(_stuffed(marks, rest))
    return "\r\n".join(out)


def _stuffed(marks: str, text: str) -> str:
    if marks:
        return marks + " " + text
    return " " + text if text.startswith((" ", ">", "From ")) else text


def _part(content_type: str, charset: str, codec: str, text: str, cte: str, extra: str = "") -> bytes:
    data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode(codec)
    if cte == "base64":
        body = base64.encodebytes(data).replace(b"\n", b"\r\n")
    elif cte == "quoted-printable":
        # quopri keeps the CRLF it is given: only bare LFs become CRLF (a blind replace wrote "=\r\r\n",
        # which an IMAP server stores as a soft break and an empty line: a line break mid-character)
        body = quopri.encodestring(data).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    else:
        body = data + b"\r\n"
    head = (
        f"Content-Type: {content_type}; charset={charset}{extra}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    )
    return head.encode("ascii") + body


def _headers(rng: random.Random, i: int, charset: str, subject: str, reply: bool) -> str:
    name = Header(NAMES[i % len(NAMES)], charset).encode()
    domain = DOMAINS[i % len(DOMAINS)]
    address = f"staff{i:04d}.{rng.randrange(10**6):06d}@{domain}"
    encoded = Header(subject, charset).encode()
    if i % 4 == 0:  # a Q-encoded word as some clients write it
        encoded = "=?utf-8?q?" + "".join(f"={b:02X}" for b in subject.encode("utf-8")[:60]) + "?="
    thread = (
        f"In-Reply-To: <ack-{i}@hotline.example>\r\nReferences: <ack-{i}@hotline.example>\r\n"
        if reply
        else ""
    )
    stamp = f"{rng.randrange(10**12):012x}"
    return (
        f"Return-Path: <{address}>\r\n"
        f"Received: from mx{i % 3}.{domain} (mx{i % 3}.{domain} [203.0.113.{i % 250}])\r\n"
        f"\tby mail.hotline.example (Postfix) with ESMTPS id {stamp.upper()}\r\n"
        f"\tfor <station@hotline.example>; Fri, 20 Nov 2026 10:{i % 60:02d}:00 +0800 (CST)\r\n"
        f"Received: by mx{i % 3}.{domain} with SMTP id {stamp}; Fri, 20 Nov 2026 10:{i % 60:02d}:00 +0800\r\n"
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s1;\r\n"
        f"\th=from:to:subject:date:message-id; bh={base64.b64encode(rng.randbytes(32)).decode()};\r\n"
        f"\tb={base64.b64encode(rng.randbytes(64)).decode()}\r\n"
        f"From: {name} <{address}>\r\nTo: =?utf-8?b?RS1tYWlsIOaKkuWjk+ermQ==?= <station@hotline.example>\r\n"
        f"Subject: {'Re: ' if reply else ''}{encoded}\r\n"
        f"Message-ID: <{stamp}.{i}@{domain}>\r\n{thread}"
        f"Date: Fri, 20 Nov 2026 10:{i % 60:02d}:00 +0800\r\nMIME-Version: 1.0\r\n"
    )


def _one(rng: random.Random, i: int, crises: set[int]) -> bytes:
    charset, codec = ("big5", "cp950") if i % 6 == 0 else ("utf-8", "utf-8")
    return compose(rng, i, _paragraphs(rng, i, crises), SUBJECTS[i % len(SUBJECTS)], charset, codec)


def compose(
    rng: random.Random, i: int, paragraphs: list[str], subject: str, charset: str, codec: str
) -> bytes:
    """Mail ``i`` of the corpus's shapes (by ``i % 20``; a reply quoting an earlier mail when
    ``i % 3 == 1``) carrying ``paragraphs`` under ``subject``, encoded in ``codec``."""
    reply = i % 3 == 1
    text = "\n\n".join(paragraphs)
    if reply:
        attribution = "於 2026年11月18日 週三 下午3:20，E-mail 抒壓站 <station@hotline.example> 寫道："
        text += "\n\n" + attribution + "\n" + "\n".join("> " + q.format(code=f"{i:05d}") for q in QUOTED)
    head = _headers(rng, i, charset, subject, reply)
    shape = i % 20
    if shape < 11:
        plain_b64 = i % 2 == 0
        boundary = f"000000000000{i:08x}alt"
        plain = _part("text/plain", charset, codec, text, "base64" if plain_b64 else "quoted-printable")
        html = _part(
            "text/html", charset, codec, _html(paragraphs), "quoted-printable" if plain_b64 else "base64"
        )
        return (
            head.encode("ascii")
            + f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode("ascii")
            + f"--{boundary}\r\n".encode("ascii") + plain
            + f"\r\n--{boundary}\r\n".encode("ascii") + html
            + f"\r\n--{boundary}--\r\n".encode("ascii")
        )  # fmt: skip
    if shape < 14:
        return head.encode("ascii") + _part(
            "text/html", charset, codec, _html(paragraphs), "base64" if i % 2 else "quoted-printable"
        )
    if shape < 18:
        return head.encode("ascii") + _part(
            "text/plain",
            charset,
            codec,
            _flowed(text),
            "quoted-printable" if i % 2 else "8bit",
            "; format=flowed; delsp=yes",
        )
    return head.encode("ascii") + _part("text/plain", charset, codec, text, "8bit")


def realistic(n: int, seed: int = 12) -> Iterator[bytes]:
    rng = random.Random(seed)
    crises = {round(k * n / CRISES) + 5 for k in range(CRISES)} if n > 5 * CRISES else {0}
    for i in range(n):
        yield _one(rng, i, crises)


def describe(n: int) -> str:
    sizes = [len(raw) for raw in realistic(n)]
    return (
        f"{n} mails from {n} distinct senders, {sum(sizes) / len(sizes) / 1024:.1f} KB a mail on average "
        f"(largest {max(sizes) / 1024:.1f} KB): 55 % multipart/alternative (base64 + quoted-printable), "
        f"15 % HTML only, 20 % format=flowed (half quoted-printable), 10 % plain 8bit; 1 in 6 Big5; RFC 2047 subjects and names; "
        f"1 in 3 a reply with quoted text; {CRISES} crises, 1 in 8 ordinary distress"
    )


if __name__ == "__main__":
    print(describe(1000))
