"""``run_screen``: JSON lines in input order, odd input never crashes."""

from __future__ import annotations

import io
import json

from hotline.screen_command import run_screen
from hotline.screening import Screener


def screen_lines(screener: Screener, text: str) -> list[dict[str, object]]:
    stdout = io.StringIO()
    assert run_screen(io.BytesIO(text.encode("utf-8", "surrogatepass")), stdout, screener) == 0
    out = stdout.getvalue()
    assert out == "" or out.endswith("\n")
    return [json.loads(line) for line in out.splitlines()]


def test_one_object_per_line_in_order(screener: Screener) -> None:
    results = screen_lines(screener, "你好\n我今晚想死\n\n累死了\n他又打我\n")
    assert [r["risk"] for r in results] == ["none", "imminent", "none", "none", "elevated"]
    assert results[0] == {"risk": "none", "cues": []}
    assert results[1]["cues"] == ["suicide.intent.direct", "time.tonight"]
    assert all(set(r) == {"risk", "cues"} for r in results)


def test_output_is_utf8_json_without_escapes(screener: Screener) -> None:
    stdout = io.StringIO()
    run_screen(io.BytesIO("想死\n".encode()), stdout, screener)
    assert stdout.getvalue() == '{"risk": "elevated", "cues": ["suicide.intent.direct"]}\n'


def test_odd_input(screener: Screener) -> None:
    long_line = "工作" * 200_000 + "我不想活了"
    text = "\ud800想死\udfff\n" + "\r\n" + "a\x00b\n" + long_line + "\n" + "沒有換行的最後一行 kms"
    results = screen_lines(screener, text)
    assert [r["risk"] for r in results] == ["elevated", "none", "none", "elevated", "elevated"]


def test_empty_input_writes_nothing(screener: Screener) -> None:
    assert screen_lines(screener, "") == []


def test_many_lines_keep_order(screener: Screener) -> None:
    lines = ["想死" if i % 3 == 0 else f"第{i}則訊息" for i in range(5000)]
    results = screen_lines(screener, "\n".join(lines) + "\n")
    assert len(results) == len(lines)
    assert [r["risk"] != "none" for r in results] == [i % 3 == 0 for i in range(5000)]
