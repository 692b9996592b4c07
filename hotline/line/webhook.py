"""The LINE webhook (aiohttp): LINE posts events here, signed with the channel secret.

A request is checked with the SDK's signature validator (``X-Line-Signature``: HMAC-SHA256 of the raw body):
no signature or a body that is not LINE's JSON is 400, a wrong signature 401, each with one log line
and nothing stored. A signed delivery is stored (:class:`~hotline.line.inbox.LineInbox`) before it is
answered 200; when the database cannot store it the answer is 500 and LINE delivers it again.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web
from linebot.v3 import WebhookParser

from hotline.errors import ConfigError, StorageError
from hotline.line.inbox import LineInbox

log = logging.getLogger(__name__)

PATH = "/line/webhook"
# Connections waiting to be accepted (the listen backlog; Linux caps it at net.core.somaxconn). LINE posts
# each event on its own request, many at once: with aiohttp's default of 128, a burst of a few hundred
# overflowed it, and every connection dropped there was tried again by TCP a second later (then 3 s, ...)
# — a crisis message among them a second late (issue 15's benchmark: most of its time was that second).
BACKLOG = 1024


class LineWebhook:
    def __init__(self, parser: WebhookParser, inbox: LineInbox, listen: str) -> None:
        self.parser = parser
        self.inbox = inbox
        self.host, _, port = listen.rpartition(":")
        self.port = int(port)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        signature = request.headers.get("X-Line-Signature")
        if not signature:
            log.warning("LINE webhook: refused a request without X-Line-Signature")
            return web.Response(status=400, text="missing signature")
        body = await request.text()
        # The signature only: the events are read into the SDK's models once, when carried out (parsing
        # them here too cost a model tree per event on the path to the 200).
        if not self.parser.signature_validator.validate(body, signature):
            log.warning("LINE webhook: refused a request whose signature does not match the channel secret")
            return web.Response(status=401, text="invalid signature")
        try:
            events = json.loads(body)["events"]
            if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
                raise TypeError("events is not a list of objects")
        except (ValueError, KeyError, TypeError) as exc:
            log.warning(
                "LINE webhook: refused a signed request that is not LINE's JSON (%s)", type(exc).__name__
            )
            return web.Response(status=400, text="bad request")
        try:
            await self.inbox.accept(events)
        except StorageError as exc:
            log.error("LINE webhook: could not store a delivery (%s); LINE will deliver it again", exc)
            return web.Response(status=500, text="try again")
        return web.Response(text="OK")

    async def start(self) -> None:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post(PATH, self.handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port, backlog=BACKLOG).start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"The LINE webhook cannot listen on {self.host}:{self.port} (HOTLINE_LINE_WEBHOOK_LISTEN): "
                f"{exc.strerror or exc}."
            ) from exc
        self._runner = runner
        bound = runner.addresses[0][1]
        self.port = int(bound)
        self.url = f"http://{self.host}:{self.port}{PATH}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
