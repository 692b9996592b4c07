"""parse_message over the corpus (a table of expectations) and properties on arbitrary input."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.mailbox.charset import _COMMON, _WEIRD_RANGES, _score, decode_bytes
from hotline.mailbox.headers import (
    decode_header_value,
    find_case_code,
    message_ids,
    normalise_message_id,
    thread_keys,
)
from hotline.mailbox.htmltext import html_to_text
from hotline.mailbox.parse import ParsedMail, parse_message
from hotline.mailbox.quotes import strip_quotes

CORPUS = Path(__file__).parent / "corpus"
ACK_ID = "<5f0c9a7e1b2d4c3e8a6b7d9e0f1a2b3c.hotline@hotline.example>"


@dataclass(frozen=True)
class Expect:
    subject: str | None = None
    new_has: tuple[str, ...] = ()
    new_lacks: tuple[str, ...] = ()
    body_has: tuple[str, ...] = ()
    keys: tuple[str, ...] | None = ()  # None: not checked
    code: str | None = None
    auto: bool = False
    malformed: bool = False
    attachments: tuple[tuple[str | None, str], ...] = ()


QUOTE_OF_ACK = ("您好，我們已收到您的來信", "HL-7KQ2MX", "寫道")
TABLE: dict[str, Expect] = {
    "01_big5_cp950": Expect("big5", new_has=("績效獎金少了 5€", "碁峰、銹、恒、裏")),
    "02_big5_hkscs": Expect(new_has=("我係香港嚟嘅同事，啲嘢好多，好攰。",)),
    "03_gb2312_label_gb18030": Expect(new_has=("朱镕基说过", "囧")),
    "04_big5_labelled_gb2312": Expect(new_has=("我最近工作壓力很大，晚上都睡不著",)),
    "05_utf8_labelled_big5": Expect(new_has=("您好，我想預約諮商",)),
    "06_unlabelled_big5": Expect(new_has=("同事一直排擠我，我很難過。",)),
    "07_no_mime_utf8": Expect(new_has=("沒有 MIME 標頭的信。",)),
    "08_rfc2047_big5_split_word": Expect("工作壓力好大"),
    "09_rfc2047_wrong_label": Expect("想請教家庭關係的問題（急）"),
    "10_qp_big5_soft_breaks": Expect(
        new_has=("我覺得自己撐不下去了，每天上班都像在受刑，主管又在會議上當眾羞辱我。",)
    ),
    "11_base64_utf8": Expect(new_has=("財務問題讓我很焦慮，卡債越來越多。",)),
    "12_html_only": Expect(
        new_has=("第一段 有&符號\n第二段\n換行\n項目一\n項目二",),
        new_lacks=("標題不要", "alert", "color", "<"),
    ),
    "13_attachments": Expect(
        new_has=("附件是診斷證明。",),
        new_lacks=("附件文字不是內文", "PDF", "MZ"),
        attachments=(
            ("診斷.pdf", "application/pdf"),
            ("evil.exe", "application/x-msdownload"),
            (None, "image/png"),
            ("notes.txt", "text/plain"),
        ),
    ),
    "14_outlook_zh_tw_reply": Expect(
        "RE: 工作壓力", new_has=("我下週可以去面談",), new_lacks=("寄件者", "_____", "已收到"), keys=(ACK_ID,)
    ),
    "15_gmail_zh_tw_reply": Expect(new_has=("好的，我會再寫信。",), new_lacks=QUOTE_OF_ACK, keys=(ACK_ID,)),
    "16_english_reply_wrapped": Expect(
        new_has=("Thanks, I will call on Monday.",),
        new_lacks=("John Chen", "wrote", "received"),
        keys=(ACK_ID,),
    ),
    "17_apple_mail_zh_reply": Expect(
        new_has=("我和先生又吵架了。",), new_lacks=("原來的信", "更早的信", "寫道"), keys=(ACK_ID,)
    ),
    "18_followup_in_reply_to": Expect(keys=(ACK_ID,)),
    "19_followup_references_only": Expect(keys=(ACK_ID, "<orig@agency.example.gov.tw>")),
    "20_followup_case_code_in_encoded_subject": Expect("[HL-7KQ2MX] 我又來了", code="HL-7KQ2MX"),
    "21_autoreply_by_header": Expect(auto=True),
    "22_autoreply_by_subject_zh_tw": Expect("自動回覆: 工作壓力", auto=True),
    "23_autoreply_by_subject_en": Expect(auto=True),
    "24_precedence_bulk": Expect(auto=True),
    "25_x_autoreply_zh_cn": Expect("自动回复：工作", new_has=("我在休假。",), auto=True),
    "26_malformed_headers": Expect(new_has=("還是要能讀到內文。",), malformed=True),
    "27_truncated_mime": Expect(
        new_has=("被截斷的信，後面沒有",), malformed=True, attachments=(("a.pdf", "application/pdf"),)
    ),
    "28_crisis_in_new_text": Expect(
        new_has=("把貓送給朋友", "保險受益人也改好了", "最後一封信"), new_lacks=("還好嗎",), keys=(ACK_ID,)
    ),
    "29_crisis_only_in_quote": Expect(
        new_has=("這週好多了",),
        new_lacks=("不想活", "頂樓", "原始郵件"),
        body_has=("我不想活了",),
        keys=(ACK_ID,),
    ),
    "30_very_long_references": Expect(new_has=("第六十一封。",), keys=None),
    "31_gmail_html_reply": Expect(new_has=("我昨天又哭了一整晚。",), new_lacks=QUOTE_OF_ACK, keys=(ACK_ID,)),
    "32_outlook_zh_cn_reply": Expect(
        "RE: 工作", new_has=("收到，谢谢。",), new_lacks=("发件人", "原来的信"), keys=(ACK_ID,)
    ),
    "33_bottom_post": Expect(
        new_has=("不太好，我最近常常失眠。",), new_lacks=("還好嗎", "寫道"), keys=(ACK_ID,)
    ),
    "34_forwarded_kept": Expect(new_has=("我很擔心", "以後不會再麻煩大家了")),
    "35_message_id_without_brackets": Expect(),
    "36_no_message_id": Expect(),
    "37_quoted_text_in_story": Expect(
        new_has=("我先生在信裡寫道：\n你最好乖乖聽話", "動手打我", "只是分隔線")
    ),
}


def test_every_corpus_file_has_an_expectation() -> None:
    assert sorted(p.stem for p in CORPUS.glob("*.eml")) == sorted(TABLE)
    assert len(TABLE) >= 25


@pytest.mark.parametrize("name", sorted(TABLE))
def test_corpus(name: str) -> None:
    expect = TABLE[name]
    raw = (CORPUS / f"{name}.eml").read_bytes()
    mail = parse_message(raw)
    if expect.subject is not None:
        assert mail.subject == expect.subject
    for text in expect.new_has:
        assert text in mail.new_text
    for text in expect.new_lacks:
        assert text not in mail.new_text
    for text in (*expect.new_has, *expect.body_has):
        assert text in mail.body_text
    assert "\ufffd" not in mail.new_text or name == "27_truncated_mime"
    if expect.keys is not None:
        assert mail.thread_keys == expect.keys
    assert mail.case_code_in_subject == expect.code
    assert mail.is_auto_reply is expect.auto
    assert mail.malformed is expect.malformed
    assert [(a.filename, a.content_type) for a in mail.attachments] == list(expect.attachments)
    assert_clean(mail)


def test_corpus_identity_fields() -> None:
    mail = parse_message((CORPUS / "08_rfc2047_big5_split_word.eml").read_bytes())
    assert (mail.from_name, mail.from_address) == ("王小明", "wang@agency.example.gov.tw")
    assert mail.message_id == "<08@agency.example.gov.tw>"
    assert mail.dedup_key.startswith("<08@agency.example.gov.tw> wang@agency.example.gov.tw ")
    assert mail.date == datetime(2026, 11, 20, 10, 15, tzinfo=timezone(timedelta(hours=8)))
    bare = parse_message((CORPUS / "35_message_id_without_brackets.eml").read_bytes())
    assert bare.message_id == "<bare-id-123@agency.example.gov.tw>"
    raw = (CORPUS / "36_no_message_id.eml").read_bytes()
    anonymous = parse_message(raw)
    assert anonymous.message_id is None and re.fullmatch(r"sha256:[0-9a-f]{64}", anonymous.dedup_key)
    assert parse_message(raw).dedup_key == anonymous.dedup_key


def test_dedup_key_is_what_a_real_duplicate_shares() -> None:
    """Issue 19: the Message-ID together with the sender and the content, so that a mail sent first
    with someone else's id never passes the real one off as a copy."""
    raw = (CORPUS / "08_rfc2047_big5_split_word.eml").read_bytes()
    key = parse_message(raw).dedup_key
    redelivered = b"Received: from relay2.example (relay2.example [192.0.2.7])\r\n" + raw
    assert parse_message(redelivered).dedup_key == key, "the same mail by another route is a copy"
    forged = raw.replace(b"wang@agency.example.gov.tw", b"mallory@evil.example")
    assert parse_message(forged).dedup_key != key, "another sender with the same id is another mail"
    head, _, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
    other_text = parse_message(head + b"\n\n" + b"QUJD\n")
    assert other_text.message_id == "<08@agency.example.gov.tw>" and other_text.dedup_key != key
    assert body


