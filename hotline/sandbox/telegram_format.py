"""Formatted text of the Bot API (``parse_mode`` HTML, MarkdownV2, Markdown) -> plain text + entities.

Strict like Telegram where bots usually go wrong: an unsupported or unclosed HTML tag, a stray ``<``,
or an unescaped reserved character in MarkdownV2 is answered with
``400 Bad Request: can't parse entities: …`` — so a bot that relays user text unescaped fails in tests
the way it would fail in production.
"""

from __future__ import annotations

from html import unescape
from html.parser import HTMLParser
from typing import Any

from .telegram_model import JSON, ApiError, bad_request, utf16_len

_HTML_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}

_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")


def _entity_error(detail: str) -> ApiError:
    return bad_request(f"can't parse entities: {detail}")


def parse_formatted(text: str, parse_mode: str | None) -> tuple[str, list[JSON]]:
    """Plain text and entities of ``text`` under ``parse_mode`` (case-insensitive, None = plain)."""
    mode = (parse_mode or "").lower()
    if mode == "":
        return text, []
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown(text, strict=True)
    if mode == "markdown":
        return _parse_markdown(text, strict=False)
    raise bad_request(f"unsupported parse_mode {parse_mode!r}")


class _HtmlToEntities(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=False)
        self.source = source
        self.line_starts = [0]
        for i, ch in enumerate(source):
            if ch == "\n":
                self.line_starts.append(i + 1)
        self.out: list[str] = []
        # open tags: tag, utf16 offset, extra fields, byte offset, opening order
        self.stack: list[tuple[str, int, JSON, int, int]] = []
        self.entities: list[tuple[int, JSON]] = []  # (opening order, entity)
        self.opened = 0

    def byte_offset(self) -> int:
        line, col = self.getpos()
        return len(self.source[: self.line_starts[line - 1] + col].encode())

    def utf16_pos(self) -> int:
        return utf16_len("".join(self.out))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_ENTITY:
            raise _entity_error(f'Unsupported start tag "{tag}" at byte offset {self.byte_offset()}')
        extra: JSON = {}
        attributes = dict(attrs)
        if tag == "a":
            extra["url"] = attributes.get("href") or ""
        elif tag == "span" and attributes.get("class") != "tg-spoiler":
            raise _entity_error(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self.byte_offset()}'
            )
        elif tag == "tg-emoji":
            extra["custom_emoji_id"] = attributes.get("emoji-id") or ""
        elif tag == "pre" and attributes.get("language"):
            extra["language"] = attributes["language"]
        self.opened += 1
        self.stack.append((tag, self.utf16_pos(), extra, self.byte_offset(), self.opened))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            raise _entity_error(
                f'Unmatched end tag at byte offset {self.byte_offset()}, expected "</'
                f'{self.stack[-1][0] if self.stack else ""}>", found "</{tag}>"'
            )
        _, start, extra, _, order = self.stack.pop()
        length = self.utf16_pos() - start
        if length > 0:
            self.entities.append(
                (order, {"type": _HTML_ENTITY[tag], "offset": start, "length": length, **extra})
            )

    def handle_data(self, data: str) -> None:
        if "<" in data:
            raise _entity_error(f"Can't find end of the tag starting at byte offset {self.byte_offset()}")
        self.out.append(data)

    def handle_entityref(self, name: str) -> None:
        self.out.append(unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.out.append(unescape(f"&#{name};"))


def _parse_html(text: str) -> tuple[str, list[JSON]]:
    parser = _HtmlToEntities(text)
    parser.feed(text)
    parser.close()
    if parser.stack:
        tag, _, _, offset, _ = parser.stack[-1]
        raise _entity_error(f'Can\'t find end tag corresponding to start tag "{tag}" at byte offset {offset}')
    parser.entities.sort(key=lambda pair: (pair[1]["offset"], -pair[1]["length"], pair[0]))
    return "".join(parser.out), [entity for _, entity in parser.entities]


_MD_MARKERS_V2 = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}
_MD_MARKERS_V1 = {"*": "bold", "_": "italic"}


def _parse_markdown(text: str, *, strict: bool) -> tuple[str, list[JSON]]:
    markers = _MD_MARKERS_V2 if strict else _MD_MARKERS_V1
    out: list[str] = []
    entities: list[JSON] = []
    open_marks: dict[str, tuple[int, int]] = {}  # marker -> (utf16 offset, byte offset)
    i = 0

    def pos() -> int:
        return utf16_len("".join(out))

    def byte_at(index: int) -> int:
        return len(text[:index].encode())

    while i < len(text):
        ch = text[i]
        if ch == "\\" and strict and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == "`":
            fence = "```" if text.startswith("```", i) else "`"
            end = text.find(fence, i + len(fence))
            if end < 0:
                raise _entity_error(
                    f"Can't find end of {'Pre' if fence == '```' else 'Code'} entity "
                    f"at byte offset {byte_at(i)}"
                )
            body = text[i + len(fence) : end]
            start = pos()
            out.append(body.replace("\\`", "`").replace("\\\\", "\\") if strict else body)
            entities.append(
                {"type": "pre" if fence == "```" else "code", "offset": start, "length": pos() - start}
            )
            i = end + len(fence)
            continue
        if ch == "[":
            close = text.find("](", i)
            end = text.find(")", close + 2) if close >= 0 else -1
            if close < 0 or end < 0:
                if strict:
                    raise _entity_error(
                        "Character '[' is reserved and must be escaped with the preceding '\\'"
                    )
                out.append(ch)
                i += 1
                continue
            start = pos()
            inner, _ = _parse_markdown(text[i + 1 : close], strict=strict)
            out.append(inner)
            entities.append(
                {"type": "text_link", "offset": start, "length": pos() - start, "url": text[close + 2 : end]}
            )
            i = end + 1
            continue
        marker = next((m for m in ("__", "||", ch) if text.startswith(m, i) and m in markers), None)
        if marker is not None:
            if marker in open_marks:
                start, _ = open_marks.pop(marker)
                if pos() > start:
                    entities.append({"type": markers[marker], "offset": start, "length": pos() - start})
            else:
                open_marks[marker] = (pos(), byte_at(i))
            i += len(marker)
            continue
        if strict and ch in _MDV2_RESERVED and not (ch == ">" and (i == 0 or text[i - 1] == "\n")):
            raise _entity_error(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")
        out.append(ch)
        i += 1
    if open_marks:
        marker, (_, offset) = next(iter(open_marks.items()))
        name = markers[marker].capitalize()
        raise _entity_error(f"Can't find end of {name} entity at byte offset {offset}")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def message_text_fields(params: dict[str, Any]) -> tuple[str, list[JSON]]:
    """Plain text and entities of a send/edit call: explicit ``entities`` win over ``parse_mode``."""
    raw = params.get("text")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise bad_request("message text is empty")
    text = str(raw)
    explicit = params.get("entities")
    if isinstance(explicit, list):
        plain, entities = text, [e for e in explicit if isinstance(e, dict)]
    else:
        mode = params.get("parse_mode")
        plain, entities = parse_formatted(text, mode if isinstance(mode, str) else None)
    if not plain.strip():
        raise bad_request("text must be non-empty")
    if utf16_len(plain) > 4096:
        raise bad_request("message is too long")
    return plain, entities
