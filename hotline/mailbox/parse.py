"""Parsing one raw RFC 5322/MIME message into plain values: `parse_message(raw) -> ParsedMail`.

Pure (no network, no database) and total: it never raises; a malformed message gives a ParsedMail
with ``malformed=True``, its ``defects`` and whatever could be salvaged. Structure comes from the
standard ``email`` package under ``policy.compat32``, whose header handling is plain strings: the
structured headers of ``policy.default`` cost most of a parse, six times over per part, and every header
we read is decoded here anyway (`headers`). Text is decoded here too, not by ``get_content()``, which
silently replaces what strict decoding of a lying charset label would reject (DESIGN §5b):
transfer encodings are undone on the bytes first (quoted-printable Big5 split at a soft line break
survives), then `charset.decode_bytes` reads the bytes. Attachments are measured and hashed, never
decoded beyond their transfer encoding, never rendered.
"""

from __future__ import annotations

import base64
import binascii
import email.errors
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value, parsedate_to_datetime

from hotline.mailbox.address import parse_sender
from hotline.mailbox.charset import clean_line, clean_text, decode_bytes
from hotline.mailbox.flowed import deletes_space, is_flowed, unflow
from hotline.mailbox.headers import (
    CASE_CODE_PATTERN,
    decode_header,
    decode_header_value,
    find_case_code,
    first_values,
    is_auto_reply,
    is_bounce,
    message_ids,
    normalise_message_id,
    raw_to_text,
    thread_keys,
    unfold,
)
from hotline.mailbox.htmltext import html_to_text
from hotline.mailbox.quotes import strip_quotes

__all__ = ["Attachment", "ParsedMail", "dedup_key_of", "parse_message"]

_MAX_DEPTH = 32  # MIME nesting deeper than this is not followed (it is kept in the raw bytes)
_MAX_PARTS = 500
# defects that mean the structure itself is broken (the rest are noted but do not flag the mail)
_STRUCTURAL = (
    email.errors.StartBoundaryNotFoundDefect,
    email.errors.CloseBoundaryNotFoundDefect,
    email.errors.NoBoundaryInMultipartDefect,
    email.errors.MultipartInvariantViolationDefect,
    email.errors.MissingHeaderBodySeparatorDefect,
    email.errors.FirstHeaderLineIsContinuationDefect,
    email.errors.MisplacedEnvelopeHeaderDefect,
)
_FORWARD_SUBJECT = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?(?:fwd?|轉寄|转发)\s*[:：]", re.IGNORECASE)
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_BASE64_PAD = {0: b"", 2: b"==", 3: b"="}
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM_HEADERS = ("content-type", "content-disposition")
_TYPE = re.compile(rf"\s*({_TOKEN})\s*/\s*({_TOKEN})")


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attachment kept aside: measured and hashed after undoing its transfer encoding."""

    filename: str | None  # decoded, without any directory part
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ParsedMail:
    message_id: str | None  # "<local@domain>" or None
    in_reply_to: str | None
    references: tuple[str, ...]
    thread_keys: tuple[str, ...]  # every Message-ID it refers to: In-Reply-To, then References newest first
    subject: str  # RFC 2047 decoded, one line
    case_code_in_subject: str | None
    from_address: str  # "" when there is none
    from_name: str
    date: datetime | None  # the Date header, timezone-aware (UTC when the header had none)
    body_text: str  # the whole readable text (plain text parts, or HTML converted)
    new_text: str  # body_text without quoted earlier mail and signature
    is_auto_reply: bool
    attachments: tuple[Attachment, ...]
    dedup_key: str  # Message-ID, sender and a digest of the content; without an id, "sha256:<raw bytes>"
    malformed: bool = False
    defects: tuple[str, ...] = field(default=())
    # Raw 8-bit in the subject decoded by a guess, or an encoded word that failed: never quoted back.
    subject_clean: bool = True
    sender_unusable: bool = False  # a From header with no address a mail could be sent to
    is_bounce: bool = False  # a delivery report: never answered (also ``is_auto_reply``)


def dedup_key_of(message_id: str | None, raw: bytes, *, sender: str = "", content: str = "") -> str:
    """What a real duplicate (the same mail fetched or delivered twice) shares: its Message-ID, its sender
    and its content (``content``: a digest of subject, text and attachments). A Message-ID alone is not
    enough: someone who sends first with another's id (predictable, or copied from a CC) must not make
    the real mail look like a copy (issue 19). Without a Message-ID, the raw bytes' digest."""
    if not message_id:
        return "sha256:" + hashlib.sha256(raw).hexdigest()
    return f"{message_id} {sender.strip().lower()} {content}"


def _content_digest(subject: str, body_text: str, attachments: tuple[Attachment, ...]) -> str:
    parts = (subject, body_text, *(a.sha256 for a in attachments))
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


