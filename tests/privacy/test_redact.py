"""Log redaction: secrets and token-shaped strings masked in messages, arguments and tracebacks."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from hotline.privacy import redact
from hotline.privacy.redact import MASK, RedactingFilter, Redactor

TOKEN = "4242:TEST-TOKEN-hotline"
REAL_SHAPE = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
PASSWORD = "imap-p@ss:w0rd"
SECRET_KEY = "demo-only-secret-key-never-use-in-production-0123456789"


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, list[logging.LogRecord]]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger("tests.privacy.redact")
    handler = Keep()
    handler.addFilter(RedactingFilter([TOKEN, PASSWORD, SECRET_KEY]))
    log.addHandler(handler)
    log.propagate, log.level = False, logging.DEBUG
    yield log, records
    log.removeHandler(handler)
    log.propagate, log.level = True, logging.NOTSET


def shown(record: logging.LogRecord) -> str:
    return logging.Formatter("%(message)s").format(record)


def test_message_args_and_exception_are_masked(
    logger: tuple[logging.Logger, list[logging.LogRecord]],
) -> None:
    log, records = logger
    log.warning("GET https://api.telegram.org/bot%s/getUpdates", TOKEN)
    log.warning("token %s and key %r", REAL_SHAPE, SECRET_KEY)
    log.warning(f"login with {PASSWORD} failed; quoted {PASSWORD.replace('@', '%40').replace(':', '%3A')}")
    log.info("args as mapping: %(token)s", {"token": TOKEN})
    try:
        raise ConnectionError(f"POST http://127.0.0.1:8081/bot{TOKEN}/sendMessage failed for {PASSWORD}")
    except ConnectionError:
        log.exception("send failed")
    log.warning("bad format %s %s", TOKEN)  # one argument short: must not raise, must still mask
    texts = [shown(r) for r in records]
    assert len(texts) == 6
    for text in texts:
        for secret in (TOKEN, REAL_SHAPE, PASSWORD, SECRET_KEY, "TEST-TOKEN", "imap-p%40ss"):
            assert secret not in text, text
    assert texts[0] == f"GET https://api.telegram.org/bot{MASK}/getUpdates"
    assert MASK in texts[1] and "ConnectionError" in texts[4] and "send failed" in texts[4]
    assert all(r.exc_info is None and r.args == () for r in records)


def test_unknown_token_in_a_bot_url_and_harmless_text() -> None:
    redactor = Redactor()
    assert redactor("/bot99:abc/getMe and /bottom/page") == f"/bot{MASK}/getMe and /bottom/page"
    assert redactor("我想談談工作壓力 12:30") == "我想談談工作壓力 12:30"
    assert Redactor(["short"])("short") == "short"  # too short to be a secret; would mask words


def test_install_covers_every_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    try:
        redact.install([TOKEN, ""])
        logging.getLogger("httpx").info('HTTP Request: POST http://x/bot%s/getUpdates "200 OK"', TOKEN)
        redact.install([SECRET_KEY])  # replaces the earlier set (patterns stay)
        logging.getLogger("anything.else").debug("key=%s token=%s", SECRET_KEY, REAL_SHAPE)
    finally:
        redact.uninstall()
    logging.getLogger("after").info("%s", SECRET_KEY)
    first, second, after = (r.getMessage() for r in caplog.records)
    assert TOKEN not in first and SECRET_KEY not in second and REAL_SHAPE not in second
    assert after == SECRET_KEY  # uninstalled: the factory is back to the standard one
