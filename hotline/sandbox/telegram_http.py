"""HTTP surface of the emulator: ``/bot{token}/{method}`` like api.telegram.org (webhook delivery: ``telegram_webhook``).

Parameters are accepted the ways Telegram accepts them: query string, JSON body, URL-encoded form and
multipart form. Form values are strings, as python-telegram-bot sends them (objects and numbers
JSON-encoded); they are decoded back except for fields that are text by nature.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from .telegram_methods import GET_UPDATES, canonical_name, run_method
from .telegram_model import JSON, ApiError, BotCall, is_token_shaped
from .telegram_state import BotState

# fields whose form value is a string and must not be JSON-decoded ("123" stays "123")
_TEXT_FIELDS = frozenset(
    {
        "text", "caption", "parse_mode", "callback_query_id", "url", "secret_token", "action",
        "language_code", "inline_message_id", "data", "emoji", "query", "ip_address", "name", "description",
        "short_description", "business_connection_id", "message_effect_id", "title", "address", "question",
        "explanation",
    }
)  # fmt: skip
# fields that hold objects; a JSON body may still carry them JSON-encoded as strings
_OBJECT_FIELDS = frozenset(
    {"reply_markup", "reply_parameters", "entities", "caption_entities", "link_preview_options",
     "allowed_updates", "commands", "scope", "menu_button"}
)  # fmt: skip

RecordCall = Callable[[BotCall], None]


def decode_form_value(name: str, value: str) -> Any:
    if name in _TEXT_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def read_params(request: web.Request) -> JSON:
    """Method parameters from the query string and the body, whatever its content type."""
    params: JSON = {k: decode_form_value(k, v) for k, v in request.query.items()}
    if not request.body_exists:
        return params
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError as exc:
            raise ApiError(400, "Bad Request: can't parse JSON object") from exc
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: can't parse JSON object")
        for key, value in body.items():
            if key in _OBJECT_FIELDS and isinstance(value, str):
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            params[key] = value
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                params[key] = decode_form_value(key, value)
            elif isinstance(value, bytes | bytearray):
                params[key] = value.decode(errors="replace")
            else:  # an uploaded file: keep its name, not its bytes
                params[key] = {"uploaded_file": value.filename, "content_type": value.content_type}
    return params


def _json_response(body: Mapping[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body, ensure_ascii=False), content_type="application/json"
    )


class BotApiServer:
    """The aiohttp application answering Bot API requests for the registered bots."""

    def __init__(
        self, bots: Mapping[str, BotState], record: RecordCall, next_index: Callable[[], int]
    ) -> None:
        self._bots = bots
        self._record = record
        self._next_index = next_index
        self.app = web.Application()
        self.app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self.app.router.add_route("*", "/{tail:.*}", self._not_found)

    async def _not_found(self, request: web.Request) -> web.Response:
        return _json_response(ApiError(404, "Not Found").to_json(), 404)

    async def _handle(self, request: web.Request) -> web.Response:
        at = time.monotonic()
        token, method = request.match_info["token"], request.match_info["method"]
        bot = self._bots.get(token)
        if bot is None:
            if is_token_shaped(token):
                return _json_response(ApiError(401, "Unauthorized").to_json(), 401)
            return _json_response(ApiError(404, "Not Found").to_json(), 404)
        name = canonical_name(method) or method
        injected = limited = False
        result: Any = None
        error: ApiError | None
        try:
            params = await read_params(request)
        except ApiError as exc:
            params, error = {}, exc
        else:
            error = None
            fault = bot.take_fault(name, params)
            if fault is not None:
                error, injected = fault.error(), True
            else:
                try:
                    if bot.flood is not None:
                        try:
                            bot.flood.admit(name, params.get("chat_id"), at)
                        except ApiError:
                            limited = True
                            raise
                    if name == GET_UPDATES:
                        result = await bot.get_updates(params)
                    else:
                        # a copy: the stored message may be edited later, the record must not change
                        result = copy.deepcopy(run_method(bot, name, params))
                except ApiError as exc:
                    error = exc
        status = error.status if error else 200
        call = BotCall(
            index=self._next_index(),
            bot_id=bot.identity.id,
            method=name,
            params=params,
            at=at,
            status=status,
            result=result,
            error=error.description if error else None,
            injected=injected,
            limited=limited,
        )
        self._record(call)
        if error is not None:
            return _json_response(error.to_json(), error.status)
        return _json_response({"ok": True, "result": result})
