"""The worker's HTTP listener: Telegram's webhook, ``/healthz`` and ``/metrics`` on one aiohttp server.

PTB's own webhook server cannot serve other paths, so the worker runs this one. Each update is stored
(:mod:`hotline.bot.inbox`) before Telegram is answered, and processed from there per chat. Telegram's calls carry
the secret token set with the webhook in ``X-Telegram-Bot-Api-Secret-Token``; any request without it
is answered 403 and never processed.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from hotline.errors import StorageError
from hotline.ops import CONTENT_TYPE, Health

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MetricsSource = Callable[[], Awaitable[bytes]]  # the Prometheus text of one scrape
Accept = Callable[[Mapping[str, Any]], Awaitable[bool]]  # stores an update; False for a redelivery


class Listener:
    """``async with Listener(...)`` serves until the block ends."""

    def __init__(self, listen: str, health: Health, metrics: MetricsSource) -> None:
        host, _, port = listen.rpartition(":")
        self.host, self.port = host or "127.0.0.1", int(port)
        self.health = health
        self.metrics = metrics
        self.app = web.Application()
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/metrics", self._metrics)
        self._runner: web.AppRunner | None = None

    def add_webhook(self, path: str, secret: str, accept: Accept) -> None:
        """Telegram's webhook: each update is stored (``accept``, the inbox) before it is answered 200;
        a database that cannot be reached gets 503, and Telegram delivers the update again later."""

        async def hook(request: web.Request) -> web.Response:
            given = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), secret.encode()):
                return web.Response(status=403, text="Wrong or missing secret token.")
            try:
                data = await request.json()
            except ValueError:
                return web.Response(status=400, text="The body is not a Telegram update.")
            update_id = data.get("update_id") if isinstance(data, dict) else None
            if not isinstance(update_id, int) or isinstance(update_id, bool):
                return web.Response(status=400, text="The body is not a Telegram update.")
            try:
                await accept(data)
            except StorageError as exc:
                log.error("an update could not be stored (%s); Telegram will deliver it again", exc)
                return web.Response(status=503)
            return web.Response(status=200)

        self.app.router.add_post("/" + path.lstrip("/"), hook)

    async def _healthz(self, _request: web.Request) -> web.Response:
        problem = await self.health.problem()
        if problem is None:
            return web.Response(text="ok\n")
        return web.Response(status=503, text=problem + "\n")

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = await self.metrics()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def start(self) -> None:
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        self._runner = runner
        await web.TCPSite(runner, self.host, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


__all__ = ["Listener"]
