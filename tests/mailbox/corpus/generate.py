"""Writes the .eml corpus of tests/mailbox (run: python tests/mailbox/corpus/generate.py).

The files are committed; this script documents how each was made (the byte-level tricks: charsets,
soft line breaks, encoded words split mid-character) and can recreate them.
"""

from __future__ import annotations

import base64
import quopri
from pathlib import Path

HERE = Path(__file__).parent
ACK_ID = "<5f0c9a7e1b2d4c3e8a6b7d9e0f1a2b3c.hotline@hotline.example>"


def head(subject: bytes | str, extra: str = "", *, mid: str | None = "auto", name: str = "corpus") -> bytes:
    subj = (
        subject if isinstance(subject, bytes) else subject.encode("utf-8")
    )  # raw 8-bit, as some clients send
    lines = [
        b"From: employee@agency.example.gov.tw",
        b"To: station@hotline.example",
        b"Subject: " + subj,
        b"Date: Fri, 20 Nov 2026 10:15:00 +0800",
    ]
    if mid == "auto":
        lines.append(f"Message-ID: <{name}@agency.example.gov.tw>".encode())
    elif mid is not None:
        lines.append(f"Message-ID: {mid}".encode())
    lines += [x.encode() for x in extra.strip("\n").split("\n") if x]
    return b"\r\n".join(lines) + b"\r\n"


def b64word(text: str, charset: str, codec: str | None = None) -> bytes:
    return b"=?" + charset.encode() + b"?B?" + base64.b64encode(text.encode(codec or charset)) + b"?="


def plain(charset: str | None, body: bytes, cte: str = "8bit") -> bytes:
    ctype = "text/plain" + (f"; charset={charset}" if charset else "")
    return (
        f"MIME-Version: 1.0\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n".encode()
        + body
    )


def crlf(text: str, codec: str = "utf-8") -> bytes:
    return text.replace("\n", "\r\n").encode(codec)