def test_long_references_are_all_kept_newest_first() -> None:
    mail = parse_message((CORPUS / "30_very_long_references.eml").read_bytes())
    assert len(mail.references) == 61 and mail.references[-1] == ACK_ID
    assert mail.thread_keys[0] == ACK_ID  # In-Reply-To first
    assert mail.thread_keys[1].startswith("<CAF059=") and mail.thread_keys[-1].startswith("<CAF000=")
    assert len(mail.thread_keys) == 61


def test_attachments_are_measured_not_decoded() -> None:
    mail = parse_message((CORPUS / "13_attachments.eml").read_bytes())
    pdf = mail.attachments[0]
    assert pdf.size == len(b"%PDF-1.4 fake")
    assert pdf.sha256 == hashlib.sha256(b"%PDF-1.4 fake").hexdigest()


# ---- helpers -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a@b>", "<a@b>"),
        ("  <a@b> (comment)", "<a@b>"),
        ("a@b", "<a@b>"),
        ("<a@b>\r\n <c@d>", "<a@b>"),
        ("", None),
        (None, None),
        ("no id here", None),
    ],
)
def test_normalise_message_id(value: str | None, expected: str | None) -> None:
    assert normalise_message_id(value) == expected


def test_thread_keys_in_reply_to_first_then_references_newest_first() -> None:
    assert thread_keys("<p@x>", "<a@x> <b@x>\r\n <p@x>") == ("<p@x>", "<b@x>", "<a@x>")
    assert message_ids("<a@x> <a@x> b@y") == ("<a@x>",)


