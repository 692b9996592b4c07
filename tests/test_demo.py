"""`make demo` runs `hotline demo`: both channels, every section, exit 0, well within 60 s, and no
IMAP server (Dovecot) or anything beyond 127.0.0.1 needed."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from hotline.demo import SECTIONS

DEMO_LIMIT_SECONDS = 60.0

# What each section must show, beyond its heading (both sides: what people send, what the service does).
SHOWS: dict[int, tuple[str, ...]] = {
    1: ("王心理師 傳送：/onduty", "已開始值班"),
    2: ("員工 小美 傳送：/start", "員工 小美 按下按鈕：consent:accept"),
    3: ("王心理師 按下按鈕：claim:HL-", "💬 心理師："),
    4: ("/book BK-", "預約申請"),
    5: ("謝謝",),
    6: ("🚨 危機通報", "1925"),
    7: ("陳心理師 傳送：/onduty",),
    8: (
        'charset="big5"',
        "工作壓力好大",
        "🤖 → 陳心理師",
        "📧 信件案件 HL-",
        "Re: [HL-",
        "2026-11-28",
        "2026-11-27",
    ),
    9: ("陳心理師 按下按鈕：claim:HL-", "您已接下案件"),
    10: ("已寄出回信", "方便說說大概持續多久了嗎", "In-Reply-To）：<m1.demo@mail.demo.example>"),
    11: (
        "text/html",
        "🚨 危機通報",
        "我想死，藥已經準備好了",
        "In-Reply-To）：<c1.demo@mail.demo.example>",
        "1925",
    ),
    12: ("小華（LINE） 加入官方帳號好友", "LINE 名稱", "[我了解，開始諮詢]", "1925", "🚨 危機通報", "LINE"),
}


def split_sections(out: str) -> list[str]:
    """The text printed under each heading of SECTIONS, in order; fails if a heading is missing."""
    starts = []
    for heading in SECTIONS:
        assert heading in out, f"the demo did not print {heading!r}"
        starts.append(out.index(heading))
    assert starts == sorted(starts), "the sections are printed in order"
    ends = [*starts[1:], len(out)]
    return [out[a:b] for a, b in zip(starts, ends, strict=True)]


def messages_to(out: str, names: tuple[str, ...]) -> list[str]:
    """The texts of the bot's messages to these people, as the demo prints them (a "🤖 → name" line,
    then the text, each line under "│")."""
    texts: list[str] = []
    current: list[str] | None = None
    for line in out.splitlines():
        if line.startswith("  🤖 "):
            current = [] if line.split(" ")[-1] in names else None
            if current is not None:
                texts.append("")
        elif current is not None and line.startswith("      │"):
            texts[-1] += line.removeprefix("      │") + "\n"
        else:
            current = None
    return texts


def test_the_demo_shows_both_channels_section_by_section_and_exits_0_within_a_minute() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "hotline.cli", "demo"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=DEMO_LIMIT_SECONDS,
        check=False,
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert took < DEMO_LIMIT_SECONDS
    assert "Traceback" not in done.stderr and "demo failed" not in done.stderr
    assert len(SECTIONS) == len(SHOWS) == 12
    for number, (section, shows) in enumerate(
        zip(split_sections(done.stdout), SHOWS.values(), strict=True), 1
    ):
        for text in shows:
            assert text in section, f"section {number} does not show {text!r}:\n{section}"
    to_counselors = messages_to(done.stdout, ("王心理師", "陳心理師"))
    assert any("HL-" in text for text in to_counselors)
    assert not any("@" in text for text in to_counselors), "counselors never see a mail address"
    assert not any("小華" in text or "林小華" in text for text in to_counselors), "nor a LINE name"
    assert done.stdout.rstrip().endswith("已刪除。")