def build() -> dict[str, bytes]:
    c: dict[str, bytes] = {}
    c["01_big5_cp950"] = head("big5", name="01") + plain(
        "big5",
        crlf("主管說這個月的績效獎金少了 5€，我覺得很不公平。\n碁峰、銹、恒、裏都能正確顯示嗎？\n", "cp950"),
    )
    c["02_big5_hkscs"] = head("hkscs", name="02") + plain(
        "big5-hkscs", crlf("我係香港嚟嘅同事，啲嘢好多，好攰。\n", "big5hkscs")
    )
    c["03_gb2312_label_gb18030"] = head("gb", name="03") + plain(
        "gb2312", crlf("朱镕基说过：压力很大的时候要休息。囧\n", "gb18030")
    )
    c["04_big5_labelled_gb2312"] = head("mislabel", name="04") + plain(
        "gb2312", crlf("我最近工作壓力很大，晚上都睡不著，不知道該怎麼辦。\n", "cp950")
    )
    c["05_utf8_labelled_big5"] = head("mislabel utf8", name="05") + plain(
        "big5", crlf("您好，我想預約諮商，謝謝。\n")
    )
    c["06_unlabelled_big5"] = head("unlabelled", name="06") + (
        b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
        + crlf("同事一直排擠我，我很難過。\n", "cp950")
    )
    c["07_no_mime_utf8"] = head("no mime", name="07") + b"\r\n" + crlf("沒有 MIME 標頭的信。\n")
    split = "工作壓力好大".encode("cp950")
    c["08_rfc2047_big5_split_word"] = (
        head(
            b"=?big5?B?"
            + base64.b64encode(split[:5])
            + b"?=\r\n =?big5?B?"
            + base64.b64encode(split[5:])
            + b"?=",
            "Content-Type: text/plain; charset=utf-8",
            name="08",
        ).replace(
            b"From: employee@agency.example.gov.tw",
            b"From: " + b64word("王小明", "big5", "cp950") + b" <wang@agency.example.gov.tw>",
        )
        + b"\r\n"
        + crlf("內文\n")
    )
    c["09_rfc2047_wrong_label"] = (
        head(
            b64word("想請教家庭關係的問題", "gb2312", "cp950")
            + b" "
            + b"=?iso-8859-1?B?"
            + base64.b64encode("（急）".encode())
            + b"?=",
            "Content-Type: text/plain; charset=utf-8",
            name="09",
        )
        + b"\r\n"
        + crlf("內文\n")
    )
    qp = quopri.encodestring(
        "我覺得自己撐不下去了，每天上班都像在受刑，主管又在會議上當眾羞辱我。".encode("cp950")
    )
    c["10_qp_big5_soft_breaks"] = head("qp", name="10") + plain(
        "big5", qp.replace(b"\n", b"\r\n") + b"\r\n", "quoted-printable"
    )
    c["11_base64_utf8"] = head("b64", name="11") + plain(
        "utf-8",
        base64.encodebytes(crlf("財務問題讓我很焦慮，卡債越來越多。\n")).replace(b"\n", b"\r\n"),
        "base64",
    )
    c["12_html_only"] = head("html", name="12") + (
        b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=big5\r\n\r\n"
        + crlf(
            "<html><head><title>標題不要</title><style>p{color:red}</style>"
            "<script>alert('不要執行')</script></head><body>"
            "<p>第一段&nbsp;有&amp;符號</p><div>第二段<br>換行</div><ul><li>項目一</li><li>項目二</li></ul>"
            "</body></html>\n",
            "cp950",
        )
    )
    c["13_attachments"] = head(
        "attachments", 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="BOUND"', name="13"
    ) + (
        b"\r\n--BOUND\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + crlf("附件是診斷證明。\n")
        + b"--BOUND\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=UTF-8''%E8%A8%BA%E6%96%B7.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(b"%PDF-1.4 fake").replace(b"\n", b"\r\n")
        + b'--BOUND\r\nContent-Type: application/x-msdownload; name="'
        + b64word("工具.exe", "utf-8")
        + b'"\r\n'
        b'Content-Disposition: attachment; filename="..\\\\..\\\\evil.exe"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.encodebytes(b"MZ\x90\x00not really").replace(b"\n", b"\r\n")
        + b"--BOUND\r\nContent-Type: image/png\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(b"\x89PNG\r\n\x1a\nfake").replace(b"\n", b"\r\n")
        + b"--BOUND\r\nContent-Type: text/plain; charset=utf-8; name=notes.txt\r\nContent-Disposition: attachment; filename=notes.txt\r\n\r\n"
        + crlf("附件文字不是內文\n")
        + b"--BOUND--\r\n"
    )
    c["14_outlook_zh_tw_reply"] = (
        head(
            "RE: 工作壓力".encode(),
            f"In-Reply-To: {ACK_ID}\nContent-Type: text/plain; charset=big5",
            name="14",
        )
        + b"\r\n"
        + crlf(
            "謝謝您的回覆，我下週可以去面談。\n\n"
            "________________________________\n"
            "寄件者: E-mail 抒壓站 <station@hotline.example>\n"
            "寄件日期: 2026年11月20日 上午 10:15\n"
            "收件者: employee@agency.example.gov.tw\n"
            "主旨: Re: 工作壓力\n\n"
            "您好，我們已收到您的來信。\n",
            "cp950",
        )
    )
    c["15_gmail_zh_tw_reply"] = (
        head(
            "Re: 工作壓力".encode(),
            f"In-Reply-To: {ACK_ID}\nContent-Type: text/plain; charset=UTF-8",
            name="15",
        )
        + b"\r\n"
        + crlf(
            "好的，我會再寫信。\n\n"
            "於 2026年11月20日 週五 上午10:15，E-mail 抒壓站 <station@hotline.example> 寫道：\n\n"
            "> 您好，我們已收到您的來信。\n> 個案代碼 HL-7KQ2MX\n"
        )
    )
    c["16_english_reply_wrapped"] = (
        head("Re: stress", f"In-Reply-To: {ACK_ID}\nContent-Type: text/plain; charset=us-ascii", name="16")
        + b"\r\n"
        + crlf(
            "Thanks, I will call on Monday.\n\n-- \nJohn Chen\nAgency IT\n\n"
            "On Fri, Nov 20, 2026 at 10:15 AM E-mail Station <station@hotline.example>\nwrote:\n\n> We received your mail.\n"
        )
    )
    c["17_apple_mail_zh_reply"] = (
        head("Re: 家庭", f"In-Reply-To: {ACK_ID}\nContent-Type: text/plain; charset=utf-8", name="17")
        + b"\r\n"
        + crlf(
            "我和先生又吵架了。\n\n> 王小明 <wang@agency.example.gov.tw> 於 2026年11月20日 上午10:15 寫道：\n>\n> 原來的信\n"
            "\n E-mail 抒壓站 <station@hotline.example> 於 2026年11月20日 上午10:15 寫道：\n\n> 更早的信\n"
        )
    )
    c["18_followup_in_reply_to"] = (
        head("Re: 補充", f"In-Reply-To: {ACK_ID}\nContent-Type: text/plain; charset=utf-8", name="18")
        + b"\r\n"
        + crlf("補充一點。\n")
    )
    c["19_followup_references_only"] = (
        head(
            "Re: 補充",
            f"References: <orig@agency.example.gov.tw>\n {ACK_ID}\nContent-Type: text/plain; charset=utf-8",
            name="19",
        )
        + b"\r\n"
        + crlf("只有 References。\n")
    )
    c["20_followup_case_code_in_encoded_subject"] = (
        head(
            b64word("[HL-7KQ2MX] 我又來了", "big5", "cp950"),
            "Content-Type: text/plain; charset=utf-8",
            name="20",
        )
        + b"\r\n"
        + crlf("沒有任何串接標頭。\n")
    )
    c["21_autoreply_by_header"] = (
        head(
            "Re: 工作壓力".encode(),
            "Auto-Submitted: auto-replied\nContent-Type: text/plain; charset=utf-8",
            name="21",
        )
        + b"\r\n"
        + crlf("我休假到 11/30。\n")
    )
    c["22_autoreply_by_subject_zh_tw"] = (
        head(b64word("自動回覆: 工作壓力", "utf-8"), "Content-Type: text/plain; charset=utf-8", name="22")
        + b"\r\n"
        + crlf("我目前不在辦公室。\n")
    )
    c["23_autoreply_by_subject_en"] = (
        head("Out of Office: stress", "Content-Type: text/plain; charset=utf-8", name="23")
        + b"\r\n"
        + crlf("Back on Monday.\n")
    )
    c["24_precedence_bulk"] = (
        head("Newsletter", "Precedence: bulk\nContent-Type: text/plain; charset=utf-8", name="24")
        + b"\r\n"
        + crlf("電子報\n")
    )
    c["25_x_autoreply_zh_cn"] = (
        head(
            b64word("自动回复：工作", "gb2312", "gb18030"),
            "X-Autoreply: yes\nContent-Type: text/plain; charset=gb2312",
            name="25",
        )
        + b"\r\n"
        + crlf("我在休假。\n", "gb18030")
    )
    c["26_malformed_headers"] = (
        b"From: broken <<>>@@\r\nSubject: =?big5?B?###?= =?unknown-charset?Q?abc?=\r\nThis line has no colon\r\n"
        b"Message-ID: no brackets@agency.example.gov.tw\r\nDate: yesterday-ish\r\n"
        b'Content-Type: text/plain; charset="utf-8\r\n\r\n' + crlf("還是要能讀到內文。\n")
    )
    c["27_truncated_mime"] = head(
        "truncated", 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="CUT"', name="27"
    ) + (
        b"\r\n--CUT\r\nContent-Type: text/plain; charset=big5\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode("被截斷的信，後面沒有了".encode("cp950"))[:-3]
        + b"\r\n"
        + b"--CUT\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0x"
    )
    c["28_crisis_in_new_text"] = (
        head(
            "Re: 工作壓力".encode(),
            f"In-Reply-To: {ACK_ID}\nContent-Type: text/plain; charset=utf-8",
            name="28",
        )
        + b"\r\n"
        + crlf(
            "其實我已經把貓送給朋友了，保險受益人也改好了，這是最後一封信。\n\n"
            "On Fri, Nov 20, 2026 at 10:15 AM E-mail Station <station@hotline.example> wrote:\n> 請問最近還好嗎？\n"
        )
    )
    c["29_crisis_only_in_quote"] = (
        head(
            "Re: 好多了".encode(), f"In-Reply-To: {ACK_ID}\nContent-Type: text/plain; charset=big5", name="29"
        )
        + b"\r\n"
        + crlf(
            "謝謝你們，這週好多了，已經跟主管談過。\n\n"
            "-----原始郵件-----\n寄件者: employee@agency.example.gov.tw\n寄件日期: 2026年11月18日 下午 11:02\n主旨: 工作壓力\n\n"
            "我不想活了，想從頂樓跳下去。\n",
            "cp950",
        )
    )
    refs = " ".join(f"<CAF{i:03d}={'q' * 90}@mail.gmail.com>" for i in range(60))
    folded = "\n ".join(refs.split(" "))
    c["30_very_long_references"] = (
        head(
            "Re: long thread",
            f"In-Reply-To: {ACK_ID}\nReferences: {folded}\n {ACK_ID}\nContent-Type: text/plain; charset=utf-8",
            name="30",
        )
        + b"\r\n"
        + crlf("第六十一封。\n")
    )
    c["31_gmail_html_reply"] = (
        head(
            "Re: 工作壓力".encode(),
            f"In-Reply-To: {ACK_ID}\nContent-Type: text/html; charset=UTF-8",
            name="31",
        )
        + b"\r\n"
        + crlf(
            '<div dir="ltr">我昨天又哭了一整晚。<br></div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
            "於 2026年11月20日 週五 上午10:15，E-mail 抒壓站 &lt;station@hotline.example&gt; 寫道：<br></div>"
            '<blockquote class="gmail_quote" style="margin:0px">您好，我們已收到您的來信。<br>個案代碼 HL-7KQ2MX</blockquote></div>\n'
        )
    )
    c["32_outlook_zh_cn_reply"] = (
        head(
            "RE: 工作".encode(), f"In-Reply-To: {ACK_ID}\nContent-Type: text/plain; charset=gb2312", name="32"
        )
        + b"\r\n"
        + crlf(
            "收到，谢谢。\n\n发件人：E-mail 抒壓站 <station@hotline.example>\n发送时间：2026年11月20日 10:15\n收件人：me\n主题：工作\n\n原来的信\n",
            "gb18030",
        )
    )
    c["33_bottom_post"] = (
        head(
            "Re: 工作壓力".encode(),
            f"In-Reply-To: {ACK_ID}\nContent-Type: text/plain; charset=utf-8",
            name="33",
        )
        + b"\r\n"
        + crlf(
            "於 2026年11月20日 週五 上午10:15，E-mail 抒壓站 <station@hotline.example> 寫道：\n> 請問最近還好嗎？\n\n不太好，我最近常常失眠。\n"
        )
    )
    c["34_forwarded_kept"] = (
        head("Fwd: 同事的訊息".encode(), "Content-Type: text/plain; charset=utf-8", name="34")
        + b"\r\n"
        + crlf(
            "同事昨晚傳了這個，我很擔心。\n\n---------- Forwarded message ---------\nFrom: 同事 <colleague@agency.example.gov.tw>\n"
            "Date: 2026年11月19日 週四 下午11:40\nSubject: 再見\n\n謝謝大家這些年的照顧，以後不會再麻煩大家了。\n"
        )
    )
    c["35_message_id_without_brackets"] = (
        head(
            "bare id",
            "Content-Type: text/plain; charset=utf-8",
            mid="bare-id-123@agency.example.gov.tw",
            name="35",
        )
        + b"\r\n"
        + crlf("內文\n")
    )
    c["36_no_message_id"] = (
        head("no id", "Content-Type: text/plain; charset=utf-8", mid=None, name="36")
        + b"\r\n"
        + crlf("沒有 Message-ID。\n")
    )
    c["37_quoted_text_in_story"] = (
        head("家裡的事".encode(), "Content-Type: text/plain; charset=utf-8", name="37")
        + b"\r\n"
        + crlf(
            "我先生在信裡寫道：\n你最好乖乖聽話，不然有你好看。\n他上週又動手打我，我好害怕。\n--\n這不是簽名，只是分隔線\n1\n2\n3\n4\n5\n6\n7\n8\n9\n"
        )
    )
    return c


def main() -> None:
    for name, raw in build().items():
        (HERE / f"{name}.eml").write_bytes(raw)


if __name__ == "__main__":
    main()