@pytest.mark.parametrize(
    ("subject", "code"),
    [
        ("Re: [HL-7KQ2MX] 工作", "HL-7KQ2MX"),
        ("個案HL-7KQ2MX補充", "HL-7KQ2MX"),
        ("hl-7kq2mx 小寫", "HL-7KQ2MX"),
        ("HL-7KQ2M0 has a zero", None),
        ("XHL-7KQ2MX glued", None),
        ("HL-7KQ2MXY too long", None),
    ],
)
def test_case_code(subject: str, code: str | None) -> None:
    assert find_case_code(subject) == code


def test_case_code_pattern_is_a_parameter() -> None:
    raw = b"Subject: case EAP-12345\r\n\r\nx"
    assert parse_message(raw).case_code_in_subject is None
    assert parse_message(raw, case_code_pattern=re.compile(r"EAP-\d{5}")).case_code_in_subject == "EAP-12345"


def test_decode_header_value_quirks() -> None:
    assert decode_header_value("=?utf-8?q?caf=C3=A9_au_lait?=") == "café au lait"
    assert (
        decode_header_value("=?UTF-8?B?5bel5L2c?= =?UTF-8?B?5aOT5Yqb?=") == "工作壓力"
    )  # joined, space dropped
    assert decode_header_value("plain =?utf-8?q?x?= text") == "plain x text"
    big5 = base64.b64encode("文字".encode("cp950")).decode()
    assert decode_header_value(f"=?big5?B?{big5}?=") == "文字"
    assert decode_header_value("=?x-unknown?Q?abc?=") == "abc"
    assert decode_header_value("工作".encode().decode("ascii", "surrogateescape")) == "工作"  # raw 8-bit


@pytest.mark.parametrize(
    ("data", "label", "expected"),
    [
        ("測試€".encode("cp950"), "big5", "測試€"),
        ("测试镕".encode("gb18030"), "gb2312", "测试镕"),
        ("測試一下我們的工作".encode("cp950"), "gb2312", "測試一下我們的工作"),
        ("测试一下我们的工作".encode("gb18030"), "big5", "测试一下我们的工作"),
        ("測試一下我們的工作".encode(), "big5", "測試一下我們的工作"),
        ("今天的工作很累".encode("cp950"), None, "今天的工作很累"),
        ("今天的工作很累".encode("cp950"), "iso-8859-1", "今天的工作很累"),
        ("Grüße aus Taipei".encode("latin-1"), "iso-8859-1", "Grüße aus Taipei"),
        ("こんにちは".encode("shift_jis"), "shift_jis", "こんにちは"),
    ],
)
def test_decode_bytes(data: bytes, label: str | None, expected: str) -> None:
    assert decode_bytes(data, label).text == expected


def _score_one_by_one(text: str) -> float:
    """The plausibility score as first written, a character at a time."""
    score = 0.0
    for ch in text:
        cp = ord(ch)
        if cp < 0x80:
            score += 1.0
        elif ch in _COMMON:
            score += 3.0
        elif 0x4E00 <= cp <= 0x9FFF or 0x2000 <= cp <= 0x20CF:
            score += 0.5
        elif 0xC0 <= cp <= 0x24F:
            score += 1.0
        elif any(lo <= cp <= hi for lo, hi in _WEIRD_RANGES):
            score -= 4.0
    return score


