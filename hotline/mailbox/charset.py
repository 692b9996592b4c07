"""Decoding bytes whose charset label may be missing or wrong, as Chinese mail is written in the wild.

Pure. ``decode_bytes(data, label)`` never raises and never returns lone surrogates:

- a label from the Big5 family is read as cp950 or Big5-HKSCS (Python's ``big5`` lacks the Microsoft
  and HKSCS extensions); a GB2312/GBK label is read as GB18030, its superset;
- valid UTF-8 wins whatever the label says (random non-ASCII bytes are almost never valid UTF-8);
- when several candidates decode strictly, a small score (common Chinese characters up, kana, Greek,
  Cyrillic, private-use and replacement characters down) picks the plausible one, the labelled one
  winning ties; this catches Big5 labelled GB2312 and the reverse;
- when nothing decodes strictly: the label (or UTF-8) with replacement characters, and ``exact=False``.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_BIG5_LABELS = frozenset({"big5", "big-5", "cn-big5", "x-x-big5", "csbig5", "cp950", "ms950", "windows-950"})
_HKSCS_LABELS = frozenset({"big5-hkscs", "big5hkscs", "big5_hkscs"})
_GB_LABELS = frozenset(
    {"gb2312", "gb_2312-80", "gbk", "x-gbk", "cp936", "ms936", "windows-936", "euc-cn", "gb18030", "csgb2312"}
)
_ASCII_LABELS = frozenset({"", "us-ascii", "ascii", "ansi_x3.4-1968", "646", "unknown-8bit", "x-unknown"})

# Frequent characters of Traditional and Simplified Chinese text. Text decoded with the wrong CJK
# codec is full of rare ideographs, kana and symbols instead.
_COMMON = frozenset(
    "的一是不了人我在有他這这个個們们中來来上大為为和國国地到以說说時时要就出會会可也你對对生能而子那得"
    "於于著着下自之年過过發发後后作裡里用道行所然家種种事成方多經经麼么去法學学如都同現现當当沒没動动面"
    "起看定天分還还進进好小部其些主樣样理心她本前開开但因只從从想實实日者意無无力它與与長长把機机十民第"
    "公此已工使情明性知全三又關关點点正業业外將将兩两高間间由問问很最重並并物手應应向頭头文體体見见被利"
    "什二等或新己身果加月話话合回特代內内信表化老給给世位次度門门任常先海通教兒儿原東东聲声提立及比員员"
    "解水名真論论處处走義义各入幾几口認认條条平系氣气題题活更別别打女變变四總总何電电數数安少報报才結结"
    "反受目太量再感建務务做接必場场件計计管期直資资命山指許许便空決决書书非則则聽听白卻却達达放強强即難"
    "难且思王完設设色記记品住告求據据程北邊边死張张該该交規规取覺觉今切讓让帶带笑改收根言每快辦办往近"
    "失怎呢存未遠远叫單单愛爱備备需價价花請请病息似官精滿满須须寫写稱称吧找吃念引首醫医另注語语考落隨随"
    "選选希古某案七孩責责夠够跟底例講讲答緊紧錢钱熱热助育坐早曾謝谢您嗎吗啊呀哦喔煩烦累壓压工作主管同事"
    "老闆板公司上班下班加班心情覺得觉得真的好像已經已经一直現在现在今天明天昨天時候时候朋友家人孩子"
    "，。、！？：；「」『』（）…"
)
_WEIRD_RANGES = (
    (0x0370, 0x03FF),  # Greek
    (0x0400, 0x04FF),  # Cyrillic
    (0x2500, 0x25FF),  # box drawing, geometric shapes
    (0x3040, 0x30FF),  # kana
    (0x3100, 0x312F),  # Zhuyin (rare in mail bodies, common in mis-decoded Big5 as GB)
    (0xE000, 0xF8FF),  # private use
    (0xF900, 0xFAFF),  # compatibility ideographs
    (0xFFFD, 0xFFFD),  # replacement character
)
_CHINESE_CODECS = frozenset({"cp950", "big5hkscs", "gb18030"})
_LATIN_PREFIXES = ("iso8859", "cp125", "latin", "mac-roman", "ascii")
_SURROGATES = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile("[\x00\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    charset: str
    exact: bool  # False when characters had to be replaced


def codec_name(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when the label is missing or unknown."""
    if label is None:
        return None
    norm = label.strip().strip("\"'").lower()
    if norm in _ASCII_LABELS:
        return None
    if norm in _BIG5_LABELS:
        return "cp950"
    if norm in _HKSCS_LABELS:
        return "big5hkscs"
    if norm in _GB_LABELS:
        return "gb18030"
    try:
        return codecs.lookup(norm).name
    except (LookupError, ValueError):
        return None


