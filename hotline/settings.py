"""Settings: the one place that reads the environment and the TOML config.

Precedence: ``HOTLINE_*`` environment variables, then the TOML file (``HOTLINE_CONFIG``, default
``config/hotline.toml``), then the defaults below. The other config files (``crisis_lexicon.toml``,
``messages*.zh-TW.toml``) are read from the settings file's folder (or ``HOTLINE_CONFIG_DIR``), each one
that is not there from the defaults shipped in the package (:data:`DEFAULT_CONFIG_DIR`). Nested sections can be overridden from the environment
with a double underscore, e.g. ``HOTLINE_CRISIS__ACK_TIMEOUT_SECONDS=60``. Settings are read once into a
frozen object; a wrong value stops start-up with one sentence naming the setting (:class:`ConfigError`).
"""

from __future__ import annotations

import os
import tomllib
import urllib.request
from datetime import time
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hotline.domain import Role
from hotline.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The built-in config: copied into the package when a wheel is built (setup.py), read from the source
# tree's config/ otherwise (a checkout, an editable install).
_PACKAGED = Path(__file__).resolve().parent / "defaults"
DEFAULT_CONFIG_DIR = _PACKAGED if (_PACKAGED / "crisis_lexicon.toml").is_file() else PROJECT_ROOT / "config"
ENV_PREFIX = "HOTLINE_"
MIN_SECRET_KEY_CHARS = 32

Security = Literal["tls", "starttls", "none"]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CounselorEntry(_Section):
    """One roster entry: a counselor or supervisor known by their Telegram user id."""

    telegram_id: int = Field(gt=0)
    name: str = Field(min_length=1)
    role: Role = Role.COUNSELOR


class HoursSection(_Section):
    """Service hours of the line (weekdays, Asia/Taipei, Taiwan holidays and make-up workdays)."""

    timezone: str = "Asia/Taipei"
    opens: time = time(9, 0)
    closes: time = time(17, 0)
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday = 0
    holidays_country: str = "TW"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _opens_before_closes(self) -> HoursSection:
        if self.opens >= self.closes:
            raise ValueError("opens must be earlier than closes")
        if any(d < 0 or d > 6 for d in self.weekdays):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return self


class CrisisSection(_Section):
    ack_timeout_seconds: float = Field(default=300, gt=0)


class ScreeningSection(_Section):
    """Crisis screening. ``learned`` turns the learned second layer on (DESIGN §4); off, or when it
    cannot load, the lexicon screens alone (and start-up says so at CRITICAL)."""

    learned: bool = True
    head_file: Path | None = None  # the trained head; None: the one shipped in the package
    window_messages: int = Field(default=3, ge=0, le=10)  # the employee's earlier messages read together
    window_minutes: float = Field(default=15, gt=0)
    # How long an employee's reply waits for the learned layer's verdict (DESIGN §4 "never silence"):
    # past it the reply goes out on the lexicon's screening and a late crisis verdict takes the crisis
    # path then. 0: never wait. Whole milliseconds, at most 10 s.
    reply_budget_ms: int = Field(default=300, ge=0, le=10_000)

    @field_validator("reply_budget_ms", mode="before")
    @classmethod
    def _budget_is_a_number(cls, value: object) -> object:
        if isinstance(value, bool):  # TOML's true would read as 1 ms
            raise ValueError("reply_budget_ms is a number of milliseconds, not true/false")
        return value


class EmailSection(_Section):
    reply_days: int = Field(default=3, ge=1, le=30)
    poll_seconds: float = Field(default=60, gt=0)  # polling interval when the server has no IDLE
    send_retry_seconds: float = Field(default=60, gt=0)  # first retry of a failed send; doubles, capped
    send_retry_max_seconds: float = Field(default=3600, gt=0)
    # The employee's /forget by e-mail: a mail with one of these asks; a reply with the confirmation does it.
    forget_keywords: tuple[str, ...] = ("刪除我的資料", "删除我的资料", "forget me")
    forget_confirm_keyword: str = "確認刪除"
    # How long the one-time code in the explanation mail confirms the erasure (issue 19).
    forget_code_hours: float = Field(default=72, gt=0, le=24 * 30)
    # Automatic mails (acknowledgement, crisis reply, erasure explanation) one address gets in a day at
    # most; past it the mail is kept and a human told (a crisis still alerts): a forged From cannot make
    # the station flood someone's mailbox.
    auto_mails_per_day: int = Field(default=10, ge=1, le=1000)


