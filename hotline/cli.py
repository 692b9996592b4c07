"""The ``hotline`` command (DESIGN §3): run, screen, mail poll, cases, db upgrade, demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import cast

from hotline.cli_help import HelpfulParser, explain, parse
from hotline.errors import HotlineError
from hotline.settings import Settings
from hotline.settings import load_settings as _load_settings

log = logging.getLogger("hotline")

NOTHING_CONFIGURED = (
    "hotline has no channel configured: set HOTLINE_TELEGRAM_TOKEN to a bot token from @BotFather "
    "(https://t.me/BotFather, command /newbot), HOTLINE_LINE_CHANNEL_SECRET and "
    "HOTLINE_LINE_CHANNEL_ACCESS_TOKEN for LINE, or HOTLINE_IMAP_HOST and friends for the e-mail station; "
    "`make demo` shows the service without either."
)

SMTP_NOT_CONFIGURED = (
    "hotline: SMTP is not configured (HOTLINE_SMTP_HOST), so no mail was sent: acknowledgements are "
    "queued and will be sent once SMTP is configured."
)


def load_settings() -> Settings:
    """The settings, with every configured secret masked in all log output from here on."""
    from hotline.privacy import redact

    settings = _load_settings()
    secrets = [
        settings.secret_key,
        settings.telegram_token,
        settings.imap_password,
        settings.smtp_password,
        settings.telegram_webhook_secret,
        *settings.old_secret_keys,
    ]
    redact.install(s.get_secret_value() for s in secrets if s is not None)
    return settings


def configure_logging(verbose: bool = False, quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The Bot API URL contains the token: never let the HTTP client log requests (DESIGN §5b).
    for noisy in ("httpx", "httpcore", "telegram", "apscheduler", "aiosqlite", "alembic", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def _run(settings: Settings) -> None:
    from hotline.app import Service

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Service(settings):
        await stop.wait()
        log.info("stopping")
    log.info("stopped cleanly")


def cmd_run(_args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.telegram_enabled and not settings.mail_enabled and not settings.line_enabled:
        print(NOTHING_CONFIGURED, file=sys.stderr)
        return 2
    settings.require_secret_key()
    asyncio.run(_run(settings))
    return 0


def cmd_screen(args: argparse.Namespace) -> int:
    import io

    from hotline.screen_command import run_screen
    from hotline.screening_loader import load_lexicon

    settings = load_settings()
    lexicon = load_lexicon(settings)
    learned = None
    if not args.lexicon_only:
        from hotline.learned_loader import HEAD_FILE, LearnedUnavailable, load_learned

        try:
            learned = load_learned(settings.screening.head_file or HEAD_FILE)
        except LearnedUnavailable as exc:
            print(f"hotline screen: screening with the lexicon alone, because {exc}.", file=sys.stderr)
    # UTF-8 both ways, whatever the locale says.
    stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", errors="surrogateescape", newline="\n")
    stdin = cast(io.BufferedReader, sys.stdin.buffer)  # has read1 (a pipe, a file or a terminal)
    try:
        return run_screen(stdin, stdout, lexicon, learned)
    finally:
        stdout.flush()  # before the command's quick exit (`entry`); sys.stdout stays open
        stdout.detach()


async def _cases(settings: Settings) -> list[dict[str, object]]:
    from hotline.storage.queries import case_summaries

    return await case_summaries(settings.database_url)  # read-only: never creates or migrates


def cmd_cases(args: argparse.Namespace) -> int:
    settings = load_settings()
    rows = asyncio.run(_cases(settings))
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        for row in rows:
            print(
                f"{row['code']}  {row['channel']:<8} {row['status']:<8} {row['risk']:<9} {row['opened_at']}"
            )
    return 0


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    from hotline.storage import db

    settings = load_settings()
    db.upgrade_sync(settings.database_url)
    print("database is up to date")
    return 0


def cmd_mail_poll(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.mail_enabled:
        print(
            "mail is not configured: set HOTLINE_IMAP_HOST (and _USER, _PASSWORD) to poll an inbox.",
            file=sys.stderr,
        )
        return 2
    from hotline.app import mail_poll_once

    fetched, sent = asyncio.run(mail_poll_once(settings))
    log.info("mail poll: %d new mails stored, %d mails sent", fetched, sent)
    if settings.smtp_host is None:
        print(SMTP_NOT_CONFIGURED, file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from hotline.demo import run_demo

    return asyncio.run(run_demo(fast=args.fast))


def build_parser() -> argparse.ArgumentParser:
    parser = HelpfulParser(prog="hotline")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="run the service (Telegram polling, mail, timers)").set_defaults(func=cmd_run)
    screen = sub.add_parser("screen", help="screen stdin lines for crisis cues, JSON lines out")
    screen.add_argument(
        "--lexicon-only", action="store_true", help="the lexicon alone, without the learned layer (bulk work)"
    )
    screen.set_defaults(func=cmd_screen)
    mail = sub.add_parser("mail", help="the e-mail station").add_subparsers(
        dest="mail_command", required=True
    )
    poll = mail.add_parser("poll", help="fetch new mail, open or extend cases, acknowledge")
    poll.add_argument("--once", action="store_true", required=True, help="poll once and exit")
    poll.set_defaults(func=cmd_mail_poll)
    cases = sub.add_parser("cases", help="list cases (no content, no identities)")
    cases.add_argument("--json", action="store_true", help="JSON array output")
    cases.set_defaults(func=cmd_cases)
    dbp = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    dbp.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)
    from hotline.privacy.admin_cli import register as register_admin

    register_admin(sub)
    demo = sub.add_parser(
        "demo", help="both channels on the built-in sandbox: a Telegram chat, the e-mail station"
    )
    demo.add_argument("--fast", action="store_true", help="no pauses between steps")
    demo.set_defaults(func=cmd_demo)
    from hotline.report.cli import register as register_report  # issue 7

    register_report(sub)
    explain(parser)  # every command's purpose and example in its --help
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(build_parser(), argv)
    # Only the long-running service logs at INFO; one-shot commands print their result and errors only.
    configure_logging(args.verbose, quiet=args.command != "run")
    try:
        code: int = args.func(args)
    except HotlineError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


def entry() -> None:  # pragma: no cover - the installed command; tests run it as a process
    """The ``hotline`` command: :func:`main`, then an exit without the interpreter's teardown.

    Freeing every object of a process that has loaded the service (SQLAlchemy, pydantic, the lexicon,
    the encoder) costs about half a second, on every command (issue 12 §3). Everything the command
    does is finished when ``main`` returns (its event loop closed, the database disposed), so the
    logs, stdout and stderr are flushed and the process ends at once. Under coverage (the test
    suite's subprocesses) the ordinary exit stays, so that the coverage data is written."""
    try:
        code = main()
    except SystemExit as exc:  # argparse: --help, or a usage error (its message already printed)
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    if "coverage" in sys.modules:
        sys.exit(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: what could not be written is lost either way
            code = code or 1
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
