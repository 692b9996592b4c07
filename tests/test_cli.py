"""The `hotline` command as an operator uses it: real processes, real exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from hotline.sandbox import TelegramEmulator
from hotline.sandbox.stage import DEMO_SECRET, Stage
from hotline.settings import DEFAULT_CONFIG_DIR
from hotline.storage import db
from tests.tests_support import consent_and_area

HOTLINE = [sys.executable, "-m", "hotline.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(extra)
    return env


async def run_cli(
    *args: str, env: dict[str, str], stdin: bytes | None = None, cwd: Path | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *HOTLINE, *args, env=env, cwd=cwd,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_run_without_any_channel_says_how_to_configure(tmp_path: Path) -> None:
    code, out, err = await run_cli("run", env=clean_env(), cwd=tmp_path)
    assert code == 2 and out == ""
    assert "@BotFather" in err and "make demo" in err and err.count("\n") == 1
    code, _, err = await run_cli("run", env=clean_env(HOTLINE_CONFIG=str(tmp_path / "none.toml")))
    assert code == 2 and "does not exist" in err and err.count("\n") == 1
    code, _, err = await run_cli("run", env=clean_env(HOTLINE_TELEGRAM_TOKEN="1:x"), cwd=tmp_path)
    assert code == 2 and "HOTLINE_SECRET_KEY" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("toml", "env", "names"),
    [
        ('[[counselors]]\ntelegram_id = 1\nname = "A"\nrole = "admin"\n', {}, "counselors[0].role"),
        ("", {"HOTLINE_TELEGRAM_API_URL": "not a url"}, "HOTLINE_TELEGRAM_API_URL"),
        ("", {"HOTLINE_SECRET_KEY": "short"}, "HOTLINE_SECRET_KEY"),
        ("[crisis]\nack_timeout_seconds = -5\n", {}, "crisis.ack_timeout_seconds"),
        ("[crisis\n", {}, "not valid TOML"),
        ("colour = 1\n", {}, "colour"),
    ],
)
async def test_a_wrong_setting_stops_start_up_with_one_sentence(
    tmp_path: Path, toml: str, env: dict[str, str], names: str
) -> None:
    config = tmp_path / "hotline.toml"
    config.write_text(toml, encoding="utf-8")
    code, _, err = await run_cli("run", env=clean_env(HOTLINE_CONFIG=str(config), **env))
    assert code == 2
    assert names in err and err.count("\n") == 1 and "Traceback" not in err


async def test_db_upgrade_and_cases_json(stage: Stage, sqlite_url: str) -> None:
    mei = stage.emu.user(5001, "小美", username="mei")
    await consent_and_area(stage, mei, "area:legal")
    await stage.say(mei, "車禍理賠的問題", containing="案件代號")
    env = clean_env(HOTLINE_DATABASE_URL=sqlite_url)
    code, out, _ = await run_cli("db", "upgrade", env=env)
    assert code == 0 and "up to date" in out
    code, out, err = await run_cli("cases", "--json", env=env)
    assert code == 0, err
    [case] = json.loads(out)
    assert case["channel"] == "telegram" and case["status"] == "waiting" and case["category"] == "legal"
    assert case["risk"] == "none" and case["message_count"] == 1 and case["reply_due_at"] is None
    assert case["other_sender_mails"] == 0
    assert case["opened_at"].endswith("+00:00") and case["code"].startswith("HL-")
    assert "車禍" not in out and "mei" not in out and "5001" not in out


async def test_cases_json_never_creates_or_migrates_the_database(tmp_path: Path) -> None:
    """A read command does not write: a missing or outdated database is one sentence and exit 2."""
    path = tmp_path / "hotline.db"
    env = clean_env(HOTLINE_DATABASE_URL=f"sqlite+aiosqlite:///{path}")
    code, out, err = await run_cli("cases", "--json", env=env, cwd=tmp_path)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "does not exist" in err and "run hotline db upgrade" in err
    assert list(tmp_path.iterdir()) == [], "nothing was created"

    db.upgrade_sync(f"sqlite+aiosqlite:///{path}", "0007")  # as left by the previous release
    code, out, err = await run_cli("cases", "--json", env=env, cwd=tmp_path)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "0007" in err and db.head_revision() in err and "run hotline db upgrade" in err
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0007",)]

    code, out, err = await run_cli("db", "upgrade", env=env, cwd=tmp_path)
    assert code == 0, err
    code, out, err = await run_cli("cases", "--json", env=env, cwd=tmp_path)
    assert code == 0 and json.loads(out) == [], err


async def test_run_polls_and_stops_cleanly_on_sigterm(emu: TelegramEmulator, tmp_path: Path) -> None:
    env = clean_env(
        HOTLINE_TELEGRAM_TOKEN=emu.token,
        HOTLINE_TELEGRAM_API_URL=emu.api_url,
        HOTLINE_SECRET_KEY=DEMO_SECRET,
        HOTLINE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
    )
    proc = await asyncio.create_subprocess_exec(
        *HOTLINE, "run", env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        await emu.wait_polling(timeout=30)
        mei = emu.user(5002, "小美")
        update = await emu.send_text(mei, "/start")
        reply = await emu.wait_for_reply(mei, since=update, timeout=15)
        assert "7858" in (reply.text or "")
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    log = err.decode()
    assert "stopped cleanly" in log
    assert emu.token not in log, "the bot token must never reach the logs"


async def test_an_unreachable_database_is_one_clear_line_without_the_password(tmp_path: Path) -> None:
    env = clean_env(
        HOTLINE_TELEGRAM_TOKEN="1:x",
        HOTLINE_SECRET_KEY=DEMO_SECRET,
        HOTLINE_DATABASE_URL="postgresql+asyncpg://postgres:hunter2-secret@127.0.0.1:1/nope",
    )
    code, out, err = await run_cli("run", env=env, cwd=tmp_path)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "cannot reach or open the database" in err and "hunter2-secret" not in err, err
    env["HOTLINE_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/h.db"
    code, _, err = await run_cli("cases", "--json", env=env, cwd=tmp_path)
    assert code == 2 and "cannot reach or open the database" in err and err.count("\n") == 1, err


async def test_a_refused_token_or_an_unreachable_bot_api_is_one_clear_line(
    emu: TelegramEmulator, tmp_path: Path
) -> None:
    env = clean_env(
        HOTLINE_TELEGRAM_TOKEN="999:WRONG-token-for-this-bot",
        HOTLINE_TELEGRAM_API_URL=emu.api_url,
        HOTLINE_SECRET_KEY=DEMO_SECRET,
        HOTLINE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'h.db'}",
    )
    code, out, err = await run_cli("run", env=env, cwd=tmp_path)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "refused the bot token" in err and "@BotFather" in err and "WRONG-token" not in err
    env["HOTLINE_TELEGRAM_API_URL"] = "http://127.0.0.1:1"
    code, _, err = await run_cli("run", env=env, cwd=tmp_path)
    assert code == 2 and "cannot reach the Telegram Bot API" in err and err.count("\n") == 1, err


async def test_a_broken_lexicon_is_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    for messages in DEFAULT_CONFIG_DIR.glob("messages*.toml"):
        (config / messages.name).write_bytes(messages.read_bytes())
    (config / "crisis_lexicon.toml").write_text(
        '[[entry]]\nid = "x"\nrole = "intent"\npatterns = ["a"]\n', "utf-8"
    )
    code, out, err = await run_cli(
        "screen", env=clean_env(HOTLINE_CONFIG_DIR=str(config)), stdin=b"hi\n", cwd=tmp_path
    )
    assert code == 2 and out == "" and err.count("\n") == 1 and "crisis lexicon" in err
