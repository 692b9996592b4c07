"""pytest plugin with the test servers. Load it once, from tests/conftest.py:

    pytest_plugins = ["tests.servers.fixtures"]

- ``dovecot`` (session): a private Dovecot (see `dovecot.DovecotServer`); FAILS, never skips, when
  Dovecot is not installed (``make services`` installs it).
- ``imap_server`` (function): the same server with INBOX emptied for the test.
- ``smtp_server`` (function): an aiosmtpd collector on a free port (see `smtpd.SmtpSink`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.dovecot import DovecotMissing, DovecotServer
from tests.servers.smtpd import SmtpSink


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    try:
        server = DovecotServer.start()
    except DovecotMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def imap_server(dovecot: DovecotServer) -> DovecotServer:
    dovecot.clear()
    return dovecot


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    server = SmtpSink.start()
    try:
        yield server
    finally:
        server.stop()
