"""The mail benchmark's corpus is well-formed: what the station screens there is what people wrote."""

from __future__ import annotations

import re

from benchmarks.mail_corpus import realistic
from hotline.mailbox.parse import parse_message

_BARE_CR = re.compile(rb"\r(?!\n)")
_BARE_LF = re.compile(rb"(?<!\r)\n")


def test_every_line_ends_in_crlf() -> None:
    for raw in realistic(60):
        assert not _BARE_CR.search(raw)
        assert not _BARE_LF.search(raw)


def test_text_survives_a_server_that_stores_lines_as_crlf() -> None:
    """An IMAP server turns a bare CR into a line end; the text read back must be the same, whole
    characters (a quoted-printable soft break followed by an empty line cut characters in two)."""
    for raw in realistic(60):
        stored = re.sub(rb"\r\n|\r|\n", b"\r\n", raw)
        mail = parse_message(stored)
        assert mail.new_text == parse_message(raw).new_text
        assert "\ufffd" not in mail.new_text
