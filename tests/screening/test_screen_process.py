"""``hotline screen`` as a program uses it: one answer per line as soon as the line is written, UTF-8
whatever the locale, every layer by default, and the lexicon alone (said on stderr) when the learned
layer cannot load."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.test_cli import clean_env, run_cli

HOTLINE = [sys.executable, "-m", "hotline.cli"]


async def test_each_line_is_answered_before_the_next_is_written(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *HOTLINE, "screen", env=clean_env(), cwd=tmp_path,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for text, crisis in (("我想死", True), ("今天午餐吃什麼", False)):
            proc.stdin.write(text.encode() + b"\n")
            await proc.stdin.drain()
            answer = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
            assert (answer["risk"] in ("elevated", "imminent")) is crisis, (text, answer)
        proc.stdin.close()
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_input_is_utf8_under_a_non_utf8_locale(tmp_path: Path) -> None:
    env = clean_env(LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONIOENCODING="ascii")
    code, out, err = await run_cli("screen", "--lexicon-only", env=env, stdin="想死\n".encode(), cwd=tmp_path)
    assert code == 0, err
    assert json.loads(out)["risk"] in ("elevated", "imminent")


async def test_without_the_learned_layer_the_lexicon_screens_and_stderr_says_so(tmp_path: Path) -> None:
    env = clean_env(HOTLINE_SCREENING__HEAD_FILE=str(tmp_path / "missing-head.npz"))
    code, out, err = await run_cli("screen", env=env, stdin="我想死\n你好\n".encode(), cwd=tmp_path)
    assert code == 0
    assert "lexicon alone" in err and "missing-head.npz" in err and err.count("\n") == 1
    risks = [json.loads(line)["risk"] for line in out.splitlines()]
    assert risks[0] in ("elevated", "imminent") and risks[1] == "none"


async def test_lexicon_only_asks_nothing_of_the_learned_layer(tmp_path: Path) -> None:
    env = clean_env(HOTLINE_SCREENING__HEAD_FILE=str(tmp_path / "missing-head.npz"))
    code, out, err = await run_cli("screen", "--lexicon-only", env=env, stdin=b"hello\n", cwd=tmp_path)
    assert (code, err) == (0, "")
    assert json.loads(out) == {"risk": "none", "cues": []}
