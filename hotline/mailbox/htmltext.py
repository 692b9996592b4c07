"""HTML mail bodies as readable plain text, with the standard library's html.parser only.

Pure and total. Script, style, head and other invisible content is dropped; <br>, <p>, <div>, list
items and table rows give line breaks; quoted mail (<blockquote>, Gmail's ``gmail_quote``) is prefixed
with "> " so that quote stripping treats it like quoted plain text. Nothing is fetched or executed.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_DROP = frozenset({"script", "style", "head", "title", "template", "noscript", "svg", "object", "iframe"})
_BLOCK = frozenset(
    {
        "p", "div", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
        "pre", "hr", "address", "section", "article", "header", "footer", "dl", "dt", "dd", "center",
    }
)  # fmt: skip
_VOID = frozenset(
    {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source", "wbr"}
)
_WS = re.compile(r"[ \t\r\n\f\u200b]+")


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, opened a quote)
        self.drop = 0
        self.pre = 0
        self.quote = 0

    def _break(self) -> None:
        text = "".join(self.current)
        text = text if self.pre else text.strip(" ")
        prefix = "> " * self.quote
        self.lines.append(prefix + text if text or not self.quote else prefix.rstrip())
        self.current = []

    def _soft_break(self) -> None:
        if self.current:
            self._break()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            if tag == "br":
                self._break()
            elif tag == "hr":
                self._soft_break()
            return
        classes = " ".join(v or "" for k, v in attrs if k == "class")
        quote = tag == "blockquote" or ("gmail_quote" in classes.split() and tag != "span")
        if tag in _DROP:
            self.drop += 1
        if tag == "pre":
            self.pre += 1
        if tag in _BLOCK or tag == "blockquote":
            self._soft_break()
        if quote:
            self.quote += 1
        self.stack.append((tag, quote))

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID or not any(t == tag for t, _ in self.stack):
            return
        while self.stack:  # close unclosed children too (mail HTML is rarely well formed)
            open_tag, quote = self.stack.pop()
            if open_tag in _DROP:
                self.drop = max(0, self.drop - 1)
            if open_tag in _BLOCK or open_tag == "blockquote":
                self._soft_break()
            if open_tag == "pre":
                self.pre = max(0, self.pre - 1)
            if quote:
                self.quote = max(0, self.quote - 1)
            if open_tag == tag:
                break
        if tag in ("td", "th"):
            self.current.append(" ")

    def handle_data(self, data: str) -> None:
        if self.drop:
            return
        if self.pre:
            first, *rest = data.split("\n")
            self.current.append(first)
            for line in rest:
                self._break()
                self.current.append(line)
            return
        text = _WS.sub(" ", data)
        if not self.current or "".join(self.current).endswith(" "):
            text = text.lstrip(" ")
        if text:
            self.current.append(text)

    def result(self) -> str:
        self._soft_break()
        out: list[str] = []
        for line in self.lines:
            if not line.strip(" >") and out and not out[-1].strip(" >"):
                continue  # collapse runs of blank lines
            out.append(line.rstrip())
        return "\n".join(out).strip("\n")


def html_to_text(html: str) -> str:
    """Readable text of an HTML body (see the module docstring). Never raises."""
    converter = _Converter()
    try:
        converter.feed(html)
        converter.close()
    except Exception:  # html.parser is lenient; anything left is salvaged below
        pass
    return converter.result().replace("\xa0", " ")
