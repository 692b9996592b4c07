"""Employees on LINE: the :class:`~hotline.ports.EmployeeChannel` adapter over the Messaging API (v3 SDK).

A LINE recipient's address is the user id (``U…``), stored sealed like a Telegram chat id. The first
send after an event uses that event's reply token while it is fresh (``[line] reply_token_seconds``);
everything else, and a reply whose token LINE refuses (expired or used), goes by push with a retry key.
Buttons become quick replies (``PostbackAction``: labels within 20 characters, data within 300, at most
13), on the last message; a text longer than LINE takes is split, at most 5 messages a request.
A 429 (rate limit) is waited out a few times; the monthly limit, a blocked user and anything else is
:class:`~hotline.errors.ChatUnavailable`.

The messages are LINE's JSON, built here (:func:`messages_for`, the same objects as the SDK's
``TextMessage(...).to_dict()``: checked in the tests) and sent through the SDK's own client
(``ApiClient.call_api``: its authentication, its ``ApiException`` for an error status, its models for
the answer). The SDK's request models cost more than the rest of a reply: each level's ``to_dict`` turns
everything below it into a dict again, and each call validates its request twice; for the consent
notice with its two buttons, about 0.4 ms of the event loop a message (issue 15's benchmark).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from linebot.v3.messaging import ApiException, AsyncMessagingApi

from hotline.domain import Channel
from hotline.errors import ChatUnavailable
from hotline.ports import ButtonRow, Recipient

log = logging.getLogger(__name__)

MAX_TEXT = 5000  # characters in one text message
MAX_MESSAGES = 5  # messages in one reply or push
MAX_QUICK_REPLIES = 13
MAX_LABEL = 20
MAX_DATA = 300
RATE_LIMIT_TRIES = 3
MAX_WAIT = 5.0
MONTHLY_LIMIT = "monthly limit"
NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError)  # raised by the SDK's aiohttp client unwrapped
REPLY = "/v2/bot/message/reply"
PUSH = "/v2/bot/message/push"

Message = dict[str, Any]  # one message object of the Messaging API, as LINE reads it


def line_recipient(user_id: str) -> Recipient:
    return Recipient(Channel.LINE.value, user_id)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """``text`` in pieces LINE accepts, cut at line ends where possible (nothing is cut off)."""
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text or not parts:
        parts.append(text)
    return parts


def quick_reply(choices: Sequence[ButtonRow]) -> dict[str, Any] | None:
    """The quick reply of ``choices``: a postback item each (the label cut to LINE's 20 characters, and
    shown in the chat as the employee's answer), as LINE's JSON."""
    buttons = [(label, data) for row in choices for label, data in row]
    if not buttons:
        return None
    if len(buttons) > MAX_QUICK_REPLIES or any(len(data) > MAX_DATA for _, data in buttons):
        raise ValueError("more than 13 choices, or a choice's data over 300 characters, for LINE")
    return {
        "items": [
            {
                "type": "action",
                "action": {
                    "type": "postback",
                    "label": label[:MAX_LABEL],
                    "data": data,
                    "displayText": label,
                },
            }
            for label, data in buttons
        ]
    }


def messages_for(text: str, choices: Sequence[ButtonRow] = ()) -> list[Message]:
    """``text`` as text messages within LINE's length, ``choices`` on the last one."""
    parts = split_text(text)
    messages: list[Message] = [{"type": "text", "text": part} for part in parts]
    quick = quick_reply(choices)
    if quick is not None:
        messages[-1]["quickReply"] = quick
    return messages


@dataclass
class _Token:
    token: str
    issued: float  # seconds since the epoch (the event's timestamp)


class LineEmployees:
    """:class:`~hotline.ports.EmployeeChannel` for LINE. ``is_blocked(pseudonym)`` asks the database
    whether a user blocked the account (any worker may have seen their unfollow); it is asked before a
    push, not before a reply (a reply token comes with an event of the user's own, so they follow)."""

    channel = Channel.LINE.value

    def __init__(
        self,
        api: AsyncMessagingApi,
        pseudonym: Callable[[str], str],
        reply_token_seconds: float,
        is_blocked: Callable[[str], Awaitable[bool]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = api
        self.pseudonym = pseudonym
        self.lifetime = reply_token_seconds
        self.is_blocked = is_blocked
        self.clock = clock
        self._tokens: dict[str, _Token] = {}

    # -- the reply token of the event being processed ---------------------------------------------
    def offer_reply_token(self, user_id: str, token: str | None, issued: float) -> None:
        """The event being processed for ``user_id`` came with ``token`` (LINE's ``timestamp``, s)."""
        if token:
            self._tokens[user_id] = _Token(token, issued)

    def drop_reply_token(self, user_id: str) -> None:
        self._tokens.pop(user_id, None)

    def _fresh_token(self, user_id: str) -> str | None:
        found = self._tokens.pop(user_id, None)  # single use
        if found is None or self.clock() - found.issued >= self.lifetime:
            return None
        return found.token

    # -- EmployeeChannel ------------------------------------------------------------------------------
    async def send_text(self, to: Recipient, text: str) -> str:
        return await self.send_messages(to, messages_for(text))

    async def send_choices(self, to: Recipient, text: str, choices: Sequence[ButtonRow]) -> str:
        return await self.send_messages(to, messages_for(text, choices))

    async def edit(self, to: Recipient, ref: str, text: str, choices: Sequence[ButtonRow] = ()) -> None:
        """LINE cannot change a sent message: the new text (and choices) is sent as a new one."""
        await self.send_messages(to, messages_for(text, choices))

    # -- sending --------------------------------------------------------------------------------------
    async def send_messages(self, to: Recipient, messages: Sequence[Message]) -> str:
        """Send in order (reply first when a fresh token is there); return the last message's id."""
        user_id = to.address
        ref = ""
        for start in range(0, len(messages), MAX_MESSAGES):
            batch = list(messages[start : start + MAX_MESSAGES])
            token = self._fresh_token(user_id)
            sent = await self._reply(token, batch) if token is not None else None
            if sent is None and await self.is_blocked(self.pseudonym(user_id)):
                raise ChatUnavailable("the LINE user blocked the account")
            ref = sent if sent is not None else await self._push(user_id, batch)
        return ref

    async def reply_only(self, token: str, text: str) -> None:
        """Answer an event outside a one-to-one chat (a group or room): by its reply token, or not at all."""
        await self._reply(token, messages_for(text))

    async def _reply(self, token: str, batch: list[Message]) -> str | None:
        """The reply, or None when LINE refused the token (then the caller pushes)."""
        request = {"replyToken": token, "messages": batch}
        for attempt in range(RATE_LIMIT_TRIES):
            try:
                answer = await self._post(REPLY, request, "ReplyMessageResponse")
                return str(answer.sent_messages[-1].id)
            except ApiException as exc:
                if exc.status == 429 and await self._waited(exc, attempt):
                    continue
                log.info("LINE refused a reply (%s); pushing instead", exc.status)
                return None
            except NETWORK_ERRORS as exc:  # the reply may or may not have gone: a push is safer than nothing
                log.warning("LINE did not answer a reply (%s); pushing instead", type(exc).__name__)
                return None
        return None  # pragma: no cover

    async def _push(self, user_id: str, batch: list[Message]) -> str:
        request = {"to": user_id, "messages": batch}
        retry_key = str(uuid.uuid4())  # the same key on every try: LINE sends it at most once
        for attempt in range(RATE_LIMIT_TRIES):
            try:
                answer = await self._post(
                    PUSH, request, "PushMessageResponse", {"X-Line-Retry-Key": retry_key}
                )
                return str(answer.sent_messages[-1].id)
            except ApiException as exc:
                if exc.status == 409:  # accepted on an earlier try
                    return ""
                retry = exc.status == 429 or (exc.status or 0) >= 500
                if retry and await self._waited(exc, attempt):
                    continue
                raise ChatUnavailable(f"LINE could not push a message (HTTP {exc.status})") from exc
            except NETWORK_ERRORS as exc:  # tried again with the same retry key: LINE sends it at most once
                if attempt < RATE_LIMIT_TRIES - 1:
                    await asyncio.sleep(0.5 * (attempt + 1))
                    continue
                raise ChatUnavailable(f"LINE did not answer a push ({type(exc).__name__})") from exc
        raise ChatUnavailable("LINE could not push a message")  # pragma: no cover

    async def _post(
        self, path: str, body: dict[str, Any], answer: str, headers: dict[str, str] | None = None
    ) -> Any:
        """POST ``body`` (LINE's JSON) to ``path`` through the SDK's client, as its ``reply_message`` and
        ``push_message`` do after building theirs; the answer as the SDK's model named ``answer``."""
        return await self.api.api_client.call_api(
            path,
            "POST",
            {},
            [],
            {"Accept": "application/json", "Content-Type": "application/json", **(headers or {})},
            body=body,
            post_params=[],
            files={},
            response_types_map={"200": answer},
            auth_settings=["Bearer"],
            _return_http_data_only=True,
        )

    async def _waited(self, exc: ApiException, attempt: int) -> bool:
        """Wait before the next try; False when there is none left (or the month's quota is spent)."""
        if attempt == RATE_LIMIT_TRIES - 1 or MONTHLY_LIMIT in str(exc.body or ""):
            return False
        headers = exc.headers or {}
        try:
            wait = float(headers.get("Retry-After", 0.5 * (attempt + 1)))
        except ValueError:
            wait = 0.5 * (attempt + 1)
        await asyncio.sleep(min(wait, MAX_WAIT))
        return True
