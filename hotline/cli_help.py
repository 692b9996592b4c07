"""Help and errors of the ``hotline`` command: every command's ``--help`` gives its one-line purpose and
an example; a mistyped command, option or value gets one sentence naming the closest valid choice.

    parser = HelpfulParser(prog="hotline", ...)   # subcommands inherit the class
    ...                                           # add the subcommands
    explain(parser)                               # purposes and examples on every command
    args = parse(parser, argv)                    # exits 2 with one line on any mistake
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Any, NoReturn

PURPOSE = "hotline: the help line of an Employee Assistance Programme (Telegram and anonymous e-mail)."

# One example per command, by its path under ``hotline``. A command without one fails tests/test_cli_help.py.
EXAMPLES: dict[str, str] = {
    "": "hotline demo            # the whole service on the built-in sandbox, no token needed",
    "run": "HOTLINE_SECRET_KEY=... HOTLINE_TELEGRAM_TOKEN=... hotline run",
    "screen": "echo '最近工作壓力好大，睡不著' | hotline screen",
    "mail": "hotline mail poll --once",
    "mail poll": "hotline mail poll --once     # from cron or a systemd timer, every few minutes",
    "cases": "hotline cases --json",
    "db": "hotline db upgrade",
    "db upgrade": "HOTLINE_DATABASE_URL=postgresql+asyncpg://hotline@db/hotline hotline db upgrade",
    "keys": "hotline keys rotate",
    "keys rotate": "HOTLINE_OLD_SECRET_KEYS=<old key> HOTLINE_SECRET_KEY=<new key> hotline keys rotate",
    "purge": "hotline purge              # daily, from cron or a systemd timer",
    "audit": "hotline audit --case HL-7KQ2MX --json",
    "export": "hotline export --case HL-7KQ2MX --reason 'court letter 2026-0421' --identity",
    "demo": "hotline demo --fast",
    "report": "hotline report --from 2026-01-01 --to 2026-12-31 --format html --out reports/",
}


_REQUIRED = "the following arguments are required: "
_ARGV: ContextVar[Sequence[str]] = ContextVar("hotline_argv", default=())


class HelpfulParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr with the closest valid choice."""

    def error(self, message: str) -> NoReturn:
        message = message.rstrip(".")
        typo = self._typo(_ARGV.get())
        if message.startswith(_REQUIRED) and typo is not None:  # a required option, misspelt
            message = f"unknown option {typo[0]!r}; did you mean {typo[1]!r}?"
        elif message.startswith(_REQUIRED):
            message = "missing " + message.removeprefix(_REQUIRED)
            names = [name for name, _purpose, _sub in commands(self, depth=1)]
            if "COMMAND" in message and names:
                message += f"; choose from {', '.join(names)}"
        end = "" if message.endswith("?") else "."
        self.exit(2, f"{self.prog}: {message}{end} See '{self.prog} --help'.\n")

    def _typo(self, argv: Sequence[str]) -> tuple[str, str] | None:
        """(word, option) for the first word of ``argv`` that is no option of this command but is
        close to one."""
        options = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
        for word in argv:
            word = word.split("=", 1)[0]
            if word.startswith("--") and not any(o.startswith(word) for o in options):
                match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
                if match:
                    return word, match[0]
        return None

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is None or value in choices:
            return
        names = [str(choice) for choice in choices]
        if isinstance(action, argparse._SubParsersAction):
            what = "command"
        else:
            what = f"{'/'.join(action.option_strings) or action.dest} value"
        raise argparse.ArgumentError(None, f"unknown {what} {value!r}; {closest(str(value), names)}")


def closest(wrong: str, valid: Sequence[str]) -> str:
    """'did you mean X?' for the nearest valid choice, else the list of choices."""
    match = difflib.get_close_matches(wrong, valid, n=1, cutoff=0.5)
    if match:
        return f"did you mean {match[0]!r}?"
    return "choose from " + ", ".join(valid)


def commands(
    parser: argparse.ArgumentParser, path: str = "", depth: int = 99
) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(path, one-line purpose, parser) of every command below ``parser`` (``depth`` levels), depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for pseudo in action._choices_actions:
                sub = action.choices[pseudo.dest]
                name = f"{path} {pseudo.dest}".strip()
                yield name, pseudo.help or "", sub
                if depth > 1:
                    yield from commands(sub, name, depth - 1)


def explain(parser: argparse.ArgumentParser) -> None:
    """Give every command its purpose (its help line) and its example, shown by ``--help``."""
    parser.description = PURPOSE
    parser.epilog = _example("")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    for action in _subcommand_actions(parser):
        action.metavar = action.metavar or "COMMAND"
    for path, purpose, sub in commands(parser):
        sub.description = f"{purpose[:1].upper()}{purpose[1:]}." if purpose else None
        sub.epilog = _example(path)
        sub.formatter_class = argparse.RawDescriptionHelpFormatter


def _subcommand_actions(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield action
            for sub in action.choices.values():
                yield from _subcommand_actions(sub)


def _example(path: str) -> str | None:
    example = EXAMPLES.get(path)
    return f"example:\n  {example}" if example else None


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, but an unknown option is named with the closest option of the
    command it was given to."""
    _ARGV.set(list(sys.argv[1:] if argv is None else argv))
    args, extras = parser.parse_known_args(argv)
    if extras:
        command = _chosen(parser, args)
        options = sorted(
            {o for a in command._actions for o in a.option_strings if o.startswith("--") and o != "--help"}
        )
        wrong = next((e for e in extras if e.startswith("-")), extras[0])
        if wrong.startswith("-"):
            command.error(f"unknown option {wrong!r}; {closest(wrong.split('=', 1)[0], options)}")
        command.error(f"unexpected argument {wrong!r}")
    return args


def _chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)command parser that ``args`` were parsed with: the deepest one chosen."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            name = getattr(args, action.dest, None)
            if name in action.choices:
                return _chosen(action.choices[name], args)
    return parser
