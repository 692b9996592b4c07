"""HTTP surface of the LINE emulator: the Messaging API paths line-bot-sdk calls.

Served (``Authorization: Bearer <channel access token>`` on every one, else 401):
``POST /v2/bot/message/reply`` · ``POST /v2/bot/message/push`` (``X-Line-Retry-Key`` honoured) ·
``GET /v2/bot/profile/{userId}`` · ``GET /v2/bot/group/{groupId}/member/{userId}`` · ``GET /v2/bot/info`` ·
``PUT``/``GET /v2/bot/channel/webhook/endpoint``. Anything else is 404 ``{"message": "Not found"}``.
A :class:`Hold` keeps the next call of an endpoint (to one chat) waiting until it is released; a call
whose client went away meanwhile is neither carried out nor recorded (it never reached LINE).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .line_model import (
    AUTH_FAILED,
    AUTH_MISSING,
    JSON,
    NOT_FOUND,
    LineApiError,
    LineCall,
    dumps,
)
from .line_state import ChannelState

_ENDPOINTS: dict[tuple[str, str], str] = {
    ("POST", "/v2/bot/message/reply"): "reply",
    ("POST", "/v2/bot/message/push"): "push",
    ("GET", "/v2/bot/info"): "info",
    ("PUT", "/v2/bot/channel/webhook/endpoint"): "set_webhook",
    ("GET", "/v2/bot/channel/webhook/endpoint"): "webhook",
}


def _json(body: JSON, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=dumps(body),
        content_type="application/json",
        headers={"x-line-request-id": str(uuid.uuid4())},
    )


@dataclass
class Hold:
    """The next call of ``endpoint`` (to ``to`` when given) waits until :meth:`release`."""

    endpoint: str
    to: str | None
    reached: asyncio.Event = field(default_factory=asyncio.Event)  # a call is waiting
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


class LineApiServer:
    """The aiohttp application answering one channel's Messaging API requests."""

    def __init__(
        self, state: ChannelState, access_token: Callable[[], str], bot_info: Callable[[], JSON]
    ) -> None:
        self._state = state
        self._access_token = access_token
        self._bot_info = bot_info
        self.webhook_url: str | None = None
        self.holds: list[Hold] = []
        self.app = web.Application(client_max_size=2 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    def _endpoint(self, request: web.Request) -> tuple[str, dict[str, str]]:
        found = _ENDPOINTS.get((request.method, request.path))
        if found is not None:
            return found, {}
        parts = request.path.strip("/").split("/")
        if request.method == "GET" and parts[:3] == ["v2", "bot", "profile"] and len(parts) == 4:
            return "profile", {"userId": parts[3]}
        if (
            request.method == "GET"
            and len(parts) == 6
            and parts[:3] == ["v2", "bot", "group"]
            and parts[4] == "member"
        ):
            return "group_member", {"groupId": parts[3], "userId": parts[5]}
        return "", {}

    async def _body(self, request: web.Request) -> JSON:
        if not request.body_exists:
            return {}
        try:
            body: Any = await request.json()
        except ValueError:
            raise LineApiError(
                400, "The request body could not be parsed as JSON (line: -, column: -)"
            ) from None
        if not isinstance(body, dict):
            raise LineApiError(400, "The request body could not be parsed as JSON (line: -, column: -)")
        return body

    async def _handle(self, request: web.Request) -> web.Response:
        at = time.monotonic()
        state = self._state
        index = len(state.calls)
        endpoint, path_params = self._endpoint(request)
        body: JSON = {}
        to: str | None = None
        injected = False
        try:
            auth = request.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                raise LineApiError(401, AUTH_MISSING)
            if auth.removeprefix("Bearer ").strip() != self._access_token():
                raise LineApiError(401, AUTH_FAILED)
            if not endpoint:
                raise LineApiError(404, NOT_FOUND)
            body = await self._body(request)
            to = _target(state, endpoint, body, path_params)
            if not await self._held(endpoint, to, request):
                return web.Response(status=503)  # the client is gone: nothing reached LINE
            fault = state.take_fault(endpoint, to)
            if fault is not None:
                injected = True
                raise fault.error()
            if endpoint == "reply":
                result, to = state.reply(body, index)
            else:
                result = self._run(endpoint, body, path_params, request, index)
            status = 200
        except LineApiError as exc:
            status, result = exc.status, exc.to_json()
        state.record(
            LineCall(index, endpoint or "unknown", request.method, request.path, body, at, status, result, to, injected)
        )  # fmt: skip
        return _json(result, status)

    async def _held(self, endpoint: str, to: str | None, request: web.Request) -> bool:
        """Wait while a hold is on this call; False when its client went away meanwhile."""
        hold = next((h for h in self.holds if h.endpoint in (endpoint, "*") and h.to in (None, to)), None)
        if hold is None:
            return True
        self.holds.remove(hold)
        hold.reached.set()
        await hold.released.wait()
        transport = request.transport
        return transport is not None and not transport.is_closing()

    def _run(
        self, endpoint: str, body: JSON, params: dict[str, str], request: web.Request, index: int
    ) -> JSON:
        state = self._state
        if endpoint == "push":
            return state.push(body, request.headers.get("X-Line-Retry-Key"), index)
        if endpoint == "profile":
            return state.profile(params["userId"])
        if endpoint == "group_member":
            return state.group_member_profile(params["groupId"], params["userId"])
        if endpoint == "info":
            return self._bot_info()
        if endpoint == "set_webhook":
            url = body.get("endpoint")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise LineApiError.invalid_body([{"message": "must be a valid URL", "property": "endpoint"}])
            self.webhook_url = url
            return {}
        return {"endpoint": self.webhook_url or "", "active": self.webhook_url is not None}


def _target(state: ChannelState, endpoint: str, body: JSON, params: dict[str, str]) -> str | None:
    """The chat a call addresses, for faults aimed at one chat (reply: resolved from its token)."""
    if endpoint == "push":
        to = body.get("to")
        return to if isinstance(to, str) else None
    if endpoint == "reply":
        token = body.get("replyToken")
        found = state.reply_tokens.get(token) if isinstance(token, str) else None
        return found.chat_id if found else None
    return params.get("userId")
