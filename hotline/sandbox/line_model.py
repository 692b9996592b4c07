"""Plain data of the LINE Messaging API emulator: users and chats, recorded API calls, webhook events,
LINE's error bodies and the webhook signature.

Shapes follow LINE's API reference (https://developers.line.biz/en/reference/messaging-api/) as the
line-bot-sdk v3 models read them: ids are ``U``/``C``/``R`` + 32 hex digits, events carry
``webhookEventId`` (a ULID), ``deliveryContext.isRedelivery``, ``mode`` and a millisecond ``timestamp``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Literal

JSON = dict[str, Any]
ChatKind = Literal["user", "group", "room"]

# LINE's error messages (the "message" of an error body)
AUTH_FAILED = "Authentication failed. Confirm that the access token in the authorization header is valid."
AUTH_MISSING = "Authorization header required. Must follow the scheme, 'Authorization: Bearer <ACCESS TOKEN>'"
RATE_LIMITED = "The API rate limit has been exceeded. Try again later."
MONTHLY_LIMIT = "You have reached your monthly limit."
INVALID_REPLY_TOKEN = "Invalid reply token"
RETRY_KEY_ACCEPTED = "The retry key is already accepted"
FAILED_TO_SEND = "Failed to send messages"
NOT_FOUND = "Not found"
_DEFAULT_MESSAGES = {
    400: "The request body has 1 error(s)",
    401: AUTH_FAILED,
    403: "Access to this API is not available for your account",
    404: NOT_FOUND,
    409: RETRY_KEY_ACCEPTED,
    429: RATE_LIMITED,
    500: "Internal server error",
}


def default_error_message(status: int) -> str:
    return _DEFAULT_MESSAGES.get(status, "Internal server error" if status >= 500 else "Bad request")


class LineApiError(Exception):
    """An error answer: ``{"message": ..., "details": [{"message", "property"}]}`` with an HTTP status."""

    def __init__(
        self, status: int, message: str, details: list[JSON] | None = None, *, sent: list[JSON] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.details, self.sent = status, message, details or [], sent

    def to_json(self) -> JSON:
        body: JSON = {"message": self.message}
        if self.details:
            body["details"] = self.details
        if self.sent:
            body["sentMessages"] = self.sent
        return body

    @classmethod
    def invalid_body(cls, details: list[JSON]) -> LineApiError:
        return cls(400, f"The request body has {len(details)} error(s)", details)


def sign(secret: str, body: bytes) -> str:
    """The ``X-Line-Signature`` of ``body``: base64 of HMAC-SHA256 keyed with the channel secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid(now: float | None = None) -> str:
    """A ULID (26 Crockford base-32 characters: 48-bit milliseconds, 80 random bits), as LINE's event ids."""
    value = (int((time.time() if now is None else now) * 1000) << 80) | int.from_bytes(os.urandom(10))
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def new_id(prefix: str) -> str:
    """A LINE id: ``U`` (user), ``C`` (group), ``R`` (room) + 32 lower-case hex digits."""
    return prefix + os.urandom(16).hex()


def is_chat_id(value: object) -> bool:
    if not isinstance(value, str) or len(value) != 33 or value[0] not in "UCR":
        return False
    return all(c in "0123456789abcdef" for c in value[1:])


@dataclass(frozen=True, slots=True)
class LineUser:
    """A LINE user of the emulated world (``user_id`` is what the bot sees; the name is their profile's)."""

    user_id: str
    display_name: str
    language: str = "zh-TW"

    @property
    def chat_id(self) -> str:
        return self.user_id

    def profile(self) -> JSON:
        return {"userId": self.user_id, "displayName": self.display_name, "language": self.language}


