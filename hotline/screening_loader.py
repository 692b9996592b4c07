"""Reads the crisis lexicon from ``config/`` and builds the screener (the I/O half of screening)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from hotline.errors import ConfigError
from hotline.screening import LexiconError, Screener
from hotline.settings import DEFAULT_CONFIG_DIR as DEFAULT_CONFIG_DIR  # built in; installed or not
from hotline.settings import Settings

LEXICON_FILE = "crisis_lexicon.toml"


def load_lexicon(settings: Settings) -> Screener:
    """The crisis screener of the settings' config; a broken lexicon is a :class:`ConfigError` (one
    sentence). (Here, not in ``hotline.app``: `hotline screen` must not import the whole service.)"""
    # The default lexicon is built once per process (it takes a few hundred milliseconds).
    path = settings.config_file(LEXICON_FILE)
    try:
        return load_screener(None if path == DEFAULT_CONFIG_DIR / LEXICON_FILE else path)
    except LexiconError as exc:
        raise ConfigError(f"The crisis lexicon cannot be used: {exc}.") from exc


def load_screener(path: Path | None = None) -> Screener:
    """The screener built from ``path`` (a lexicon file, or a directory holding ``crisis_lexicon.toml``).

    Without a path, the repository's ``config/`` is used and the screener is built once per process.
    Raises ``LexiconError`` naming the file when it is missing, not TOML, or malformed.
    """
    if path is None:
        return _default_screener()
    return _load(path)


@lru_cache(maxsize=1)
def _default_screener() -> Screener:
    return _load(DEFAULT_CONFIG_DIR)


def _load(path: Path) -> Screener:
    file = path / LEXICON_FILE if path.is_dir() else path
    try:
        with file.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise LexiconError(f"{file}: cannot read the crisis lexicon ({exc.strerror or exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise LexiconError(f"{file}: not valid TOML: {exc}") from exc
    try:
        return Screener.from_mapping(data)
    except LexiconError as exc:
        raise LexiconError(f"{file}: {exc}") from exc
