"""Building outgoing mail, pure: threaded replies in plain text with an HTML alternative, UTF-8.

Serialise with `render_bytes` (``policy.SMTP`` with lines up to 998 characters): the default policy
folds long Message-IDs in In-Reply-To/References into encoded words, which breaks threading in real
mail clients (DESIGN §5b).
"""

from __future__ import annotations

import base64
import html
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import lru_cache

from hotline.mailbox.headers import message_ids, normalise_message_id

SMTP_POLICY = policy.SMTP.clone(max_line_length=998)
MAX_REFERENCES = 30  # first + newest ids kept; RFC 5322 3.6.4 allows trimming, clients do it too

_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|fw|fwd|回覆|回复|答覆|答复|轉寄|转发)\s*(?:\[\d+\])?\s*[:：]\s*)+", re.I
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


def reply_subject(subject: str, case_code: str | None = None) -> str:
    """``Re: [CODE] original`` — one "Re:" whatever the original had (Re:, RE:, 回覆：, Re[2]:),
    the case code added once when given and not already present, control characters removed."""
    original = _CONTROL.sub(" ", subject).strip()
    rest = _REPLY_PREFIX.sub("", original).strip()
    if case_code and case_code not in rest:
        rest = f"[{case_code}] {rest}".strip()
    return f"Re: {rest}".rstrip() if rest else "Re:"


def new_message_id(domain: str) -> str:
    """A fresh ``<random@domain>``; the random part is 128 bits, so ids never collide."""
    if not _DOMAIN.match(domain):
        raise ValueError(f"not a domain for Message-IDs: {domain!r}")
    return f"<{secrets.token_hex(16)}.hotline@{domain}>"


def _trimmed(ids: Sequence[str]) -> list[str]:
    unique = list(dict.fromkeys(ids))
    if len(unique) <= MAX_REFERENCES:
        return unique
    return [unique[0], *unique[-(MAX_REFERENCES - 1) :]]


def text_to_html(text: str) -> str:
    """A minimal HTML rendering of plain text (escaped, line breaks kept)."""
    body = "<br>\n".join(html.escape(line) for line in text.split("\n"))
    head = '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n'
    return f"{head}<div>{body}</div>\n</body></html>\n"


@lru_cache(maxsize=4096)  # parseaddr is slow, and a batch asks about the same few addresses again
def is_address(value: str) -> bool:
    """Whether ``value`` is an address this module can write a mail to."""
    _, addr = parseaddr(value)
    return "@" in addr and not any(c in value for c in "\r\n")


def _address(value: str, name: str) -> str:
    if not is_address(value):
        raise ValueError(f"no usable address in {name}")  # never the address itself: errors reach logs
    return value.strip()


def encoded_words(text: str, *, first_line_room: int = 66) -> str:
    """``text`` as RFC 2047 encoded words (UTF-8, base64), split between characters so that no word
    is longer than 75 characters and none straddles a UTF-8 sequence, folded with CRLF and a space.
    (``email.header.Header`` does the same at ten times the cost.) The first word leaves room for the
    header's name on its line."""
    words: list[bytes] = []
    chunk = b""
    room = min(45, first_line_room * 3 // 4 - 9)  # bytes of text: 45 bytes → 60 base64 → 72 characters
    for ch in text:
        data = ch.encode("utf-8", "replace")
        if chunk and len(chunk) + len(data) > room:
            words.append(chunk)
            chunk, room = b"", 45
        chunk += data
    if chunk:
        words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(word).decode('ascii')}?=" for word in words)


def _base64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _fold_ids(name: str, ids: Sequence[str]) -> bytes:
    """``Name: <a> <b> ...`` folded between ids only when a line would pass 998 characters."""
    lines, line = [], f"{name}:"
    for mid in ids:
        if len(line) + 1 + len(mid) > 998:
            lines.append(line)
            line = ""
        line += f" {mid}"
    lines.append(line)
    return "\r\n".join(lines).encode("ascii", "replace")


def compose_reply_bytes(
    *,
    to: str,
    mail_from: str,
    subject: str,
    in_reply_to: str | None,
    references: Sequence[str],
    text: str,
    html: str | None,
    message_id_domain: str,
    date: datetime | None = None,
    auto_submitted: bool = False,
) -> tuple[bytes, str]:
    """A reply in the thread of ``in_reply_to``, as the bytes to send, and its new Message-ID.

    In-Reply-To is the original Message-ID; References the original References followed by it
    (trimmed to the first and newest ids), never encoded words. ``subject`` is the original subject: it
    gets one "Re: ". Plain text plus an HTML alternative (made from ``text`` when ``html`` is None),
    UTF-8 in base64. ``auto_submitted`` marks a machine-sent mail (the acknowledgement), not a
    counselor's answer. Raises ValueError for a bad address or domain (the caller's data, not the mail's).

    Written directly rather than through ``EmailMessage``: the acknowledgement of every new mail goes
    through here, and the generic serialiser costs ten times as much.
    """
    sender, recipient = _address(mail_from, "From"), _address(to, "To")
    message_id = new_message_id(message_id_domain)
    parent = normalise_message_id(in_reply_to)
    chain = [i for ref in references for i in message_ids(ref)]
    if parent:
        chain.append(parent)
    title = reply_subject(subject)
    encoded_title = title if title.isascii() else encoded_words(title)
    boundary = f"==hotline-{secrets.token_hex(12)}=="
    head = [
        f"From: {sender}",
        f"To: {recipient}",
        f"Subject: {encoded_title}",
        f"Date: {format_datetime(date or datetime.now(UTC))}",
        f"Message-ID: {message_id}",
    ]
    if parent:
        head.append(f"In-Reply-To: {parent}")
    lines = [line.encode("utf-8") for line in head]
    if chain:
        lines.append(_fold_ids("References", _trimmed(chain)))
    if auto_submitted:  # RFC 3834: keeps out-of-office responders from answering our acknowledgement
        lines.append(b"Auto-Submitted: auto-replied")
    lines += [
        b"MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"'.encode(),
        b"",
    ]
    alternative = html if html is not None else text_to_html(text)
    parts = []
    # base64: safe through any relay (no 8BITMIME needed) and compact for Chinese text
    for subtype, body in (("plain", text), ("html", alternative)):
        parts.append(
            f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n".encode()
            + _base64_lines(body.encode("utf-8"))
        )
    return b"\r\n".join(lines) + b"\r\n" + b"".join(parts) + f"--{boundary}--\r\n".encode(), message_id


def compose_reply(
    *,
    to: str,
    mail_from: str,
    subject: str,
    in_reply_to: str | None,
    references: Sequence[str],
    text: str,
    html: str | None,
    message_id_domain: str,
    date: datetime | None = None,
    auto_submitted: bool = False,
) -> tuple[EmailMessage, str]:
    """:func:`compose_reply_bytes` as an ``EmailMessage`` (for callers that want to inspect it)."""
    raw, message_id = compose_reply_bytes(
        to=to, mail_from=mail_from, subject=subject, in_reply_to=in_reply_to, references=references,
        text=text, html=html, message_id_domain=message_id_domain, date=date, auto_submitted=auto_submitted,
    )  # fmt: skip
    message = message_from_bytes(raw, _class=EmailMessage, policy=SMTP_POLICY)
    assert isinstance(message, EmailMessage)
    return message, message_id


def render_bytes(msg: EmailMessage) -> bytes:
    """The message as sent on the wire: CRLF line ends, header lines up to 998 characters."""
    return msg.as_bytes(policy=SMTP_POLICY)
