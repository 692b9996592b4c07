"""The benchmarks' overall deadline (benchmarks/deadline.py): a stalled service fails the run with one
sentence naming what is stuck, and exit code 1, instead of hanging it."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import deadline
from benchmarks.deadline import Stuck, guarded, run_async, run_sync
from benchmarks.line_echo_baseline import drive_first_messages
from hotline.sandbox import LineEmulator
from tests.servers.dovecot import free_port


async def test_a_stalled_wait_fails_with_one_sentence_naming_the_step_progress_and_last_log_lines() -> None:
    async def stalls() -> None:
        deadline.doing("hotline, round 2 of 3", lambda: "12 of 300 users got no reply")
        logging.getLogger("hotline.line.inbox").error("could not mark 3 LINE events done")
        await asyncio.Event().wait()

    with pytest.raises(Stuck) as stuck:
        await run_async("LINE benchmark", 0.2, stalls())
    sentence = str(stuck.value)
    assert sentence.startswith("LINE benchmark stuck at hotline, round 2 of 3: 12 of 300 users got no reply")
    assert "could not mark 3 LINE events done" in sentence and "\n" not in sentence
    deadline.doing("after the run")  # nothing is watched any more: no effect, no error


async def test_a_benchmark_that_finishes_returns_its_result() -> None:
    async def quick() -> int:
        deadline.doing("a quick step")
        return 42

    assert await run_async("quick benchmark", 30, quick()) == 42


async def test_the_line_harness_says_how_many_users_got_no_reply() -> None:
    """The LINE emulator delivers to a webhook nobody serves: no user is ever answered."""
    async with LineEmulator(webhook_url=f"http://127.0.0.1:{free_port()}/callback") as emu:
        with pytest.raises(Stuck, match="3 of 3 users got no reply"):
            await run_async("LINE benchmark", 1.0, drive_first_messages(emu, 3, texts=["你好", "在嗎", "hi"]))


def test_a_blocked_subprocess_is_interrupted_and_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"

    def waits_on_a_child() -> None:
        deadline.doing("hotline mail poll --once")
        subprocess.run([sys.executable, "-c", child], check=True)

    with pytest.raises(Stuck, match=r"^mail benchmark stuck at hotline mail poll --once, still unfinished"):
        run_sync("mail benchmark", 5.0, waits_on_a_child)  # the child starts well within
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped
    assert run_sync("quick benchmark", 30, lambda: "done") == "done"


def test_guarded_prints_the_sentence_on_stderr_and_returns_1(capsys: pytest.CaptureFixture[str]) -> None:
    def stuck() -> None:
        raise Stuck("LINE benchmark stuck at hotline, round 1 of 3: 5 of 300 users got no reply")

    assert guarded(stuck) == 1
    assert (
        capsys.readouterr().err
        == "LINE benchmark stuck at hotline, round 1 of 3: 5 of 300 users got no reply\n"
    )
    assert guarded(lambda: None) == 0
