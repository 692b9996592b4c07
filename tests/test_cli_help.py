"""`hotline --help` and every command's `--help`: a one-line purpose and an example that parses; a
mistyped command, option or value: one line naming the closest valid choice, exit 2."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

from hotline.cli import build_parser, main
from hotline.cli_help import EXAMPLES, PURPOSE, commands, parse

PATHS = ["", *(path for path, _purpose, _parser in commands(build_parser()))]


def example_argv(example: str) -> list[str]:
    """The arguments after `hotline` in an example line (environment assignments and comments off)."""
    words = shlex.split(example.split("|")[-1], comments=True)
    return words[words.index("hotline") + 1 :]


def help_of(path: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*path.split(), "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_every_command_is_listed_and_has_an_example() -> None:
    assert {"run", "screen", "mail poll", "cases", "db upgrade", "demo", "report"} <= set(PATHS)
    assert sorted(p for p in PATHS if p not in EXAMPLES) == [], "add an example to hotline/cli_help.py"


@pytest.mark.parametrize("path", PATHS)
def test_help_gives_a_one_line_purpose_and_an_example_that_parses(
    path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_of(path, capsys)
    purpose = dict((p, h) for p, h, _parser in commands(build_parser())).get(path, PURPOSE)
    assert purpose, f"`hotline {path}` needs a help line"
    description = text.split("\n\n")[1]
    assert "\n" not in description and description.lower().startswith(purpose[:20].lower())
    assert f"example:\n  {EXAMPLES[path]}" in text
    argv = example_argv(EXAMPLES[path])
    assert " ".join(argv).startswith(path), "the example shows this very command"
    parse(build_parser(), argv)  # the example is a valid command line


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["rnu"], "hotline: unknown command 'rnu'; did you mean 'run'?"),
        (["dmeo", "--fast"], "did you mean 'demo'?"),
        (["mail", "pol", "--once"], "hotline mail: unknown command 'pol'; did you mean 'poll'?"),
        (["cases", "--jsn"], "hotline cases: unknown option '--jsn'; did you mean '--json'?"),
        (["demo", "--fats"], "hotline demo: unknown option '--fats'; did you mean '--fast'?"),
        (["report", "--from", "2026-01-01", "--to", "2026-12-31", "--format", "htm"], "did you mean 'html'?"),
        (["audit", "--case", "HL-7KQ2MX", "--jsno"], "did you mean '--json'?"),
        (["cases", "--xyzzy"], "unknown option '--xyzzy'; choose from --json."),
        (["cases", "stray"], "hotline cases: unexpected argument 'stray'."),
        ([], "hotline: missing COMMAND; choose from run, screen, mail,"),
        (["mail"], "hotline mail: missing COMMAND; choose from poll."),
        (["audit"], "hotline audit: missing --case."),
    ],
)
def test_a_mistake_gets_one_line_with_the_closest_choice(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert says in captured.err and captured.err.count("\n") == 1 and "usage:" not in captured.err
    assert captured.err.rstrip().endswith("--help'.")


def test_the_installed_command_answers_a_typo_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hotline.cli", "mail", "poll", "--onec"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        "hotline mail poll: unknown option '--onec'; did you mean '--once'? See 'hotline mail poll --help'.\n"
    )
