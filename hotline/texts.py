"""Texts shown to people, loaded from ``config/messages.zh-TW.toml``; code refers to keys only."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hotline.domain import Category, Outcome, Risk
from hotline.errors import ConfigError

MESSAGES_FILE = "messages.zh-TW.toml"
EXTRA_MESSAGES_GLOB = "messages.*.zh-TW.toml"  # e.g. messages.booking.zh-TW.toml, merged in


def _flatten(prefix: str, table: Mapping[str, Any], out: dict[str, Any]) -> None:
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            _flatten(name, value, out)
        else:
            out[name] = value.strip() if isinstance(value, str) else value


class Texts:
    """Renders message keys with parameters; datetimes are shown in the service's time zone."""

    def __init__(self, entries: Mapping[str, Any], zone: ZoneInfo) -> None:
        self._entries = dict(entries)
        self._zone = zone
        self._weekdays: list[str] = list(self._entries.get("format.weekdays", []))
        if len(self._weekdays) != 7:
            raise ConfigError(f"{MESSAGES_FILE}: [format] weekdays must list 7 names, Monday first.")

    @classmethod
    def load(cls, config_dir: Path, zone: ZoneInfo, fallback: Path | None = None) -> Texts:
        """``messages.zh-TW.toml`` and every ``messages.*.zh-TW.toml`` beside it, merged; a key defined
        in two files is a :class:`ConfigError` (which one would win is not obvious to an editor).
        A file of ``fallback`` (the built-in config) is used where ``config_dir`` has none of its name."""
        folders = [config_dir] if fallback is None or fallback == config_dir else [config_dir, fallback]
        chosen: dict[str, Path] = {}
        for folder in folders:
            for file in [folder / MESSAGES_FILE, *folder.glob(EXTRA_MESSAGES_GLOB)]:
                if file.is_file():
                    chosen.setdefault(file.name, file)
        path = chosen.get(MESSAGES_FILE, config_dir / MESSAGES_FILE)
        if not path.is_file():
            raise ConfigError(f"The messages file {path} is missing.")
        entries: dict[str, Any] = {}
        origin: dict[str, Path] = {}
        extras = sorted(file for name, file in chosen.items() if name != MESSAGES_FILE)
        for file in [path, *sorted(extras, key=lambda f: f.name)]:
            try:
                data = tomllib.loads(file.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"The messages file {file} is not valid TOML: {exc}.") from exc
            flat: dict[str, Any] = {}
            _flatten("", data, flat)
            for key, value in flat.items():
                if key in origin:
                    raise ConfigError(f"The message key {key!r} is defined in both {origin[key]} and {file}.")
                origin[key] = file
                entries[key] = value
        return cls(entries, zone)

    def has(self, key: str) -> bool:
        return isinstance(self._entries.get(key), str)

    def keys(self) -> list[str]:
        return [k for k, v in self._entries.items() if isinstance(v, str)]

    def format_datetime(self, moment: datetime) -> str:
        local = moment.astimezone(self._zone)
        return str(self._entries["format.datetime"]).format(
            month=local.month,
            day=local.day,
            weekday=self._weekdays[local.weekday()],
            hour=local.hour,
            minute=local.minute,
        )

    def format_date(self, day: date) -> str:
        return str(self._entries["format.date"]).format(year=day.year, month=day.month, day=day.day)

    def _show(self, value: object) -> str:
        if isinstance(value, datetime):
            return self.format_datetime(value)
        if isinstance(value, Category):
            return self.get(f"area.{value.value}")
        if isinstance(value, Risk):
            return self.get(f"risk.{value.value}")
        if isinstance(value, Outcome):
            return self.get(f"outcome.{value.value}")
        if isinstance(value, Enum):
            return str(value.value)
        return str(value)

    def get(self, key: str) -> str:
        value = self._entries.get(key)
        if not isinstance(value, str):
            raise KeyError(f"message key {key!r} is not in {MESSAGES_FILE}")
        return value

    def render(self, key: str, params: Mapping[str, object] | None = None) -> str:
        template = self.get(key)
        if not params and "{" not in template:
            return template
        shown = {name: self._show(value) for name, value in (params or {}).items()}
        return template.format_map(_Lenient(shown))


class _Lenient(dict[str, str]):
    """A missing placeholder stays visible as ``{name}`` rather than raising at a person's expense."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
