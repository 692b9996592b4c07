"""Settings: TOML file, environment overrides, one-sentence errors."""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hotline.domain import Role
from hotline.errors import ConfigError
from hotline.settings import DEFAULT_CONFIG_DIR, load_settings
from hotline.texts import Texts

ROSTER_ONLY = """
[[counselors]]
telegram_id = 9001
name = "王心理師"
role = "counselor"

[[counselors]]
telegram_id = 9100
name = "林督導"
role = "supervisor"
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("HOTLINE_"):
            monkeypatch.delenv(name)
    path = tmp_path / "hotline.toml"
    path.write_text("", encoding="utf-8")
    monkeypatch.setenv("HOTLINE_CONFIG", str(path))
    return path


def test_a_file_with_only_the_roster_works(config: Path) -> None:
    config.write_text(ROSTER_ONLY, encoding="utf-8")
    settings = load_settings()
    assert [c.name for c in settings.counselors] == ["王心理師", "林督導"]
    assert settings.role_of(9100) is Role.SUPERVISOR and settings.role_of(1) is None
    assert settings.crisis.ack_timeout_seconds == 300 and settings.email.reply_days == 3
    assert settings.database_url == "sqlite+aiosqlite:///hotline.db"
    assert not settings.telegram_enabled and not settings.mail_enabled


def test_environment_wins_over_the_file(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config.write_text(ROSTER_ONLY + "\n[crisis]\nack_timeout_seconds = 120\n", encoding="utf-8")
    monkeypatch.setenv("HOTLINE_CRISIS__ACK_TIMEOUT_SECONDS", "30")
    monkeypatch.setenv("HOTLINE_TELEGRAM_TOKEN", "123:abc")
    monkeypatch.setenv("HOTLINE_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    settings = load_settings()
    assert settings.crisis.ack_timeout_seconds == 30
    assert settings.telegram_enabled and settings.database_url.startswith("postgresql")
    assert "123:abc" not in repr(settings), "secrets are not shown in reprs"


def test_duplicate_roster_entries_are_refused(config: Path) -> None:
    config.write_text(ROSTER_ONLY + ROSTER_ONLY, encoding="utf-8")
    with pytest.raises(ConfigError, match="appears twice"):
        load_settings()


def test_secret_values_are_not_echoed(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_SECRET_KEY", "tooshort-secret")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "tooshort-secret" not in str(info.value) and "HOTLINE_SECRET_KEY" in str(info.value)


def test_missing_secret_key_is_explained(config: Path) -> None:
    with pytest.raises(ConfigError, match="HOTLINE_SECRET_KEY is not set"):
        load_settings().require_secret_key()


def test_hours_must_make_sense(config: Path) -> None:
    config.write_text("[hours]\nopens = 18:00:00\ncloses = 09:00:00\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="opens must be earlier"):
        load_settings()
    config.write_text('[hours]\ntimezone = "Mars/Olympus"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown time zone"):
        load_settings()


def test_the_reply_budget_is_a_number_of_milliseconds(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().screening.reply_budget_ms == 300
    config.write_text("[screening]\nreply_budget_ms = 0\n", encoding="utf-8")
    assert load_settings().screening.reply_budget_ms == 0, "0: the reply never waits"
    monkeypatch.setenv("HOTLINE_SCREENING__REPLY_BUDGET_MS", "150")
    assert load_settings().screening.reply_budget_ms == 150
    for wrong in ("-1", "soon", "0.5", "true"):
        monkeypatch.setenv("HOTLINE_SCREENING__REPLY_BUDGET_MS", wrong)
        with pytest.raises(ConfigError, match=r"screening\.reply_budget_ms"):
            load_settings()
    monkeypatch.delenv("HOTLINE_SCREENING__REPLY_BUDGET_MS")
    config.write_text("[screening]\nreply_budget_ms = true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not true/false"):
        load_settings()


def test_booking_reminder_leads_and_office_phone(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17: reminder leads have defaults and can be changed; a phone without a digit is refused."""
    assert load_settings().booking.remind_leads == (24, 2)
    monkeypatch.setenv("HOTLINE_BOOKING__LATE_REMIND_HOURS_BEFORE", "3")
    monkeypatch.setenv("HOTLINE_BOOKING__OFFICE_PHONE", " 03-332-2101 ")
    settings = load_settings()
    assert settings.booking.remind_leads == (24, 3) and settings.booking.office_phone == "03-332-2101"
    monkeypatch.setenv("HOTLINE_BOOKING__LATE_REMIND_HOURS_BEFORE", "24")
    with pytest.raises(ConfigError, match="late_remind_hours_before must be smaller"):
        load_settings()
    monkeypatch.delenv("HOTLINE_BOOKING__LATE_REMIND_HOURS_BEFORE")
    monkeypatch.setenv("HOTLINE_BOOKING__OFFICE_PHONE", "ask HR")
    with pytest.raises(ConfigError, match="office_phone"):
        load_settings()


