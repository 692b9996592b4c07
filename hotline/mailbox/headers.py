"""Header helpers, pure and total: RFC 2047 decoding with lying labels, Message-IDs, thread keys,
case codes and auto-reply detection. Nothing here raises on any input.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence

from hotline.mailbox.charset import clean_line, codec_name, decode_bytes

# Case codes: "HL-" + 6 characters from an alphabet without 0/O, 1/I/L (unambiguous when read aloud
# or typed from a printout). The pattern is a parameter of parse_message; this is the default.
CASE_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CASE_CODE_PATTERN = re.compile(rf"(?<![A-Za-z0-9])HL-[{CASE_CODE_ALPHABET}]{{6}}(?![A-Za-z0-9])")

_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([QqBb])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])|\r?\n$")
_BRACKETED = re.compile(r"<([^<>\s]+)>")
_BARE_ID = re.compile(r"[^\s<>()\",;]+@[^\s<>()\",;]+")
_COMMENT = re.compile(r"\([^()]*\)")


def unfold(value: str) -> str:
    """Undo header folding (RFC 5322 2.2.3)."""
    return _FOLD.sub("", value)


def raw_to_text(value: str, hints: Sequence[str] = ()) -> str:
    """A raw header value from the bytes parser may carry 8-bit bytes as surrogates: decode them."""
    return _raw_checked(value, hints)[0]


def _raw_checked(value: str, hints: Sequence[str]) -> tuple[str, bool]:
    """Undeclared 8-bit bytes in a header: UTF-8, else the charsets the message declares (``hints``, in
    order: its parts' labels), else the guess. True when the text is certain: ASCII, UTF-8 or a declared
    charset that decodes strictly; a guess is readable but never certain (EUC-KR guessed as GB18030,
    Latin-1 as Big5)."""
    if value.isascii():
        return value, True
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # pragma: no cover - defensive
        return value, False
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        pass
    for hint in dict.fromkeys(codec_name(h) for h in hints):
        if hint is None:
            continue
        try:
            return raw.decode(hint), True
        except UnicodeDecodeError:
            continue
    return decode_bytes(raw).text, False


def _decode_word(charset: str, encoding: str, payload: str) -> bytes:
    if encoding in "Bb":
        padded = payload + "=" * (-len(payload) % 4)
        try:
            return base64.b64decode(padded)
        except (binascii.Error, ValueError):
            try:
                return base64.b64decode(padded, validate=False)
            except (binascii.Error, ValueError):
                return payload.encode("ascii", "replace")
    data = payload.replace("_", " ").encode("ascii", "replace")
    try:
        return binascii.a2b_qp(data)
    except (binascii.Error, ValueError):  # pragma: no cover - a2b_qp is lenient
        return data


def decode_header_value(value: str | None, hints: Sequence[str] = ()) -> str:
    """Decode a header value: unfold, 8-bit raw text, RFC 2047 encoded words (adjacent words in the
    same charset are joined before decoding, so a character split between two words survives)."""
    return decode_header(value, hints)[0]


def decode_header(value: str | None, hints: Sequence[str] = ()) -> tuple[str, bool]:
    """`decode_header_value`, and whether every part of it decoded exactly (see `_raw_checked`): a
    subject is quoted back to its sender only then."""
    if not value:
        return "", True
    text, exact = _raw_checked(unfold(value), hints)
    pieces: list[str] = []
    pending: bytearray = bytearray()
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending, pending_charset, exact
        if pending_charset is not None:
            decoded = decode_bytes(bytes(pending), pending_charset)
            exact = exact and decoded.exact
            pieces.append(decoded.text)
        pending, pending_charset = bytearray(), None

    for match in _ENCODED_WORD.finditer(text):
        between = text[pos : match.start()]
        if between and not (between.isspace() and pending_charset is not None):
            flush()
            pieces.append(between)
        charset = match.group(1).lower()
        if pending_charset is not None and charset != pending_charset:
            flush()
        pending_charset = charset
        pending.extend(_decode_word(charset, match.group(2), match.group(3)))
        pos = match.end()
    flush()
    pieces.append(text[pos:])
    return "".join(pieces), exact


def normalise_message_id(value: str | None) -> str | None:
    """``<local@domain>`` from a Message-ID header value (brackets added when missing), or None."""
    ids = message_ids(value)
    return ids[0] if ids else None


def message_ids(value: str | None) -> tuple[str, ...]:
    """Every Message-ID in a header value, in order, normalised to ``<...>``, without duplicates.

    Accepts the bracketed form, bare ``local@domain`` tokens (broken clients) and comments."""
    if not value:
        return ()
    text = unfold(value)
    found = [f"<{m}>" for m in _BRACKETED.findall(text)]
    if not found:
        found = [f"<{m}>" for m in _BARE_ID.findall(_COMMENT.sub(" ", text))]
    return tuple(dict.fromkeys(clean_line(i) for i in found if "\ufffd" not in i))


def thread_keys(in_reply_to: str | None, references: str | None) -> tuple[str, ...]:
    """The Message-IDs a mail refers to: In-Reply-To first, then References from newest to oldest."""
    return tuple(dict.fromkeys((*message_ids(in_reply_to), *reversed(message_ids(references)))))


def find_case_code(subject: str, pattern: re.Pattern[str] = CASE_CODE_PATTERN) -> str | None:
    """The first case code in a decoded subject (compare after decoding RFC 2047), upper-cased."""
    match = pattern.search(subject) or pattern.search(subject.upper())
    return match.group(0).upper() if match else None


_OOF_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)?(?:自動回覆|自动回复|自動回复|自動答覆|自動回應|不在辦公室|不在办公室|休假通知|"
    r"automatic reply|auto[- ]?reply|auto[- ]?response|autoreply|out of (?:the )?office|"
    r"out-of-office|ooo\b|abwesenheitsnotiz)",
    re.IGNORECASE,
)
_AUTO_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply", "auto-reply"})


def is_auto_reply(headers: Mapping[str, str], subject: str, content_type: str = "") -> bool:
    """True for auto-generated mail that must never be answered (RFC 3834 and what servers really send).

    ``headers`` maps lower-case header names to their (first) raw value."""

    def value(name: str) -> str:
        return unfold(headers.get(name, "")).strip().lower()

    auto_submitted = value("auto-submitted")
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return True
    if value("precedence") in _AUTO_PRECEDENCE:
        return True
    if "x-autoreply" in headers and value("x-autoreply") not in ("no", "false"):
        return True
    if "x-autorespond" in headers:
        return True
    if "oof" in re.split(r"[\s,]+", value("x-auto-response-suppress")):
        return True
    if value("x-autogenerated") == "reply":
        return True
    if content_type == "multipart/report":  # delivery and read reports
        return True
    return bool(_OOF_SUBJECT.search(subject))


_DAEMONS = frozenset({"mailer-daemon", "mail-daemon", "postmaster-daemon"})


def is_bounce(headers: Mapping[str, str], from_address: str, content_type: str = "") -> bool:
    """True for a delivery report (a bounce): from MAILER-DAEMON, with the null reverse-path
    (``Return-Path: <>``, RFC 5321 4.5.5), or a ``multipart/report``. Never answered (RFC 3834)."""
    return_path = unfold(headers.get("return-path", "")).strip()
    if "return-path" in headers and return_path.replace(" ", "") in ("<>", ""):
        return True
    if from_address.split("@")[0].lower() in _DAEMONS:
        return True
    return content_type == "multipart/report" or "x-failed-recipients" in headers


def first_values(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-case header name -> first raw value."""
    out: dict[str, str] = {}
    for name, val in items:
        out.setdefault(name.lower(), val)
    return out
