"""Loads the test-server plugin when tests/conftest.py has not (it should: see tests/servers/fixtures.py)."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("tests.servers.fixtures"):
        config.pluginmanager.import_plugin("tests.servers.fixtures")