class RetentionSection(_Section):
    """How long records are kept (心理師法 record keeping; 個資法 minimisation)."""

    closed_case_years: float = Field(default=10, gt=0)
    contact_days: float = Field(default=30, gt=0)  # contacts that never became a case


class RateLimitSection(_Section):
    """Per-employee flood protection: a burst, then a steady rate (messages per minute)."""

    burst: int = Field(default=20, ge=1)
    per_minute: float = Field(default=30, gt=0)


class SessionSection(_Section):
    """A contact is time-boxed (seed: about 30 minutes); the counselor is reminded before the end."""

    contact_minutes: float = Field(default=30, gt=0)
    remind_after_minutes: float = Field(default=25, gt=0)


class BookingSection(_Section):
    """Face-to-face counseling: free hours per person per calendar year (Taoyuan 4, Taipei 6), the
    employee's cancellation deadline (seed: at least a day before), the EAP office's phone number (given
    in every message that asks the employee to call; unset, they are asked to write here instead), and
    when a confirmed session is reminded of: ``remind_hours_before`` ahead, or, when the session was
    confirmed later than that, ``late_remind_hours_before`` ahead (later still: the confirmation is all)."""

    free_hours_per_year: int = Field(default=4, ge=0, le=100)
    cancel_min_hours: int = Field(default=24, ge=0, le=24 * 14)
    office_phone: str = ""
    remind_hours_before: int = Field(default=24, ge=1, le=24 * 14)
    late_remind_hours_before: int = Field(default=2, ge=1, le=24 * 14)

    @field_validator("office_phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        value = value.strip()
        if value and not any(c.isdigit() for c in value):
            raise ValueError("must be a phone number (it has no digit)")
        return value

    @model_validator(mode="after")
    def _late_is_later(self) -> BookingSection:
        if self.late_remind_hours_before >= self.remind_hours_before:
            raise ValueError("late_remind_hours_before must be smaller than remind_hours_before")
        return self

    @property
    def remind_leads(self) -> tuple[int, int]:
        return (self.remind_hours_before, self.late_remind_hours_before)


class PacingSection(_Section):
    """Telegram's flood limits, honoured by every worker together (``hotline/pacing.py``): about 30
    messages a second for the bot, one a second in a chat (Telegram tolerates short bursts). A burst
    of 1 spaces the messages evenly; ``enabled = false`` switches pacing off (benchmarks of raw speed)."""

    enabled: bool = True
    per_bot_per_second: float = Field(default=30.0, gt=0)
    per_bot_burst: int = Field(default=10, ge=1)
    per_chat_per_second: float = Field(default=1.0, gt=0)
    per_chat_burst: int = Field(default=2, ge=1)


class TelegramSection(_Section):
    poll_timeout_seconds: int = Field(default=30, ge=0, le=50)
    concurrent_updates: int = Field(default=16, ge=1, le=256)
    pacing: PacingSection = PacingSection()


class LineSection(_Section):
    """LINE: how long a reply token is used before pushing instead (LINE keeps it about a minute); how
    many users' events are carried out at once (each user's in order)."""

    reply_token_seconds: float = Field(default=50.0, gt=0, le=600)
    concurrent_events: int = Field(default=16, ge=1, le=512)


def _check_url(value: str | None, *, schemes: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise ValueError(f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
    return value.rstrip("/")


class Settings(BaseSettings):
    """All settings of one hotline deployment (DESIGN §3)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
        case_sensitive=False,
    )

    config: Path = Path("config/hotline.toml")
    config_dir: Path = DEFAULT_CONFIG_DIR
    database_url: str = "sqlite+aiosqlite:///hotline.db"
    secret_key: SecretStr | None = None
    old_secret_keys: tuple[SecretStr, ...] = ()  # earlier keys, still read during a rotation
    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None  # polling when unset
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_listen: str = "127.0.0.1:8443"
    # In polling mode, where /healthz and /metrics are served (webhook mode: on the webhook listener).
    ops_listen: str | None = None
    # LINE (issue 15): a second employee channel, started when both the secret and the token are set.
    line_channel_secret: SecretStr | None = None
    line_channel_access_token: SecretStr | None = None
    line_api_url: str = "https://api.line.me"
    line_webhook_listen: str = "127.0.0.1:8444"

    imap_host: str | None = None
    imap_port: int | None = Field(default=None, gt=0, lt=65536)
    imap_user: str | None = None
    imap_password: SecretStr | None = None
    imap_security: Security = "tls"
    imap_mailbox: str = "INBOX"
    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, gt=0, lt=65536)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Security = "tls"
    mail_from: str | None = None

    counselors: tuple[CounselorEntry, ...] = ()
    hours: HoursSection = HoursSection()
    crisis: CrisisSection = CrisisSection()
    screening: ScreeningSection = ScreeningSection()
    email: EmailSection = EmailSection()
    retention: RetentionSection = RetentionSection()
    rate_limit: RateLimitSection = RateLimitSection()
    session: SessionSection = SessionSection()
    booking: BookingSection = BookingSection()
    telegram: TelegramSection = TelegramSection()
    line: LineSection = LineSection()

    def line_proxy(self) -> str | None:
        """The proxy to reach the LINE API through, from the standard variables (``HTTPS_PROXY``,
        ``HTTP_PROXY``, ``NO_PROXY``, as aiohttp reads them), resolved once at start: the LINE SDK's HTTP
        client would otherwise look them up, and ``~/.netrc``, in a worker thread on every request."""
        parts = urlsplit(self.line_api_url)
        if urllib.request.proxy_bypass(parts.hostname or ""):
            return None
        proxy: str | None = urllib.request.getproxies().get(parts.scheme)
        return proxy

    def telegram_proxy(self) -> str | None:
        """The proxy to reach the Bot API through, from the variables httpx (PTB's own client) read:
        ``HTTPS_PROXY`` or ``HTTP_PROXY`` for the URL's scheme, else ``ALL_PROXY``; ``NO_PROXY``
        respected. Resolved once at start (``hotline/bot/bot_api_http.py``)."""
        parts = urlsplit(self.telegram_api_url)
        if urllib.request.proxy_bypass(parts.hostname or ""):
            return None
        proxies = urllib.request.getproxies()
        proxy: str | None = proxies.get(parts.scheme) or proxies.get("all")
        return proxy

    @field_validator("telegram_api_url", "line_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        checked = _check_url(value, schemes=("http", "https"))
        assert checked is not None
        return checked

    @field_validator("telegram_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        # Telegram only calls https URLs; plain http is accepted for loopback (the sandbox, a local proxy).
        loopback = value is not None and urlsplit(value).hostname in {"127.0.0.1", "localhost", "::1"}
        return _check_url(value, schemes=("https", "http") if loopback else ("https",))

    @field_validator("telegram_webhook_listen", "ops_listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8443")
        return value

    @field_validator("line_webhook_listen")
    @classmethod
    def _line_listen(cls, value: str) -> str:
        host, _, port = value.rpartition(":")  # port 0: any free port (the sandbox)
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8444")
        return value

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("secret_key")
    @classmethod
    def _key_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_KEY_CHARS:
            raise ValueError(f"must be at least {MIN_SECRET_KEY_CHARS} characters long")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.telegram_webhook_url and self.telegram_webhook_secret is None:
            raise ValueError("telegram_webhook_secret is required when telegram_webhook_url is set")
        return self

    @model_validator(mode="after")
    def _line_pair(self) -> Settings:
        for name in ("line_channel_secret", "line_channel_access_token", "telegram_webhook_secret"):
            value = getattr(self, name)
            if value is not None and not value.get_secret_value().strip():
                # an empty key would let anyone sign (or skip) the webhook's check
                raise ValueError(
                    f"HOTLINE_{name.upper()} is set but empty; give the value or remove the line"
                )
        if (self.line_channel_secret is None) != (self.line_channel_access_token is None):
            raise ValueError(
                "LINE needs both HOTLINE_LINE_CHANNEL_SECRET and HOTLINE_LINE_CHANNEL_ACCESS_TOKEN "
                "(from the LINE Developers console), or neither"
            )
        return self

    @model_validator(mode="after")
    def _roster_unique(self) -> Settings:
        seen: set[int] = set()
        for entry in self.counselors:
            if entry.telegram_id in seen:
                raise ValueError(f"telegram_id {entry.telegram_id} appears twice in [[counselors]]")
            seen.add(entry.telegram_id)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the TOML file, which arrives as init keyword arguments.
        return (env_settings, init_settings)

    # Derived views -------------------------------------------------------------------------------
    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_token is not None

    @property
    def line_enabled(self) -> bool:
        return self.line_channel_secret is not None and self.line_channel_access_token is not None

    @property
    def mail_enabled(self) -> bool:
        return self.imap_host is not None

    def role_of(self, telegram_id: int) -> Role | None:
        for entry in self.counselors:
            if entry.telegram_id == telegram_id:
                return entry.role
        return None

    def vault_keys(self) -> tuple[str, tuple[str, ...]]:
        """The current key and the older ones still accepted for reading."""
        return self.require_secret_key(), tuple(k.get_secret_value() for k in self.old_secret_keys)

    def config_file(self, name: str) -> Path:
        """``name`` from the config folder when it is there, else the built-in one."""
        own = self.config_dir / name
        return own if own.is_file() else DEFAULT_CONFIG_DIR / name

    def require_secret_key(self) -> str:
        if self.secret_key is None:
            raise ConfigError(
                "HOTLINE_SECRET_KEY is not set: give it at least 32 random characters "
                '(for example: python3 -c "import secrets; print(secrets.token_urlsafe(48))").'
            )
        return self.secret_key.get_secret_value()


def _setting_name(loc: tuple[int | str, ...]) -> str:
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += ("." if name else "") + part
    return name


def _describe(exc: ValidationError, toml_path: Path | None) -> str:
    err = exc.errors()[0]
    loc = tuple(err.get("loc", ()))
    name = _setting_name(loc) or "settings"
    if loc and loc[0] == "counselors":
        where = f" (in {toml_path})" if toml_path else ""
    else:
        env_name = ENV_PREFIX + "__".join(str(p) for p in loc if isinstance(p, str)).upper()
        where = f" (environment variable {env_name}" + (f" or {toml_path})" if toml_path else ")")
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        message = "is not a known setting"
    value = err.get("input")
    secret = any(word in name for word in ("secret", "password", "token"))
    shown = "" if secret or isinstance(value, dict | list) else f" (got {value!r})"
    return f"Setting {name}{where} {message}{shown}."


def load_settings() -> Settings:
    """Read the TOML config and the environment once; raise :class:`ConfigError` with one sentence."""
    config_path = Path(os.environ.get(ENV_PREFIX + "CONFIG", "config/hotline.toml"))
    data: dict[str, Any] = {}
    if config_path.exists():
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"The config file {config_path} is not valid TOML: {exc}.") from exc
    elif ENV_PREFIX + "CONFIG" in os.environ:
        raise ConfigError(f"The config file {config_path} (HOTLINE_CONFIG) does not exist.")
    if config_path.exists():  # its folder overrides the built-in files (HOTLINE_CONFIG_DIR wins)
        data.setdefault("config_dir", config_path.parent)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, config_path if config_path.exists() else None)) from exc
