"""The service's logs hold no token, no secret key, no message text and no name of an employee."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from hotline.cli import configure_logging
from hotline.privacy import redact
from hotline.sandbox.stage import DEMO_SECRET, Stage
from tests.conftest import TOKEN
from tests.privacy.conversation import converse, forbidden

THIRD_PARTY = (
    "httpx",
    "httpcore",
    "telegram",
    "telegram.ext",
    "apscheduler",
    "aiosqlite",
    "asyncio",
    "aiohttp",
)


def everything(records: list[logging.LogRecord]) -> list[str]:
    formatter = logging.Formatter("%(name)s %(message)s")
    return [formatter.format(r) + (r.exc_text or "") + (r.stack_info or "") for r in records]


@pytest.fixture
def restore_levels() -> Iterator[None]:
    names = [*logging.root.manager.loggerDict, *THIRD_PARTY]
    saved = {name: logging.getLogger(name).level for name in names}
    root = logging.getLogger().level
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger().setLevel(root)


async def test_verbose_service_logs_are_clean(
    stage: Stage, caplog: pytest.LogCaptureFixture, restore_levels: None
) -> None:
    """Production logging at its most verbose (``hotline -v run``), without the redaction net."""
    configure_logging(verbose=True)
    # At DEBUG, python-telegram-bot logs whole updates (names, texts) and httpx each URL (the token).
    assert all(logging.getLogger(n).getEffectiveLevel() >= logging.WARNING for n in ("httpx", "telegram"))
    caplog.set_level(logging.DEBUG)
    await stage.restart()  # start-up logged too
    said = await converse(stage)
    await stage.stop()
    lines = everything(caplog.records)
    assert lines, "nothing was logged: the check would prove nothing"
    for line in lines:
        for secret in (TOKEN, DEMO_SECRET, *said, *forbidden()):
            assert secret not in line, f"{secret!r} leaked into the log: {line[:300]!r}"


async def test_all_loggers_at_debug_with_redaction_hold_no_secret(
    stage: Stage, caplog: pytest.LogCaptureFixture, restore_levels: None
) -> None:
    """Every logger at DEBUG: the net catches a library logging a Bot API URL (the token in it). The
    service's Bot API requests go through aiohttp, which logs no URL (``hotline/bot/bot_api_http.py``);
    httpx, PTB's default client, logs each one at INFO: such a line is logged here as a library would."""
    for name in [*logging.root.manager.loggerDict, *THIRD_PARTY]:
        logging.getLogger(name).setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    redact.install([TOKEN, DEMO_SECRET])
    try:
        await stage.restart()
        await converse(stage)
        api = stage.settings.telegram_api_url
        logging.getLogger("httpx").info('HTTP Request: POST %s/bot%s/getMe "HTTP/1.1 200 OK"', api, TOKEN)
        await stage.stop()
    finally:
        redact.uninstall()
    lines = everything(caplog.records)
    assert any("/bot[REDACTED]/" in line for line in lines), "the URL's log was expected and masked"
    for line in lines:
        assert TOKEN not in line and DEMO_SECRET not in line and "TEST-TOKEN" not in line, line[:300]