def test_a_file_beside_the_settings_file_replaces_the_built_in_one(config: Path) -> None:
    """The one rule (README "Configuration"): file by file, the settings file's folder wins."""
    folder = config.parent
    (folder / "messages.booking.zh-TW.toml").write_text(
        (DEFAULT_CONFIG_DIR / "messages.booking.zh-TW.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    ours = (DEFAULT_CONFIG_DIR / "messages.zh-TW.toml").read_text(encoding="utf-8")
    (folder / "messages.zh-TW.toml").write_text(
        ours.replace('help = "', 'help = "本機版本：', 1), encoding="utf-8"
    )
    settings = load_settings()
    assert settings.config_dir == folder
    assert settings.config_file("messages.zh-TW.toml") == folder / "messages.zh-TW.toml"
    assert settings.config_file("crisis_lexicon.toml") == DEFAULT_CONFIG_DIR / "crisis_lexicon.toml"
    texts = Texts.load(settings.config_dir, ZoneInfo("Asia/Taipei"), fallback=DEFAULT_CONFIG_DIR)
    shown = [texts.get(key) for key in texts.keys()]  # noqa: SIM118 (Texts is not a dict)
    assert any(text.startswith("本機版本：") for text in shown)
    (folder / "messages.zh-TW.toml").unlink()
    texts = Texts.load(settings.config_dir, ZoneInfo("Asia/Taipei"), fallback=DEFAULT_CONFIG_DIR)
    shown = [texts.get(key) for key in texts.keys()]  # noqa: SIM118
    assert not any(text.startswith("本機版本：") for text in shown), "built in again"
    with pytest.raises(ConfigError, match="missing"):
        Texts.load(folder, ZoneInfo("Asia/Taipei"))


def test_line_needs_both_its_secret_and_its_token(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_LINE_CHANNEL_SECRET", "line-secret-value")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "HOTLINE_LINE_CHANNEL_ACCESS_TOKEN" in message and "line-secret-value" not in message
    assert message.count(".") >= 1 and "\n" not in message
    monkeypatch.setenv("HOTLINE_LINE_CHANNEL_ACCESS_TOKEN", "line-token-value")
    monkeypatch.setenv("HOTLINE_LINE_WEBHOOK_LISTEN", "0.0.0.0:8444")
    settings = load_settings()
    assert settings.line_enabled and settings.line_api_url == "https://api.line.me"
    assert "line-token-value" not in repr(settings)
    monkeypatch.setenv("HOTLINE_LINE_WEBHOOK_LISTEN", "8444")
    with pytest.raises(ConfigError, match="HOTLINE_LINE_WEBHOOK_LISTEN"):
        load_settings()


@pytest.mark.parametrize(
    "name", ["HOTLINE_LINE_CHANNEL_SECRET", "HOTLINE_TELEGRAM_WEBHOOK_SECRET"], ids=["line", "telegram"]
)
def test_an_empty_webhook_secret_is_refused(config: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """An empty key would let anyone sign a LINE event (or pass Telegram's header check) as any user."""
    monkeypatch.setenv("HOTLINE_LINE_CHANNEL_ACCESS_TOKEN", "line-token-value")
    monkeypatch.setenv("HOTLINE_LINE_CHANNEL_SECRET", "line-secret-value")
    monkeypatch.setenv(name, "  ")
    with pytest.raises(ConfigError, match=f"{name} is set but empty"):
        load_settings()


def test_the_line_proxy_is_read_once_from_the_standard_variables(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.line_proxy() is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.office.example:3128")
    assert settings.line_proxy() == "http://proxy.office.example:3128"
    monkeypatch.setenv("NO_PROXY", "api.line.me")
    assert settings.line_proxy() is None


def test_the_telegram_proxy_is_read_once_as_httpx_reads_it(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
    for name in (*names, "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.telegram_proxy() is None
    monkeypatch.setenv("ALL_PROXY", "http://all.office.example:3128")
    assert settings.telegram_proxy() == "http://all.office.example:3128"
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.office.example:3128")
    assert settings.telegram_proxy() == "http://proxy.office.example:3128"
    monkeypatch.setenv("NO_PROXY", "api.telegram.org")
    assert settings.telegram_proxy() is None