@given(
    st.text(alphabet=st.characters(exclude_categories=["Cs"]))
    | st.text(alphabet="的壓力工作ÀΩ㐀ぁ\ufffd，a ")
)
def test_score_counts_like_one_character_at_a_time(text: str) -> None:
    assert _score(text) == _score_one_by_one(text)


def test_html_to_text() -> None:
    html = "<p>a<b>b</b></p><div>c<br/>d</div><blockquote>quoted<blockquote>deeper</blockquote></blockquote><pre>x\n  y</pre>"
    assert html_to_text(html) == "ab\nc\nd\n> quoted\n> > deeper\nx\n  y"
    assert html_to_text("<script>evil()</script><style>.x{}</style>ok &lt;3") == "ok <3"
    assert html_to_text("<div><p>unclosed") == "unclosed"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("new\n> old", "new"),
        ("new\n\n-----Original Message-----\nFrom: x\nold", "new"),
        ("new\n寄件者： x\n寄件日期： y\n主旨： z\nold", "new"),
        ("new\n\nOn Fri, Nov 20, 2026 at 10:15 AM X <x@y> wrote:\n\nold unmarked", "new"),
        ("我在公司很累\n於 2026年11月20日 週五 上午10:15，X <x@y> 寫道：\n> old", "我在公司很累"),
        ("他在信裡寫道：\n我要離開", "他在信裡寫道：\n我要離開"),  # not an attribution
        ("top\n> q\nmiddle\n> q2\nbottom", "top\nmiddle\nbottom"),
        ("text\n-- \nsig", "text"),
        ("From: my boss\nhe shouted", "From: my boss\nhe shouted"),
    ],
)
def test_strip_quotes(text: str, expected: str) -> None:
    assert strip_quotes(text) == expected


# ---- properties ----------------------------------------------------------------------------------
def assert_clean(mail: ParsedMail) -> None:
    for value in (mail.subject, mail.from_name, mail.from_address, mail.body_text, mail.new_text):
        value.encode("utf-8")  # no lone surrogates: storable in PostgreSQL and SQLite
        assert "\x00" not in value
    assert "\n" not in mail.subject and "\r" not in mail.subject
    for key in (*mail.thread_keys, *(k for k in [mail.message_id, mail.in_reply_to] if k)):
        assert key.startswith("<") and key.endswith(">")
    assert mail.dedup_key


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=4000))
def test_parse_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    assert_clean(parse_message(raw))


_CORPUS_BYTES = [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(_CORPUS_BYTES)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        pos = draw(st.integers(0, max(0, len(raw) - 1)))
        if kind == "flip" and raw:
            raw[pos] = draw(st.integers(0, 255))
        elif kind == "cut":
            del raw[pos:]
        elif kind == "insert":
            raw[pos:pos] = draw(
                st.sampled_from(
                    [
                        b"\r\n",
                        b"\r\n\r\n",
                        b"=?",
                        b"?=",
                        b"--BOUND",
                        b"\x00",
                        b"=\r\n",
                        b"<",
                        b">",
                        b"\xa4",
                        b"\xff\xfe",
                    ]
                )
            )
        else:
            del raw[pos : pos + draw(st.integers(1, 40))]
    return bytes(raw)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(mutated())
def test_parse_never_raises_on_mutated_corpus(raw: bytes) -> None:
    assert_clean(parse_message(raw))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_text_helpers_are_total(text: str) -> None:
    strip_quotes(text)
    html_to_text(text)
    decode_header_value(text)
    find_case_code(text)
    thread_keys(text, text)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain (Big5 text); charset=big5",
        "text/plain charset=big5",
        "text / plain; charset=big5",
        "text/plain; charset*=''big5",
    ],
)
def test_odd_content_types_still_give_the_text(content_type: str) -> None:
    raw = (
        f"From: w@x.example\r\nSubject: hi\r\nMessage-ID: <ct@x.example>\r\nContent-Type: {content_type}\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + "我真的不想活了\r\n".encode("cp950")
    mail = parse_message(raw)
    assert "我真的不想活了" in mail.new_text, "a cry for help must reach screening"
    assert mail.message_id == "<ct@x.example>" and mail.attachments == ()


def test_a_raw_utf8_attachment_name_is_read() -> None:
    raw = (
        "From: w@x.example\r\nSubject: hi\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n見附件\r\n"
        '--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="報告.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n"
    ).encode()
    [attachment] = parse_message(raw).attachments
    assert attachment.filename == "報告.pdf" and attachment.size == 5
