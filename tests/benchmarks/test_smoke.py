"""Every benchmark, run as ``python -m benchmarks NAME ...`` on tiny sizes (a few users, a few mails, one
round): it must finish within its deadline with exit code 0 and print its figures. A benchmark checks its
own counts (every user answered, one acknowledgement per sender, one line out per line in) and raises
when they are wrong; a stalled one stops at ``--deadline`` with exit code 1. No figure is judged here.

The runs start together, a few at a time (most of their time is waiting on servers and on processes
starting), when the first of these tests asks for its result. The screening-quality benchmark reads a
tiny synthetic set (``--file``), never a held-out one.

Loading the learned screening model costs a few CPU seconds a process, and only ``screen`` (its
``[all layers]`` row) and ``screening`` check it: the others run with the lexicon alone
(``HOTLINE_SCREENING__LEARNED=false``; ``line --lexicon-only``), their mechanics being what they smoke.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 150  # seconds, each smoke run (a few seconds to ~30 s each on a loaded machine)
AT_ONCE = 3

SYNTHETIC = """label\tcategory\tlang\tshape\ttext
crisis\tsuicide\tzh\tshort\t我不想活了，今晚就結束一切
crisis\tsuicide\ten\tshort\tI am going to kill myself tonight
distress\tstress\tzh\tshort\t最近工作壓力好大，每天都睡不好
none\tcareer\tzh\tshort\t請問下週的職涯諮詢還有名額嗎
none\tfamily\ten\tshort\tHow do I book a session about my kids?
"""

# name -> (its arguments, a line its figures print); the longest first.
RUNS: dict[str, tuple[list[str], str]] = {
    "workers": (
        ["--chats", "2", "--each", "1", "--workers", "1", "--crises", "2", "--burst-workers", "1"],
        "every limit ON",
    ),
    "mail": (
        ["4", "--rounds", "1", "--learned-rounds", "0", "--startup-rounds", "1"],
        "4 acks received, one per sender",
    ),
    "memory": (["--cases", "5"], "resident bytes / open cases"),
    "telegram": (["--users", "3", "--crises", "2", "--rounds", "1"], "every limit ON"),
    "line": (["--users", "3", "--rounds", "1", "--lexicon-only"], "ratio"),
    "screen": (
        ["--lines", "200", "--repeat", "1", "--learned-lines", "20"],
        "[all layers] 20 distinct lines",
    ),
    "screening": (["--file", "{tmp}/synthetic.tsv"], "goal (both)"),  # waits on no service: no deadline
}
WITH_LEARNED = {"screen", "screening"}  # the learned layer is what these check


def _run(name: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    args = [a.format(tmp=tmp) for a in RUNS[name][0]]
    if name != "screening":
        args += ["--deadline", str(DEADLINE)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    if name not in WITH_LEARNED:
        env["HOTLINE_SCREENING__LEARNED"] = "false"
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", name, *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=DEADLINE + 45, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Future[subprocess.CompletedProcess[str]]]]:
    tmp = tmp_path_factory.mktemp("smoke")
    (tmp / "synthetic.tsv").write_text(SYNTHETIC, encoding="utf-8")
    with ThreadPoolExecutor(AT_ONCE) as pool:
        yield {name: pool.submit(_run, name, tmp) for name in RUNS}


@pytest.mark.timeout(3 * (DEADLINE + 60))
@pytest.mark.parametrize("name", list(RUNS))
def test_each_benchmark_runs_on_tiny_sizes(
    name: str, runs: dict[str, Future[subprocess.CompletedProcess[str]]]
) -> None:
    done = runs[name].result()
    said = (
        f"{' '.join(done.args[2:])} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    assert done.returncode == 0, said
    assert RUNS[name][1] in done.stdout, said
