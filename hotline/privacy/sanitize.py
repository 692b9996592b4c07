"""E-mail text made safe to show a counselor: plain text only, nothing that fetches, runs or misleads.

Built on :mod:`hotline.mailbox.htmltext` (the mail parser's HTML-to-text converter, which already drops
script, style, head, iframe, object and svg content, turns markup into line breaks and never fetches
anything), adding what display needs on top:

* a link keeps its text and shows where it really goes, as text: ``網站（連結：hxxps://evil[.]example/x）``;
  ``javascript:``, ``data:``, ``vbscript:`` and ``file:`` targets are not shown at all;
* an image becomes ``[圖片]`` or ``[圖片：alt text]``: its source (a tracking pixel, most often) is never
  shown or loaded;
* every web address in the text is defanged (``hxxp``, ``[.]``), so the chat client neither turns it into
  a link nor fetches a preview, and reading a mail cannot tell its sender it was read;
* bidirectional overrides and other invisible control characters (used to disguise file names and
  links) are removed.

The result is plain text: send it without ``parse_mode`` (or escape it for HTML) and with link previews
disabled. Attachments are never opened or rendered: they are counted by the parser, not passed here.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from hotline.mailbox.htmltext import _Converter

IMAGE = "[圖片]"
LINK = "（連結：{url}）"
UNSAFE_LINK = "（連結已移除）"
_SAFE_SCHEMES = frozenset({"http", "https", "mailto", "ftp"})

_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'（）()\[\]]+", re.IGNORECASE)
_WWW = re.compile(r"(?<![\w./])www\.[^\s<>\"'（）()\[\]]+", re.IGNORECASE)
# C0 controls but tab and newline, DEL and C1, bidi embeddings/overrides/isolates, BOM and word joiners.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b\u200e\u200f\u2060\ufeff]"
)


def defang(url: str) -> str:
    """A web address as inert text: ``https://a.example/x`` -> ``hxxps://a[.]example/x``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    host, slash, path = rest.partition("/")
    host = host.replace(".", "[.]")
    scheme = re.sub("^(h)tt(ps?)$", r"\1xx\2", scheme, flags=re.IGNORECASE)
    return (scheme + sep if sep else "") + host + slash + path


def _defang_all(text: str) -> str:
    text = _URL.sub(lambda m: defang(m.group(0)), text)
    return _WWW.sub(lambda m: defang(m.group(0)), text)


class _DisplayConverter(_Converter):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, int]] = []  # (href, length of the text before the link)

    def _written(self) -> str:
        return "\n".join(self.lines) + "".join(self.current)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.drop:
            values = {k: v or "" for k, v in attrs}
            if tag == "img":
                alt = " ".join(values.get("alt", "").split())
                self.handle_data(f" [圖片：{alt}] " if alt else f" {IMAGE} ")
            elif tag == "a":
                self.links.append((values.get("href", "").strip(), len(self._written())))
        super().handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.links and not self.drop:
            href, start = self.links.pop()
            shown = self._written()[start:]
            note = _link_note(href, shown)
            if note:
                self.current.append(note)
        super().handle_endtag(tag)


def _link_note(href: str, shown: str) -> str:
    if not href or href.startswith("#"):
        return ""
    scheme = urlsplit(href).scheme.lower()
    if scheme and scheme not in _SAFE_SCHEMES:
        return UNSAFE_LINK
    if scheme == "mailto":
        address = href[len("mailto:") :].split("?", 1)[0]
        return "" if address and address in shown else LINK.format(url=address)
    if href in shown.strip():
        return ""  # the text already is the address (it is defanged with the rest of the text)
    return LINK.format(url=href)


def html_for_display(html: str) -> str:
    """Safe plain text of an HTML mail body for a counselor. Pure and total; never raises."""
    converter = _DisplayConverter()
    try:
        converter.feed(html)
        converter.close()
    except Exception:  # html.parser is lenient; anything left is salvaged below
        pass
    return text_for_display(converter.result().replace("\xa0", " "))


def text_for_display(text: str) -> str:
    """Safe plain text of a plain-text mail body (or subject): invisible controls removed, URLs defanged."""
    return _defang_all(_INVISIBLE.sub("", text))


__all__ = ["defang", "html_for_display", "text_for_display"]
