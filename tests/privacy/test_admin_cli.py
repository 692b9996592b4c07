"""``keys rotate``, ``purge`` and ``audit`` as an operator runs them: real processes, real exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from hotline.crypto import Vault
from hotline.privacy.audit import reveal_identity
from hotline.storage.models import Message
from hotline.storage.repo import Store
from tests.privacy.support import KEY_A, KEY_B, make_case, make_store
from tests.test_cli import clean_env
from tests.tests_support import SUPERVISOR

ADMIN = ("-m", "hotline.privacy.admin_cli")
LONG_AGO = datetime(2001, 3, 1, 10, tzinfo=UTC)


async def run_admin(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """Until cli.py calls register(), the commands run as ``python -m hotline.privacy.admin_cli``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *ADMIN, *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_keys_rotate_purge_and_audit(sqlite_url: str, tmp_path: Path) -> None:
    store = await make_store(sqlite_url, Vault(KEY_A))
    code = await make_case(store, 4001, ("很久以前的事",), now=LONG_AGO, closed_at=LONG_AGO)
    await make_case(store, 4002, ("最近的事",))
    await store.close()
    base = clean_env(HOTLINE_DATABASE_URL=sqlite_url)

    rc, out, err = await run_admin("keys", "rotate", env=base, cwd=tmp_path)
    assert rc == 2 and "HOTLINE_SECRET_KEY" in err and out == ""

    forgot_old = {**base, "HOTLINE_SECRET_KEY": KEY_B}
    rc, out, err = await run_admin("keys", "rotate", env=forgot_old, cwd=tmp_path)
    assert rc == 1 and "still on old keys" in err and "the old key must stay configured" in err

    rotating = {**forgot_old, "HOTLINE_OLD_SECRET_KEYS": json.dumps([KEY_A])}
    rc, out, err = await run_admin("keys", "rotate", "--batch-size", "1", env=rotating, cwd=tmp_path)
    assert rc == 0, err
    assert "nothing is left on old keys" in out and "2 pseudonyms renewed" in out
    assert "messages.content_enc: 2 re-encrypted" in err

    rc, out, err = await run_admin("purge", env={**base, "HOTLINE_SECRET_KEY": KEY_B}, cwd=tmp_path)
    assert rc == 0, err
    assert "purged: 1 messages" in out and "1 contacts erased" in out and "很久" not in out

    after = Store(sqlite_url, Vault(KEY_B))
    try:
        async with after.unit() as s:
            texts = [
                after.open(b) if b else None for b in (await s.scalars(select(Message.content_enc))).all()
            ]
            denied = await reveal_identity(
                s, after.vault, requester_id=SUPERVISOR, case_code=code, reason="法院調閱", now=LONG_AGO
            )
        assert texts == [None, "最近的事"] and denied.__class__.__name__ == "Refused"
    finally:
        await after.close()

    env = {**base, "HOTLINE_SECRET_KEY": KEY_B}
    rc, out, err = await run_admin("audit", "--case", code.lower(), "--json", env=env, cwd=tmp_path)
    assert rc == 0, err
    [entry] = json.loads(out)
    assert entry["action"] == "access_denied" and entry["case"] == code and entry["reason"] == "法院調閱"
    assert entry["actor"] == f"supervisor:{SUPERVISOR}"
    rc, out, _ = await run_admin("audit", "--case", code, env=env, cwd=tmp_path)
    assert rc == 0 and "access_denied" in out and "法院調閱" in out
    rc, out, err = await run_admin("audit", "--case", "HL-ZZZZZZ", env=env, cwd=tmp_path)
    assert rc == 1 and "no case HL-ZZZZZZ" in err


async def test_export_for_legal_process_is_recorded_and_shows_identity_only_when_asked(
    sqlite_url: str, tmp_path: Path
) -> None:
    raw = b"From: w@x.example\r\nSubject: =?utf-8?b?5Y+D6ICD?=\r\n\r\nmail body words\r\n"
    store = await make_store(sqlite_url, Vault(KEY_A))
    code = await make_case(store, 4101, ("想談談工作壓力", "主管一直罵我"), mail=raw)
    await store.close()
    env = clean_env(HOTLINE_DATABASE_URL=sqlite_url, HOTLINE_SECRET_KEY=KEY_A)
    legal = "臺北地院 115年度訴字第123號調閱函"

    rc, out, err = await run_admin("export", "--case", code, "--reason", legal, env=env, cwd=tmp_path)
    assert rc == 0, err
    document = json.loads(out)
    assert document["case"]["code"] == code
    assert [m["text"] for m in document["messages"]] == ["想談談工作壓力", "主管一直罵我"]
    assert document["mails"][0]["subject"] == "參考" and "mail body words" in document["mails"][0]["text"]
    assert "identity" not in document and "4101" not in out
    assert document["exported"]["reason"] == legal

    rc, out, err = await run_admin(
        "export", "--case", code, "--reason", legal, "--identity", env=env, cwd=tmp_path
    )
    assert rc == 0, err
    assert json.loads(out)["identity"] == {"channel": "telegram", "contact": "4101"}

    rc, out, err = await run_admin("export", "--case", code, "--reason", "  ", env=env, cwd=tmp_path)
    assert rc == 2 and out == "" and "legal reference" in err
    rc, out, err = await run_admin("export", "--case", "HL-ZZZZZZ", "--reason", legal, env=env, cwd=tmp_path)
    assert rc == 1 and out == "" and "no case HL-ZZZZZZ" in err

    rc, out, err = await run_admin("audit", "--case", code, "--json", env=env, cwd=tmp_path)
    exports = [e for e in json.loads(out) if e["action"] == "export"]
    assert [(e["reason"], e["detail"]["identity"]) for e in exports] == [(legal, False), (legal, True)]
    assert all(e["actor"].startswith("cli:") for e in exports)


async def test_the_audit_actor_is_the_os_account_not_what_the_environment_says(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = await make_store(sqlite_url, Vault(KEY_A))
    code = await make_case(store, 4201, ("想談談工作壓力",))
    await store.close()
    account = pwd.getpwuid(os.getuid()).pw_name
    forged = "mallory-not-me"
    env = clean_env(
        HOTLINE_DATABASE_URL=sqlite_url,
        HOTLINE_SECRET_KEY=KEY_A,
        LOGNAME=forged,
        USER=forged,
        USERNAME=forged,
    )
    legal = "臺北地院 115年度訴字第124號調閱函"
    rc, _, err = await run_admin("export", "--case", code, "--reason", legal, env=env, cwd=tmp_path)
    assert rc == 0, err
    rc, _, err = await run_admin(
        "export", "--case", code, "--reason", legal, "--by", "王督導", env=env, cwd=tmp_path
    )
    assert rc == 0, err
    rc, out, err = await run_admin("audit", "--case", code, "--json", env=env, cwd=tmp_path)
    assert rc == 0, err
    actors = [e["actor"] for e in json.loads(out) if e["action"] == "export"]
    assert actors == [f"cli:{account}", f"cli:{account} as 王督導"]
    assert forged not in out
