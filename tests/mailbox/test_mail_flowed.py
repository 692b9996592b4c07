"""format=flowed text (RFC 3676) is unwrapped before anyone reads it: counselors and the screener see
whole sentences, not lines cut where the sender's client wrapped them."""

from __future__ import annotations

from hotline.mailbox.flowed import unflow
from hotline.mailbox.parse import parse_message


def test_soft_breaks_join_and_hard_breaks_stay() -> None:
    text = "每天下班還要煮飯 \r\n餵藥，我真的很累。\r\n\r\n第二段 \r\n接著寫。"
    assert unflow(text) == "每天下班還要煮飯 餵藥，我真的很累。\n\n第二段 接著寫。"


def test_delsp_yes_removes_the_space_of_a_soft_break() -> None:
    assert unflow("每天下班還要煮飯 \r\n餵藥。", delsp=True) == "每天下班還要煮飯餵藥。"


def test_quote_depths_flow_separately_and_keep_their_marks() -> None:
    text = "> 上次你說 \r\n> 要先休息\r\n>> 更早的 \r\n>> 信\r\n我的回答 \r\n在這裡"
    assert unflow(text) == "> 上次你說 要先休息\n> > 更早的 信\n我的回答 在這裡"


def test_a_soft_line_before_another_quote_depth_ends_its_paragraph() -> None:
    assert unflow("> 引用 \r\n新的一段") == "> 引用 \n新的一段"


def test_space_stuffing_is_removed_and_the_signature_separator_never_flows() -> None:
    text = " From the start \r\nto the end\r\n-- \r\n王小明"
    assert unflow(text) == "From the start to the end\n-- \n王小明"


def _mail(body: bytes, content_type: str, cte: str = "8bit") -> bytes:
    head = (
        "From: a@example.org\r\nTo: eap@example.org\r\nSubject: =?UTF-8?B?5bmr5oiR?=\r\n"
        "Message-ID: <flowed-1@example.org>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    )
    return head.encode("ascii") + body


def test_a_flowed_mail_reaches_the_case_unwrapped() -> None:
    body = "我照顧媽媽三年了，每天下班還要煮 \r\n飯餵藥，晚上也睡不好。\r\n".encode("big5")
    parsed = parse_message(_mail(body, "text/plain; charset=big5; format=flowed; delsp=yes"))
    assert "煮飯餵藥" in parsed.body_text
    assert "\n飯" not in parsed.body_text


def test_a_quoted_printable_flowed_mail_is_unwrapped_after_decoding() -> None:
    qp = b"=E6=88=91=E5=BE=88=E7=B4=AF =\r\n\r\n=E6=83=B3=E6=89=BE=E4=BA=BA=E8=AB=87=E8=AB=87\r\n"
    # "我很累 " soft-broken (the QP soft break joins the encoded space to the CRLF that follows it)
    raw = _mail(
        qp.replace(b"=\r\n\r\n", b"\r\n"), "text/plain; charset=utf-8; format=flowed", "quoted-printable"
    )
    assert "我很累 想找人談談" in parse_message(raw).body_text


def test_text_that_is_not_flowed_keeps_its_line_breaks() -> None:
    body = "第一行 \r\n第二行\r\n".encode()
    parsed = parse_message(_mail(body, "text/plain; charset=utf-8"))
    assert "第一行 \n第二行" in parsed.body_text
