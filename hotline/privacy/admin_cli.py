"""Operator commands: ``hotline keys rotate``, ``hotline purge``, ``hotline audit --case CODE [--json]``,
``hotline export --case CODE --reason TEXT [--identity]``.

``register(subparsers)`` adds them to the ``hotline`` parser (cli.py); ``python -m
hotline.privacy.admin_cli`` runs them on their own. Each command reads the settings once, applies
migrations, and prints counts only: never content, never a contact identity, except ``export``, whose
purpose is to (docs/privacy.md §4: disclosure under legal process, the legal reference as the reason).
Every run is in the audit trail under ``cli:<login name>``.

Exit codes: 0 done; 1 done with something to look at (values no configured key could decrypt; an
unknown case code); 2 a configuration or database error (one line on stderr, from cli.main).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pwd
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hotline.errors import HotlineError
from hotline.settings import Settings, load_settings

# What the commands need is imported when one runs: building the ``hotline`` command's parser (every
# command, `--help` included) must not load storage and the privacy machinery (issue 12 §3).
if TYPE_CHECKING:
    from hotline.privacy.audit import Actor
    from hotline.privacy.rotate import RotationProgress
    from hotline.storage.repo import Store


def operator(name: str | None = None) -> Actor:
    """Who runs the command, for the audit trail: the OS account of the process's real uid (not
    ``LOGNAME``/``USER``, which anyone can set); a name given with ``--by`` is recorded beside it."""
    uid = os.getuid()
    try:
        account = pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without a passwd entry (some containers)
        account = f"uid {uid}"
    from hotline.privacy.audit import Actor

    given = (name or "").strip()
    return Actor.cli(f"{account} as {given}" if given and given != account else account)


def add_operator_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--by", metavar="NAME", help="your name, recorded in the audit trail beside your OS account"
    )


async def _store(settings: Settings) -> Store:
    from hotline.crypto import Vault
    from hotline.storage import db
    from hotline.storage.repo import Store

    current, older = settings.vault_keys()
    await db.upgrade(settings.database_url)
    return Store(settings.database_url, Vault(current, older))


# ---- keys rotate -----------------------------------------------------------------------------------


async def _rotate(settings: Settings, batch_size: int, actor: Actor) -> int:
    from hotline.privacy.rotate import rotate_keys, stale_counts

    store = await _store(settings)
    try:

        def progress(p: RotationProgress) -> None:
            print(f"{p.column}: {p.rewritten} re-encrypted", file=sys.stderr)

        report = await rotate_keys(store, batch_size=batch_size, progress=progress, actor=actor)
        left = await stale_counts(store)
    finally:
        await store.close()
    print(
        f"key {report.key_id}: {report.total} values re-encrypted, {report.pseudonyms} pseudonyms renewed, "
        f"{report.merged} merged, {report.dropped} pre-consent contacts dropped"
    )
    remaining = sum(left.values())
    if remaining:
        detail = ", ".join(f"{name} {n}" for name, n in left.items() if n)
        print(f"still on old keys: {detail}; the old key must stay configured.", file=sys.stderr)
        return 1
    print("nothing is left on old keys: the old key can be removed from the configuration.")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    return asyncio.run(_rotate(load_settings(), args.batch_size, operator(args.by)))


# ---- purge -----------------------------------------------------------------------------------------


async def _purge(settings: Settings, batch_size: int, actor: Actor) -> int:
    from hotline.privacy.purge import purge

    store = await _store(settings)
    try:
        report = await purge(
            store, settings.retention, now=datetime.now(UTC), batch_size=batch_size, actor=actor
        )
    finally:
        await store.close()
    print(
        f"purged: {report.messages} messages, {report.mails} mails, {report.outbox} outgoing mails, "
        f"{report.thread_keys} thread keys, {report.contacts} contacts erased; "
        f"{report.employees} never-a-case contacts deleted "
        f"({report.cases_past_retention} closed cases past retention)"
    )
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    return asyncio.run(_purge(load_settings(), args.batch_size, operator(args.by)))


# ---- audit -----------------------------------------------------------------------------------------


async def _audit(settings: Settings, code: str) -> list[dict[str, Any]] | None:
    from hotline.privacy.audit import trail
    from hotline.storage import repo

    store = await _store(settings)
    try:
        async with store.unit() as s:
            if await repo.case_by_code(s, code.strip()) is None:
                return None
            return [entry.as_json() for entry in await trail(s, code)]
    finally:
        await store.close()


def cmd_audit(args: argparse.Namespace) -> int:
    rows = asyncio.run(_audit(load_settings(), args.case))
    if rows is None:
        print(f"no case {args.case.strip().upper()}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    for row in rows:
        reason = f"  reason: {row['reason']}" if row["reason"] else ""
        detail = f"  {json.dumps(row['detail'], ensure_ascii=False)}" if row["detail"] else ""
        print(f"{row['at']}  {row['actor']:<20} {row['action']:<16}{reason}{detail}")
    return 0


# ---- export ----------------------------------------------------------------------------------------


async def _export(
    settings: Settings, code: str, reason: str, identity: bool, actor: Actor
) -> dict[str, Any] | None:
    from hotline.privacy.export import export_case

    store = await _store(settings)
    try:
        return await export_case(
            store, code, reason=reason, actor=actor, now=datetime.now(UTC), identity=identity
        )
    finally:
        await store.close()


def cmd_export(args: argparse.Namespace) -> int:
    if not args.reason.strip():
        print("hotline: an export needs a written reason: the legal reference (--reason)", file=sys.stderr)
        return 2
    actor = operator(args.by)
    document = asyncio.run(_export(load_settings(), args.case, args.reason, args.identity, actor))
    if document is None:
        print(f"no case {args.case.strip().upper()}", file=sys.stderr)
        return 1
    json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


# ---- wiring ----------------------------------------------------------------------------------------


def _batch(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def register(subparsers: Any) -> None:
    """Add ``keys rotate``, ``purge``, ``audit`` and ``export`` to the ``hotline`` command's subparsers."""
    keys = subparsers.add_parser("keys", help="encryption keys").add_subparsers(
        dest="keys_command", required=True
    )
    rotate = keys.add_parser("rotate", help="re-encrypt everything under the current key (resumable)")
    rotate.add_argument("--batch-size", type=_batch, default=500, help="rows per transaction")
    add_operator_option(rotate)
    rotate.set_defaults(func=cmd_keys_rotate)

    purge_p = subparsers.add_parser("purge", help="erase content and contacts past retention (daily)")
    purge_p.add_argument("--batch-size", type=_batch, default=500, help="rows per transaction")
    add_operator_option(purge_p)
    purge_p.set_defaults(func=cmd_purge)

    audit = subparsers.add_parser("audit", help="the audit trail of one case")
    audit.add_argument("--case", required=True, metavar="CODE", help="case code, e.g. HL-7KQ2MX")
    audit.add_argument("--json", action="store_true", help="JSON array output")
    audit.set_defaults(func=cmd_audit)

    export = subparsers.add_parser(
        "export", help="one case's record as JSON, for disclosure under legal process (audited)"
    )
    export.add_argument("--case", required=True, metavar="CODE", help="case code, e.g. HL-7KQ2MX")
    export.add_argument("--reason", required=True, help="the legal reference, e.g. a court's letter number")
    export.add_argument("--identity", action="store_true", help="include the employee's contact identity")
    add_operator_option(export)
    export.set_defaults(func=cmd_export)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hotline", description="privacy maintenance commands")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except HotlineError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