def _candidates(codec: str | None) -> list[str]:
    if codec == "cp950":
        return ["cp950", "big5hkscs", "gb18030"]
    if codec == "big5hkscs":
        return ["big5hkscs", "cp950", "gb18030"]
    if codec == "gb18030":
        return ["gb18030", "cp950", "big5hkscs"]
    if codec is None:
        return ["cp950", "big5hkscs", "gb18030"]
    return [codec, "cp950", "big5hkscs", "gb18030"]


def _weight_class(cp: int) -> str:
    """The class of one character for `_score`: "a" 1 point, "c" 3, "h" half a point, "w" -4, "" none."""
    if cp < 0x80:
        return "a"
    if chr(cp) in _COMMON:
        return "c"
    if 0x4E00 <= cp <= 0x9FFF:
        return "h"
    if 0xC0 <= cp <= 0x24F:  # Latin letters with diacritics
        return "a"
    if 0x2000 <= cp <= 0x20CF:  # general punctuation, currency
        return "h"
    if any(lo <= cp <= hi for lo, hi in _WEIRD_RANGES):
        return "w"
    return ""


class _Classes(dict[int, str]):
    """Code point → class, filled as text meets characters (`str.translate` does the counting in C)."""

    def __missing__(self, cp: int) -> str:
        value = _weight_class(cp)
        if cp < 0x30000:  # the planes text is written in: a bounded table, whatever a mail holds
            self[cp] = value
        return value


_CLASSES = _Classes()


def _score(text: str) -> float:
    classes = text.translate(_CLASSES)
    return classes.count("a") + 3.0 * classes.count("c") + 0.5 * classes.count("h") - 4.0 * classes.count("w")


def decode_bytes(data: bytes, label: str | None = None) -> Decoded:
    """Decode ``data`` that claims to be in charset ``label`` (see the module docstring)."""
    codec = codec_name(label)
    if data.isascii():
        return Decoded(data.decode("ascii"), "us-ascii", True)
    try:
        return Decoded(data.decode("utf-8"), "utf-8", True)
    except UnicodeDecodeError:
        pass
    if codec is not None and codec not in _CHINESE_CODECS and not codec.startswith(_LATIN_PREFIXES):
        try:  # a specific non-Chinese label (Shift_JIS, KOI8-R ...) is trusted when it decodes
            return Decoded(data.decode(codec), codec, True)
        except UnicodeDecodeError:
            pass
    best: Decoded | None = None
    best_score = float("-inf")
    for index, name in enumerate(_candidates(codec)):
        try:
            text = data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
        # the labelled (first) candidate wins ties and near-ties
        score = _score(text) + (len(text) * 1.0 if index == 0 and codec is not None else 0.0)
        if score > best_score:
            best, best_score = Decoded(text, name, True), score
    if best is not None:
        return best
    fallback = codec or "utf-8"
    try:
        return Decoded(data.decode(fallback, errors="replace"), fallback, False)
    except LookupError:  # pragma: no cover - codec_name only returns known codecs
        return Decoded(data.decode("utf-8", errors="replace"), "utf-8", False)


def clean_text(text: str) -> str:
    """Text safe to store and show: no lone surrogates, no NUL or other C0 controls but tab and newline."""
    text = _SURROGATES.sub("\ufffd", text)
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def clean_line(text: str) -> str:
    """Like `clean_text` for a one-line value (subject, name): line breaks and tabs become spaces."""
    return _SPACES.sub(" ", clean_text(text)).strip()
