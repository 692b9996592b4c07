"""Webhook delivery of the LINE emulator: signed POSTs of events, redelivery, drops, and waiting on
attempts.

Each event is POSTed on its own task (LINE does not wait for one event before sending the next), one
event per request, ``X-Line-Signature`` = base64 HMAC-SHA256 of the exact body with the channel secret.
An attempt that gets no 2xx is retried after ``redelivery_delay`` with ``isRedelivery: true``, up to
``max_redeliveries`` times, when ``redelivery`` is on (LINE's "webhook redelivery" setting).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Protocol

from aiohttp import ClientError, ClientSession, ClientTimeout

from .line_model import DeliveryAttempt, LineEvent, dumps, sign


class DeliverySettings(Protocol):
    @property
    def webhook_url(self) -> str | None: ...
    @property
    def redelivery(self) -> bool: ...
    @property
    def redelivery_delay(self) -> float: ...
    @property
    def max_redeliveries(self) -> int: ...


class WebhookSender:
    """POSTs events to the webhook, signed with the channel secret, one event per request."""

    def __init__(
        self, session: ClientSession, secret: Callable[[], str], destination: str, timeout: float
    ) -> None:
        self._session = session
        self._secret = secret
        self._destination = destination
        self._timeout = ClientTimeout(total=timeout)

    def body(self, events: list[LineEvent], *, redelivery: bool) -> bytes:
        payload = {
            "destination": self._destination,
            "events": [e.to_json(redelivery=redelivery) for e in events],
        }
        return dumps(payload)

    async def post(self, url: str, body: bytes, signature: str | None) -> tuple[int | None, str | None]:
        """(status, failure): the webhook's status, or None and why the connection failed."""
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "LineBotWebhook/2.0"}
        if signature is not None:
            headers["X-Line-Signature"] = signature
        try:
            async with self._session.post(url, data=body, headers=headers, timeout=self._timeout) as response:
                await response.read()
                return response.status, None if 200 <= response.status < 300 else f"status {response.status}"
        except (ClientError, TimeoutError) as exc:
            return None, f"connection failed: {exc.__class__.__name__}"

    async def deliver(self, url: str, event: LineEvent, *, redelivery: bool) -> DeliveryAttempt:
        body = self.body([event], redelivery=redelivery)
        at = time.monotonic()
        status, failure = await self.post(url, body, sign(self._secret(), body))
        attempt = DeliveryAttempt(at, redelivery, status, failure)
        event.attempts.append(attempt)
        return attempt
        return attempt


class WebhookDeliveries:
    """The delivery tasks of one emulator, the drop fault, and a condition to wait on attempts."""

    def __init__(self, sender: WebhookSender, settings: DeliverySettings) -> None:
        self._sender = sender
        self._settings = settings
        self._tasks: set[asyncio.Task[None]] = set()
        self._attempted = asyncio.Condition()
        self.drops = 0

    def start(self, event: LineEvent) -> None:
        task = asyncio.create_task(self._deliver(event), name=f"line-webhook-{event.webhook_event_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver(self, event: LineEvent, *, redelivery: bool = False, once: bool = False) -> None:
        settings = self._settings
        for attempt_no in range(settings.max_redeliveries + 1):
            url = settings.webhook_url
            if url is None or self.drops > 0:
                why = "no webhook URL" if url is None else "dropped"
                if url is not None:
                    self.drops -= 1
                event.attempts.append(DeliveryAttempt(time.monotonic(), redelivery, None, why))
                await self._notify()
                return
            attempt = await self._sender.deliver(url, event, redelivery=redelivery or attempt_no > 0)
            await self._notify()
            if attempt.ok or once or not settings.redelivery:
                return
            await asyncio.sleep(settings.redelivery_delay)

    async def _notify(self) -> None:
        async with self._attempted:
            self._attempted.notify_all()

    async def redeliver(self, event: LineEvent) -> DeliveryAttempt:
        await self._deliver(event, redelivery=True, once=True)
        return event.attempts[-1]

    async def wait_delivered(self, event: LineEvent, attempts: int, timeout: float) -> DeliveryAttempt:
        async with self._attempted:
            try:
                await asyncio.wait_for(
                    self._attempted.wait_for(lambda: len(event.attempts) >= attempts), timeout
                )
            except TimeoutError:
                raise TimeoutError(
                    f"event {event.webhook_event_id} ({event.type}) had {len(event.attempts)} delivery "
                    f"attempt(s) within {timeout:g} s, not {attempts}: {event.attempts}"
                ) from None
        return event.attempts[attempts - 1]

    async def post_raw(self, body: bytes, signature: str | None) -> int | None:
        url = self._settings.webhook_url
        if url is None:
            raise RuntimeError("no webhook URL set")
        status, _ = await self._sender.post(url, body, signature)
        return status
