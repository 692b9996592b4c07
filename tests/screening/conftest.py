"""Fixtures of the screening tests: the real lexicon, built once."""

from __future__ import annotations

import pytest

from hotline.screening import Screener
from hotline.screening_loader import load_screener


@pytest.fixture(scope="session")
def screener() -> Screener:
    return load_screener()
