"""compose (pure) and the SMTP sender against a real aiosmtpd on a free port (aiosmtplib not mocked)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.header import decode_header
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.mailbox.compose import MAX_REFERENCES, compose_reply, encoded_words, render_bytes, reply_subject
from hotline.mailbox.errors import MailSendFailed
from hotline.mailbox.parse import parse_message
from hotline.mailbox.smtp import SmtpConfig, send
from tests.servers.dovecot import free_port
from tests.servers.smtpd import Fault, SmtpSink

LONG_ID = "<CAF=" + "x7Qz" * 30 + "@mail.gmail.com>"  # 125 characters, like real Gmail/Outlook ids


def reply(**overrides: object) -> tuple[EmailMessage, str]:
    values: dict[str, object] = {
        "to": "王小明 <wang@employee.example>",
        "mail_from": "E-mail 抒壓站 <station@hotline.example>",
        "subject": "RE: 回覆： 工作壓力好大",
        "in_reply_to": LONG_ID,
        "references": ["<first@employee.example> <second@employee.example>"],
        "text": "您好，我們已收到您的來信。\n個案代碼 HL-7KQ2MX，最晚 2026-11-23 回覆。\n緊急時請撥 1925。",
        "html": None,
        "message_id_domain": "hotline.example",
    }
    values.update(overrides)
    return compose_reply(**values)  # type: ignore[arg-type]


def test_reply_is_threaded_and_long_ids_are_not_folded_into_encoded_words() -> None:
    msg, message_id = reply()
    raw = render_bytes(msg)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert re.search(rb"^In-Reply-To: " + re.escape(LONG_ID.encode()) + rb"\r$", head, re.M)
    refs = re.search(rb"^References: (.*?)\r\n(?! )", head + b"\r\n", re.M | re.S)
    assert refs is not None
    assert b"=?" not in refs.group(1)
    assert refs.group(1).split() == [
        b"<first@employee.example>",
        b"<second@employee.example>",
        LONG_ID.encode(),
    ]
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert re.match(r"^<[0-9a-f]{32}\.hotline@hotline\.example>$", message_id)
    assert f"Message-ID: {message_id}\r\n".encode() in head
    parsed = parse_message(raw)
    assert parsed.message_id == message_id
    assert parsed.in_reply_to == LONG_ID
    assert parsed.subject == "Re: 工作壓力好大"
    assert "HL-7KQ2MX" in parsed.new_text and "1925" in parsed.body_text


def test_reply_has_plain_text_and_html_alternative_in_utf8() -> None:
    msg, _ = reply(html="<p>您好 &amp; 謝謝</p>")
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert parts[1].get_content().strip() == "<p>您好 &amp; 謝謝</p>"
    generated, _ = reply(text="a < b\n第二行")
    html = list(generated.iter_parts())[1].get_content()
    assert "a &lt; b<br>" in html and "第二行" in html


def test_reply_without_parent_and_trimmed_references() -> None:
    msg, _ = reply(in_reply_to=None, references=[])
    assert msg["In-Reply-To"] is None and msg["References"] is None
    many = [f"<r{i}@x.example>" for i in range(100)]
    msg, _ = reply(references=many)
    ids = str(msg["References"]).split()
    assert len(ids) == MAX_REFERENCES and ids[0] == "<r0@x.example>" and ids[-1] == LONG_ID


@pytest.mark.parametrize(
    ("original", "code", "expected"),
    [
        ("工作壓力", None, "Re: 工作壓力"),
        ("Re: Re: RE: 工作壓力", None, "Re: 工作壓力"),
        ("回覆： 答覆: 工作壓力", None, "Re: 工作壓力"),
        ("Re[2]: help", None, "Re: help"),
        ("工作壓力", "HL-7KQ2MX", "Re: [HL-7KQ2MX] 工作壓力"),
        ("Re: [HL-7KQ2MX] 工作壓力", "HL-7KQ2MX", "Re: [HL-7KQ2MX] 工作壓力"),
        ("bad\r\nBcc: x@y", None, "Re: bad Bcc: x@y"),
        ("", None, "Re:"),
    ],
)
def test_reply_subject(original: str, code: str | None, expected: str) -> None:
    assert reply_subject(original, code) == expected


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1))
def test_encoded_words_decode_to_the_text_and_fit_the_line(text: str) -> None:
    encoded = encoded_words(text)
    lines = encoded.split("\r\n ")
    assert all(len(line) <= 75 for line in lines)
    assert len("Subject: " + lines[0]) <= 78
    assert (
        "".join(
            part.decode(charset or "ascii") if isinstance(part, bytes) else part
            for part, charset in decode_header(encoded)
        )
        == text
    )


def test_bad_domain_or_address_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        reply(message_id_domain="bad domain")
    with pytest.raises(ValueError):
        reply(to="not an address")


def test_auto_submitted_marks_the_acknowledgement() -> None:
    ack, _ = reply(auto_submitted=True, date=datetime(2026, 11, 20, 2, 15, tzinfo=UTC))
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["Date"] == "Fri, 20 Nov 2026 02:15:00 +0000"
    human, _ = reply()
    assert human["Auto-Submitted"] is None


# ---- SMTP ----------------------------------------------------------------------------------------
def config(server: SmtpSink, **overrides: object) -> SmtpConfig:
    values: dict[str, object] = {"host": server.host, "port": server.port, "security": "none", "timeout": 5.0}
    values.update(overrides)
    return SmtpConfig(**values)  # type: ignore[arg-type]


async def test_send_delivers_the_exact_rendered_bytes(smtp_server: SmtpSink) -> None:
    msg, message_id = reply()
    msg["Bcc"] = "audit@hotline.example"
    await send(config(smtp_server), msg)
    (got,) = await smtp_server.wait_for(1)
    assert got.mail_from == "station@hotline.example"
    assert set(got.rcpt_tos) == {"wang@employee.example", "audit@hotline.example"}
    assert b"Bcc" not in got.raw and b"audit@" not in got.raw
    assert got.message["Message-ID"] == message_id
    assert got.message["In-Reply-To"] == LONG_ID
    assert LONG_ID.encode() in got.raw  # not folded, not encoded
    body = got.message.get_body(("plain",))
    assert body is not None and "HL-7KQ2MX" in body.get_content()
    html = got.message.get_body(("html",))
    assert html is not None and "1925" in html.get_content()


async def test_send_with_auth() -> None:
    server = SmtpSink.start(auth=("station", "pw"))
    try:
        msg, _ = reply()
        tls = {"security": "starttls", "ssl_context": server.client_context()}
        await send(config(server, user="station", password="pw", **tls), msg)
        await server.wait_for(1)
        with pytest.raises(MailSendFailed, match=r"^SMTP login failed for user station$") as info:
            await send(config(server, user="station", password="wrong", **tls), msg)
        assert info.value.temporary is False
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("fault", "temporary", "pattern"),
    [
        (Fault.TEMPFAIL, True, r"refused the message: 451 4\.3\.0"),
        (Fault.DATA_REJECT, False, r"refused the message: 554"),
        (Fault.REJECT, False, r"refused the recipient: 550 5\.1\.1"),
    ],
)
async def test_send_failures_are_mail_send_failed(
    smtp_server: SmtpSink, fault: Fault, temporary: bool, pattern: str
) -> None:
    smtp_server.fault = fault
    msg, _ = reply()
    with pytest.raises(MailSendFailed, match=pattern) as info:
        await send(config(smtp_server), msg)
    assert info.value.temporary is temporary
    assert isinstance(info.value.__cause__, Exception)
    smtp_server.fault = Fault.NONE  # the server recovers: the same message goes through
    await send(config(smtp_server), msg)
    assert len(await smtp_server.wait_for(1)) == 1


async def test_unreachable_server_is_temporary() -> None:
    port = free_port()
    msg, _ = reply()
    with pytest.raises(MailSendFailed, match=rf"^cannot reach SMTP server 127.0.0.1:{port}: ") as info:
        await send(SmtpConfig(host="127.0.0.1", port=port, security="none", timeout=2), msg)
    assert info.value.temporary is True