class _Walk:
    """Collects text and attachments from a message tree; notes problems instead of raising."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.attachments: list[Attachment] = []
        self.defects: list[str] = []
        self.structural = False
        self.parts = 0
        self.charsets: list[str] = []  # the charsets the message declares, in order

    def note(self, part: Message) -> None:
        for defect in getattr(part, "defects", ()):
            self.defects.append(type(defect).__name__)
            if isinstance(defect, _STRUCTURAL):
                self.structural = True

    def visit(self, part: Message, depth: int = 0) -> None:
        self.parts += 1
        if depth > _MAX_DEPTH or self.parts > _MAX_PARTS:
            self.defects.append("TooDeeplyNested")
            self.structural = True
            return
        self.note(part)
        ctype = _content_type(part)
        if ctype == "message/rfc822" or (ctype.startswith("message/") and part.is_multipart()):
            self.attachments.append(_attachment(part, ctype))
            return
        if part.is_multipart():
            payload = part.get_payload()
            children = [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
            if ctype == "multipart/alternative" and children:
                self.visit(_best_alternative(children), depth + 1)
                for child in children:
                    if not _content_type(child).startswith("text/") and not child.is_multipart():
                        self.attachments.append(_attachment(child, _content_type(child)))
                return
            for child in children:
                self.visit(child, depth + 1)
            return
        if _is_body_text(part, ctype):
            text = _part_text(part, self)
            if text.strip():
                self.texts.append(html_to_text(text) if ctype == "text/html" else text)
            return
        self.attachments.append(_attachment(part, ctype))


@dataclass(frozen=True, slots=True)
class _PartInfo:
    content_type: str
    charset: str | None
    disposition: str | None
    filename: str | None  # raw: Content-Disposition filename, else Content-Type name


def _info(part: Message) -> _PartInfo:
    """Content-Type and Content-Disposition of a part (RFC 2231 parameters collapsed), read once and
    remembered on the part."""
    cached = getattr(part, "_hotline_info", None)
    if isinstance(cached, _PartInfo):
        return cached
    ctype = _content_type_of(part)
    readable = _readable(part)
    info = _PartInfo(
        ctype,
        _param(readable, "charset"),
        _safely(readable.get_content_disposition),
        _safely(readable.get_filename),
    )
    part._hotline_info = info  # type: ignore[attr-defined]
    return info


def _content_type_of(part: Message) -> str:
    """The part's type/subtype, read leniently as mail in the wild writes it: ``text/plain (Big5
    text); charset=big5``, ``text/plain charset=big5`` and ``text / plain`` are all text/plain (the
    standard library's compat32 reading would make them unknown types, and hide the text). Absent: the
    default type; unreadable: text/plain."""
    header = part.get("content-type")
    if header is None:
        return part.get_default_type()
    match = _TYPE.match(unfold(str(header)))
    return f"{match.group(1)}/{match.group(2)}".lower() if match else "text/plain"


def _readable(part: Message) -> Message:
    """The part itself, or, when its Content-Type or Content-Disposition carries raw 8-bit bytes (a
    file name in UTF-8 or Big5), a stand-in holding those two headers decoded: compat32 would turn the
    bytes into replacement characters."""
    raw = [(k, v) for k, v in part.raw_items() if k.lower() in _PARAM_HEADERS and not v.isascii()]
    if not raw:
        return part
    stand_in = Message()
    for name in _PARAM_HEADERS:
        value = next((v for k, v in part.raw_items() if k.lower() == name), None)
        if value is not None:
            stand_in[name] = raw_to_text(unfold(value))
    return stand_in


def _param(part: Message, name: str) -> str | None:
    try:
        value = part.get_param(name)
        return collapse_rfc2231_value(value) if value is not None else None
    except Exception:
        return None


def _safely(read: Callable[[], str | None]) -> str | None:
    try:
        value = read()
    except Exception:
        return None
    return value if isinstance(value, str) else None


def _content_type(part: Message) -> str:
    return _info(part).content_type


def _disposition(part: Message) -> str | None:
    return _info(part).disposition


def _is_body_text(part: Message, ctype: str) -> bool:
    if ctype not in ("text/plain", "text/html"):
        return False
    disposition = _disposition(part)
    if disposition == "attachment":
        return False
    return disposition == "inline" or _filename(part) is None


def _best_alternative(children: list[Message]) -> Message:
    by_type = {_content_type(c): c for c in children}
    for wanted in ("text/plain", "text/html"):
        if wanted in by_type and _raw_payload(by_type[wanted]).strip():
            return by_type[wanted]
    multiparts = [c for c in children if c.is_multipart()]
    return multiparts[-1] if multiparts else children[-1]


def _raw_payload(part: Message) -> bytes:
    """The payload bytes with the transfer encoding (base64, quoted-printable, uuencode) undone.
    Broken base64 (truncated, junk inside) is decoded as far as it goes."""
    try:
        payload = part.get_payload()
    except (
        Exception
    ):  # compat32 decodes 8-bit text with the charset parameter, which may be an RFC 2231 tuple
        payload = None
    if (
        isinstance(payload, str)
        and str(part.get("content-transfer-encoding", "")).strip().lower() == "base64"
    ):
        data64 = _BASE64_JUNK.sub(b"", payload.encode("ascii", "ignore").split(b"=", 1)[0])
        if len(data64) % 4 == 1:  # a lone trailing character carries no whole byte
            data64 = data64[:-1]
        try:
            return base64.b64decode(data64 + _BASE64_PAD[len(data64) % 4])
        except (binascii.Error, ValueError):  # pragma: no cover - cleaned input always decodes
            pass
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def _part_text(part: Message, walk: _Walk) -> str:
    label = _info(part).charset
    if label:
        walk.charsets.append(label)
    decoded = decode_bytes(_raw_payload(part), label)
    if not decoded.exact:
        walk.defects.append("UndecodableText")
    text = decoded.text
    if _content_type(part) == "text/plain":
        readable = _readable(part)
        if is_flowed(_param(readable, "format")):
            text = unflow(text, delsp=deletes_space(_param(readable, "delsp")))
    return clean_text(text)


def _filename(part: Message) -> str | None:
    name = _info(part).filename
    if not isinstance(name, str) or not name.strip():
        return None
    # Raw 8-bit names (some mail programs write UTF-8 or Big5 there) are decoded like any header.
    name = clean_line(_UNSAFE_FILENAME.sub("", decode_header_value(name)))
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name or None


def _attachment(part: Message, ctype: str) -> Attachment:
    if part.is_multipart():
        try:
            data = part.as_bytes(policy=policy.compat32)
        except Exception:
            data = b""
    else:
        data = _raw_payload(part)
    return Attachment(_filename(part), ctype, len(data), hashlib.sha256(data).hexdigest())


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(clean_line(value))
    except Exception:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def parse_message(raw: bytes, *, case_code_pattern: re.Pattern[str] = CASE_CODE_PATTERN) -> ParsedMail:
    """Parse a raw message (see the module docstring). Never raises."""
    try:
        return _parse(raw, case_code_pattern)
    except Exception as exc:  # salvage: the raw bytes stay with the caller; flag for a human
        text = clean_text(decode_bytes(bytes(raw)).text)
        return ParsedMail(
            message_id=None,
            in_reply_to=None,
            references=(),
            thread_keys=(),
            subject="",
            case_code_in_subject=None,
            from_address="",
            from_name="",
            date=None,
            body_text=text,
            new_text=text,
            is_auto_reply=False,
            attachments=(),
            dedup_key=dedup_key_of(None, bytes(raw)),
            malformed=True,
            defects=(f"ParserFailed:{type(exc).__name__}",),
        )


def _parse(raw: bytes, pattern: re.Pattern[str]) -> ParsedMail:
    msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    headers = first_values(msg.raw_items())
    walk = _Walk()
    walk.visit(msg)
    if not headers:
        walk.defects.append("NoHeaders")
        walk.structural = True
    # Undeclared 8-bit in headers: the charsets the message declares first (the body's), then a guess.
    hints = (*walk.charsets, *filter(None, [_info(msg).charset]))
    subject, subject_clean = decode_header(headers.get("subject"), hints)
    subject = clean_line(subject)
    message_id = normalise_message_id(headers.get("message-id"))
    sender = parse_sender(headers.get("from"), hints)
    from_name, from_address = sender.name, sender.address
    bounce = is_bounce(headers, from_address, _content_type(msg))
    body_text = "\n\n".join(walk.texts).strip()
    attachments = tuple(walk.attachments)
    content = _content_digest(subject, body_text, attachments)
    return ParsedMail(
        message_id=message_id,
        in_reply_to=normalise_message_id(headers.get("in-reply-to")),
        references=message_ids(headers.get("references")),
        thread_keys=thread_keys(headers.get("in-reply-to"), headers.get("references")),
        subject=subject,
        case_code_in_subject=find_case_code(subject, pattern),
        from_address=from_address,
        from_name=from_name,
        date=_parse_date(headers.get("date")),
        body_text=body_text,
        new_text=strip_quotes(body_text, forwarded=bool(_FORWARD_SUBJECT.match(subject))),
        is_auto_reply=bounce or is_auto_reply(headers, subject, _content_type(msg)),
        attachments=attachments,
        dedup_key=dedup_key_of(message_id, raw, sender=from_address, content=content),
        malformed=walk.structural,
        defects=tuple(dict.fromkeys(walk.defects)),
        subject_clean=subject_clean,
        sender_unusable=sender.unusable,
        is_bounce=bounce,
    )
