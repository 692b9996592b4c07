"""The new text of a reply: quoted earlier mail and signatures removed. Pure and total.

Screening looks at the new text only (DESIGN §4), so the rules lean towards keeping text: only
well-known markers cut. Forwarded messages are NOT removed (a forwarded goodbye of a colleague must
reach screening).

- lines starting with ">" (any depth) are dropped, with the attribution line that introduces them;
  text after a quoted block (bottom-posting, inline answers) is kept;
- an attribution line not followed by ">" lines (the quote itself is unmarked) cuts the rest:
  Gmail zh-TW "於 2026年11月20日 週五 上午10:15，X <x@y> 寫道：", zh-CN "… 写道：",
  English/Apple "On Fri, Nov 20, 2026 at 10:15 AM X <x@y> wrote:" (also wrapped over 2–3 lines);
- an Outlook header block cuts the rest: "寄件者:"/"寄件者："/"From:"/"发件人：" followed within a few
  lines by "寄件日期"/"Sent:"/"Date:"/"日期"/"收件者"/"To:"/"主旨"/"Subject:"/"发送时间", optionally after a
  line of underscores;
- separators cut the rest: "-----Original Message-----", "-----原始郵件-----", "-----原始邮件-----";
- a signature delimiter "-- " (or "--" followed by a signature-sized rest) cuts the rest;
- a forwarded message ("---------- Forwarded message ---------", "Begin forwarded message:",
  "轉寄的郵件", or a Fwd:/FW:/轉寄 subject) is kept whole, only ">" lines are removed: a colleague's
  goodbye forwarded by a worried employee must reach screening.
"""

from __future__ import annotations

import re

_QUOTED = re.compile(r"^\s*>")
_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:original message|原始郵件|原始邮件|原始訊息|原始信件|原始的郵件)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_FORWARD = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|轉寄的?郵件|转发的?邮件|轉寄訊息|已轉寄郵件)\s*-{2,}|"
    r"begin forwarded message:|開始轉寄的郵件[:：]?)\s*$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^\s*_{8,}\s*$")
_HEADER_FROM = re.compile(r"^\s*\*?\s*(?:寄件者|寄件人|发件人|發件人|from)\s*\*?\s*[:：]", re.IGNORECASE)
_HEADER_OTHER = re.compile(
    r"^\s*\*?\s*(?:寄件日期|傳送時間|發送時間|发送时间|日期|收件者|收件人|副本|主旨|主題|主题|"
    r"sent|date|to|cc|subject)\s*\*?\s*[:：]",
    re.IGNORECASE,
)
_ATTRIBUTION = (
    re.compile(r"^\s*on\b.{4,300}\bwrote\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^.{0,300}(?:於|在|于).{2,300}(?:寫道|写道|寫了|撰寫了)\s*[:：]\s*$", re.DOTALL),
    re.compile(r"^\s*le\b.{4,300}\ba écrit\s*:\s*$", re.IGNORECASE | re.DOTALL),
)
# an attribution names a date or time and usually an address; "他在信裡寫道：" alone is not one
_ATTRIBUTION_EVIDENCE = re.compile(r"\d{4}|\d{1,2}:\d{2}|\d+\s*[年月日]|@")
_SIGNATURE_MAX_LINES = 8


def _attribution_length(lines: list[str], i: int) -> int:
    """How many lines (1–3) starting at ``i`` form an attribution line, or 0."""
    for span in (1, 2, 3):
        if i + span > len(lines) or any(not lines[j].strip() for j in range(i, i + span)):
            return 0
        if span > 1 and not _ATTRIBUTION_EVIDENCE.search(lines[i]):
            return 0  # a wrapped attribution starts with its date or address, not with plain text
        joined = " ".join(lines[j].strip() for j in range(i, i + span))
        if _ATTRIBUTION_EVIDENCE.search(joined) and any(p.match(joined) for p in _ATTRIBUTION):
            return span
    return 0


def _is_outlook_header(lines: list[str], i: int) -> bool:
    if not _HEADER_FROM.match(lines[i]):
        return False
    window = [ln for ln in lines[i + 1 : i + 6] if ln.strip()]
    return any(_HEADER_OTHER.match(ln) for ln in window[:4])


def _is_signature(lines: list[str], i: int) -> bool:
    """ "-- " starts a signature; a bare "--" only when a signature-sized rest follows (people also
    use "--" as a separator inside their text, which must not be cut)."""
    if lines[i] == "-- ":
        return True
    if lines[i].rstrip() != "--":
        return False
    return sum(1 for ln in lines[i + 1 :] if ln.strip()) <= _SIGNATURE_MAX_LINES


def _next_content(lines: list[str], i: int) -> str | None:
    for line in lines[i:]:
        if line.strip():
            return line
    return None


def strip_quotes(text: str, *, forwarded: bool = False) -> str:
    """The new text of a mail body (see the module docstring). Never raises.

    ``forwarded`` (the subject says Fwd:/FW:/轉寄): the original is what the sender wants read, so
    only ">" lines are removed. A forward marker in the text has the same effect from there on."""
    lines = text.split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _QUOTED.match(line):
            i += 1
            continue
        if forwarded or _FORWARD.match(line):
            forwarded = True
            kept.append(line.rstrip())
            i += 1
            continue
        if _SEPARATOR.match(line) or _is_signature(lines, i):
            break
        if _UNDERSCORES.match(line) and i + 1 < len(lines):
            nxt = next((j for j in range(i + 1, min(i + 3, len(lines))) if lines[j].strip()), None)
            if nxt is not None and _is_outlook_header(lines, nxt):
                break
        if _is_outlook_header(lines, i):
            break
        span = _attribution_length(lines, i)
        if span:
            following = _next_content(lines, i + span)
            if following is None or not _QUOTED.match(following):
                break
            i += span
            continue
        kept.append(line.rstrip())
        i += 1
    return _tidy(kept)


def _tidy(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        if not line.strip() and (not out or not out[-1].strip()):
            continue
        out.append(line)
    return "\n".join(out).strip()
