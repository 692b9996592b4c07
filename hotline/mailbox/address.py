"""The sender of a received mail, read once at intake: parsed from the From header as mail in the wild
writes it, and validated, so that nothing later tries to write to an address no SMTP server would take.

Pure and total. A From without angle brackets (``=?UTF-8?B?...?= name@example.tw``: an RFC 2047 display
name followed by a bare address) is read as name and address; the encoded words are decoded after the
address is found, never before (decoded, the name would run into the address).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr

from hotline.mailbox.charset import clean_line
from hotline.mailbox.headers import decode_header_value, raw_to_text, unfold

_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_COMMENT = re.compile(r"\([^()]*\)")
_LAST_BRACKETED = re.compile(r"<([^<>]*@[^<>]*)>\s*(?:\([^()]*\)\s*)?$")


@dataclass(frozen=True, slots=True)
class Sender:
    name: str  # decoded display name, one line ("" when none)
    address: str  # a usable address, or "" (none, or one no mail could be sent to)
    unusable: bool  # a From header was there, but no usable address in it


def is_usable(address: str) -> bool:
    """Whether ``address`` is a plain ``local@domain`` an SMTP server takes (RFC 5321 dot-atom local
    part, a domain name with at least two labels, the length limits)."""
    if len(address) > 254 or address.count("@") != 1:
        return False
    local, domain = address.split("@")
    labels = domain.removesuffix(".").split(".")
    return (
        len(local) <= 64
        and _LOCAL.fullmatch(local) is not None
        and len(labels) >= 2
        and len(domain) <= 253
        and all(_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def parse_sender(value: str | None, hints: Sequence[str] = ()) -> Sender:
    """The sender in a raw From header value (``hints``: the charsets the message declares)."""
    if not value or not value.strip():
        return Sender("", "", False)
    text = raw_to_text(unfold(value), hints).replace("\r", " ").replace("\n", " ")
    name, address = _split(text)
    name = clean_line(decode_header_value(name, hints))
    address = clean_line(address)
    if is_usable(address):
        return Sender(name, address, False)
    return Sender(name, "", True)


def _split(text: str) -> tuple[str, str]:
    last = _LAST_BRACKETED.search(text)
    if last is not None:  # "Name <a@b.tw>", also when the name itself looks like an address
        return text[: last.start()].strip().strip('"'), last.group(1).strip()
    if "<" in text:
        try:
            name, address = parseaddr(text)
        except Exception:  # pragma: no cover - parseaddr is lenient
            name, address = "", ""
        if address:
            return name, address
    # No angle brackets: the last word with an "@" is the address, the words before it the name; a
    # comment after it ("a@b.tw (Name)") is the name.
    bare = _COMMENT.sub(" ", text)
    words = bare.split()
    at = [i for i, word in enumerate(words) if "@" in word and "=?" not in word]
    if not at:
        return text, ""
    index = at[-1]
    name = " ".join(words[:index]) or " ".join(m.strip("() ") for m in _COMMENT.findall(text))
    return name.strip().strip('"'), words[index].strip("<>,;\"'")