@dataclass(frozen=True, slots=True)
class LineGroup:
    """A group chat (``kind="group"``, id ``C...``) or a multi-person room (``kind="room"``, id ``R...``)."""

    chat_id: str
    kind: Literal["group", "room"]
    members: tuple[LineUser, ...] = ()

    def source(self, user: LineUser | None) -> JSON:
        key = "groupId" if self.kind == "group" else "roomId"
        source: JSON = {"type": self.kind, key: self.chat_id}
        if user is not None:
            source["userId"] = user.user_id
        return source


Chat = LineUser | LineGroup


def chat_id_of(chat: Chat | str) -> str:
    return chat if isinstance(chat, str) else chat.chat_id


@dataclass(slots=True)
class DeliveryAttempt:
    """One POST of an event to the webhook (or a dropped one: ``status`` None, ``failure`` "dropped")."""

    at: float
    redelivery: bool
    status: int | None
    failure: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(slots=True)
class LineEvent:
    """A webhook event the emulator made (the driver's return value) and what became of its delivery."""

    payload: JSON  # the event object, without deliveryContext (added per delivery)
    chat_id: str  # where a reply goes: the user, group or room
    user: LineUser | None
    mark: int  # len(calls) when it was made: pass as since= to wait for what followed
    at: float  # time.monotonic() when made
    attempts: list[DeliveryAttempt] = field(default_factory=list)

    @property
    def type(self) -> str:
        return str(self.payload["type"])

    @property
    def webhook_event_id(self) -> str:
        return str(self.payload["webhookEventId"])

    @property
    def reply_token(self) -> str | None:
        token = self.payload.get("replyToken")
        return token if isinstance(token, str) else None

    @property
    def delivered(self) -> bool:
        """True once the webhook answered 2xx to one of the deliveries."""
        return any(a.ok for a in self.attempts)

    def to_json(self, *, redelivery: bool) -> JSON:
        return {**self.payload, "deliveryContext": {"isRedelivery": redelivery}}


@dataclass(frozen=True, slots=True)
class LineCall:
    """One request the bot made to the emulated API, as answered (``status``, ``error``)."""

    index: int
    endpoint: str  # "reply", "push", "profile", ... (the last path segment that names the operation)
    method: str
    path: str
    body: JSON
    at: float
    status: int
    response: JSON
    to: str | None = None  # the chat the messages went to (reply: resolved from the token)
    injected: bool = False  # the error came from fail_next

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def messages(self) -> list[JSON]:
        found = self.body.get("messages")
        return [m for m in found if isinstance(m, dict)] if isinstance(found, list) else []

    @property
    def texts(self) -> list[str]:
        return [str(m.get("text", m.get("altText", ""))) for m in self.messages]

    @property
    def error(self) -> str | None:
        return None if self.ok else str(self.response.get("message"))

    def summary(self) -> str:
        state = "ok" if self.ok else f"{self.status} {self.error}"
        shown = " | ".join(t[:40] for t in self.texts)
        return f"#{self.index} {self.endpoint} to={self.to} [{state}] {shown}"


@dataclass(frozen=True, slots=True)
class Received:
    """A message a chat received from the bot (``via`` "reply" or "push"), in the form the bot sent it."""

    chat_id: str
    message: JSON
    via: str
    call_index: int
    message_id: str

    @property
    def type(self) -> str:
        return str(self.message.get("type"))

    @property
    def text(self) -> str | None:
        text = self.message.get("text", self.message.get("altText"))
        return text if isinstance(text, str) else None

    def actions(self) -> list[JSON]:
        """Tappable actions: quick-reply items, then template buttons / confirm choices."""
        found: list[JSON] = []
        quick = self.message.get("quickReply")
        if isinstance(quick, dict):
            found += [i["action"] for i in quick.get("items", []) if isinstance(i, dict) and "action" in i]
        template = self.message.get("template")
        if isinstance(template, dict):
            found += [a for a in template.get("actions", []) if isinstance(a, dict)]
        return found

    @property
    def labels(self) -> list[str]:
        return [str(a.get("label", "")) for a in self.actions()]


def dumps(body: JSON) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
