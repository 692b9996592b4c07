"""Building outgoing mail, pure: threaded replies in plain text with an HTML alternative, UTF-8.

Serialise with `render_bytes` (``policy.SMTP`` with lines up to 998 characters): the default policy
folds long Message-IDs in In-Reply-To/References into encoded words, which breaks threading in real
mail clients (DESIGN §5b).
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

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
    """A reply in the thread of ``in_reply_to`` and its new Message-ID.

    In-Reply-To is the original Message-ID; References the original References followed by it
    (trimmed to the first and newest ids). ``subject`` is the original subject: it gets one "Re: ".
    ``html`` None: an HTML alternative is made from ``text``. ``auto_submitted`` marks a machine-sent
    mail (the acknowledgement), not a counselor's answer. Raises ValueError for a bad address or
    domain (the caller's data, not the mail's)."""
    message_id = new_message_id(message_id_domain)
    parent = normalise_message_id(in_reply_to)
    chain = [i for ref in references for i in message_ids(ref)]
    if parent:
        chain.append(parent)
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = mail_from
    msg["To"] = to
    msg["Subject"] = reply_subject(subject)
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["Message-ID"] = message_id
    if parent:
        msg["In-Reply-To"] = parent
    if chain:
        msg["References"] = " ".join(_trimmed(chain))
    if auto_submitted:  # RFC 3834: keeps out-of-office responders from answering our acknowledgement
        msg["Auto-Submitted"] = "auto-replied"
    # base64: safe through any relay (no 8BITMIME needed) and compact for Chinese text
    msg.set_content(text, charset="utf-8", cte="base64")
    alternative = html if html is not None else text_to_html(text)
    msg.add_alternative(alternative, subtype="html", charset="utf-8", cte="base64")
    for name in ("From", "To"):
        if not msg[name].addresses or not all("@" in a.addr_spec for a in msg[name].addresses):
            raise ValueError(f"no address in {name}: {msg[name]!r}")
    return msg, message_id


def render_bytes(msg: EmailMessage) -> bytes:
    """The message as sent on the wire: CRLF line ends, header lines up to 998 characters."""
    return msg.as_bytes(policy=SMTP_POLICY)
