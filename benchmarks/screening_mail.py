"""Labelled lines as the e-mail station would see them: each line wrapped in a production-shaped mail
(``benchmarks/mail_corpus.py``'s shapes: multipart/alternative with base64 and quoted-printable parts,
HTML only, ``format=flowed``, plain 8bit; Big5 for one line in six when it can be written in Big5; an
RFC 2047 subject; one in three a reply quoting the station's earlier mail), parsed by the station's own
parser, and reduced to what the station screens: the new text and the subject, read apart when the text is
short (``hotline.station.sink.screened_reading``).

``python -m benchmarks screening --as-mail`` screens these instead of the bare lines: the difference
between the two reads is what the mail path (decoding, HTML to text, unflowing, quote stripping) does
to screening. ``Wrapped.changed`` counts lines whose new text differs from the line beyond whitespace
(an extraction that lost or added words); it needs no label, so it can be looked at on any set, and the
lines themselves only on training data.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.mail_corpus import SUBJECTS, compose
from hotline.mailbox.parse import parse_message
from hotline.station.sink import screened_reading

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Wrapped:
    readings: list[tuple[str, tuple[str, ...]]]  # what the station screens, one a line: (text, read apart)
    changed: list[int]  # lines whose new text is not the line (whitespace aside)
    big5: int  # lines sent in Big5


def _bare(text: str) -> str:
    return _SPACE.sub("", text)


def _codec(i: int, text: str) -> tuple[str, str]:
    if i % 6 == 0:
        try:
            text.encode("cp950")
        except UnicodeEncodeError:  # emoji, Simplified-only or Hokkien characters: a Big5 client cannot
            return "utf-8", "utf-8"
        return "big5", "cp950"
    return "utf-8", "utf-8"


def as_mail(lines: Sequence[str], seed: int = 15) -> Wrapped:
    rng = random.Random(seed)
    readings: list[tuple[str, tuple[str, ...]]] = []
    changed: list[int] = []
    big5 = 0
    for i, line in enumerate(lines):
        paragraphs = [p.strip() for p in line.split("\n") if p.strip()] or [line]
        charset, codec = _codec(i, line)
        big5 += charset == "big5"
        mail = parse_message(compose(rng, i, paragraphs, SUBJECTS[i % len(SUBJECTS)], charset, codec))
        readings.append(screened_reading(mail))
        if _bare(mail.new_text) != _bare(line):
            changed.append(i)
    return Wrapped(readings, changed, big5)
