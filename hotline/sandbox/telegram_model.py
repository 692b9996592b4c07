"""Value types of the Telegram Bot API emulator: users, bot identities, recorded calls, injected updates.

Everything here is plain data plus small pure helpers (UTF-16 lengths, command entities, keyboard
inspection). The JSON shapes follow https://core.telegram.org/bots/api so that python-telegram-bot's
``de_json`` accepts them unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

_COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,64})?(?![^\s])")
_TOKEN = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")


class ApiError(Exception):
    """A Bot API error response: HTTP status, Telegram description and optional ``parameters``."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def to_json(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str) -> ApiError:
    """A 400 error worded like Telegram's: ``Bad Request: <detail>``."""
    return ApiError(400, f"Bad Request: {detail}")


def bot_id_of(token: str) -> int:
    """The bot's user id, i.e. the numeric part of a token ``"<id>:<secret>"``."""
    match = _TOKEN.match(token)
    if match is None:
        raise ValueError(f"not a bot token (expected '<digits>:<secret>'): {token!r}")
    return int(match.group(1))


def is_token_shaped(token: str) -> bool:
    return _TOKEN.match(token) is not None


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def command_entities(text: str) -> list[JSON]:
    """``bot_command`` entities for every ``/command`` (or ``/command@bot``) in ``text``."""
    entities: list[JSON] = []
    for match in _COMMAND.finditer(text):
        entities.append(
            {
                "type": "bot_command",
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group(0)),
            }
        )
    return entities


@dataclass(frozen=True, slots=True)
class ChatUser:
    """A Telegram user talking to the bot in a private chat (chat id == user id)."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None

    def to_api(self) -> JSON:
        """The ``User`` object."""
        user: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name is not None:
            user["last_name"] = self.last_name
        if self.username is not None:
            user["username"] = self.username
        if self.language_code is not None:
            user["language_code"] = self.language_code
        return user

    def private_chat(self) -> JSON:
        """The ``Chat`` object of this user's private chat with a bot."""
        chat: JSON = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name is not None:
            chat["last_name"] = self.last_name
        if self.username is not None:
            chat["username"] = self.username
        return chat


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """One emulated bot: its token and the ``User`` returned by ``getMe``."""

    token: str
    username: str
    first_name: str
    id: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", bot_id_of(self.token))

    def to_api(self) -> JSON:
        return {"id": self.id, "is_bot": True, "first_name": self.first_name, "username": self.username}

    def get_me(self) -> JSON:
        return {
            **self.to_api(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }


@dataclass(frozen=True, slots=True)
class Fault:
    """An injected failure for the next call(s) of one method (to one chat, when ``chat_id`` is set);
    see ``TelegramEmulator.fail_next``."""

    status: int
    description: str
    retry_after: int | None = None
    chat_id: int | None = None

    def applies_to(self, params: JSON) -> bool:
        return self.chat_id is None or str(params.get("chat_id")) == str(self.chat_id)

    def error(self) -> ApiError:
        parameters = {"retry_after": self.retry_after} if self.retry_after is not None else None
        return ApiError(self.status, self.description, parameters)


def default_fault_description(status: int, retry_after: int | None) -> str:
    if status == 429:
        return f"Too Many Requests: retry after {retry_after or 1}"
    return {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden: bot was blocked by the user",
        404: "Not Found",
        409: "Conflict",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
    }.get(status, f"Error {status}")


@dataclass(frozen=True, slots=True)
class Button:
    """One inline keyboard button as the user sees it."""

    text: str
    callback_data: str | None = None
    url: str | None = None


def inline_buttons(reply_markup: Mapping[str, Any] | None) -> list[list[Button]]:
    """Rows of inline buttons of a ``reply_markup`` (empty for none or a reply keyboard)."""
    if not reply_markup:
        return []
    rows = reply_markup.get("inline_keyboard") or []
    return [
        [
            Button(str(b.get("text", "")), b.get("callback_data"), b.get("url"))
            for b in row
            if isinstance(b, dict)
        ]
        for row in rows
        if isinstance(row, list)
    ]


def callback_data_of(reply_markup: Mapping[str, Any] | None) -> list[str]:
    return [
        b.callback_data for row in inline_buttons(reply_markup) for b in row if b.callback_data is not None
    ]


@dataclass(frozen=True, slots=True)
class BotMessage:
    """Snapshot of a message the bot sent, in its current (possibly edited) state."""

    chat_id: int
    message_id: int
    text: str | None
    reply_markup: JSON | None
    date: int
    edit_date: int | None = None

    @property
    def buttons(self) -> list[list[Button]]:
        return inline_buttons(self.reply_markup)

    @property
    def button_data(self) -> list[str]:
        return callback_data_of(self.reply_markup)

    @property
    def button_labels(self) -> list[str]:
        return [b.text for row in self.buttons for b in row]


@dataclass(slots=True)
class BotCall:
    """One Bot API request the bot made, as answered by the emulator.

    ``at`` is ``time.monotonic()`` when the request arrived; ``index`` is its position in
    ``TelegramEmulator.calls`` (calls are recorded when answered, so a long ``getUpdates``
    is recorded after the quick calls made while it waited).
    """

    index: int
    bot_id: int
    method: str
    params: Mapping[str, Any]
    at: float
    status: int
    result: Any
    error: str | None = None
    injected: bool = False  # answered by fault injection
    limited: bool = False  # refused by the emulator's flood limits (429, ``telegram_limits``)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        if isinstance(value, int):
            return value
        message = self.message
        return int(message["chat"]["id"]) if message is not None else None

    @property
    def message(self) -> JSON | None:
        """The resulting ``Message`` (sendMessage, editMessageText, forwardMessage …) if any."""
        if isinstance(self.result, dict) and "message_id" in self.result and "chat" in self.result:
            return self.result
        return None

    @property
    def message_id(self) -> int | None:
        """Id of the message sent or edited (copyMessage: the new copy's id)."""
        if isinstance(self.result, dict) and isinstance(self.result.get("message_id"), int):
            return int(self.result["message_id"])
        value = self.params.get("message_id")
        return value if isinstance(value, int) else None

    @property
    def text(self) -> str | None:
        message = self.message
        if message is not None and isinstance(message.get("text"), str):
            return str(message["text"])
        value = self.params.get("text")
        return value if isinstance(value, str) else None

    @property
    def reply_markup(self) -> JSON | None:
        value = self.params.get("reply_markup")
        return value if isinstance(value, dict) else None

    @property
    def button_data(self) -> list[str]:
        return callback_data_of(self.reply_markup)

    def summary(self) -> str:
        """One line for logs and timeout messages."""
        parts = [f"#{self.index} {self.method}"]
        if self.chat_id is not None:
            parts.append(f"chat={self.chat_id}")
        if self.text is not None:
            text = self.text.replace("\n", " ")
            parts.append(repr(text if len(text) <= 60 else text[:57] + "..."))
        if self.button_data:
            parts.append(f"buttons={self.button_data}")
        parts.append("ok" if self.ok else f"-> {self.status} {self.error}")
        return " ".join(parts)


@dataclass(slots=True)
class InjectedUpdate:
    """An update the driver injected (a user's message, button press …).

    ``mark`` is the number of recorded calls at injection time: ``wait_for(..., since=update.mark)``
    finds the bot's reaction even if it already happened. ``at`` is ``time.monotonic()`` at
    injection, ``delivered_at`` when ``getUpdates`` or the webhook first handed it to the bot.
    """

    update_id: int
    bot_id: int
    user_id: int
    kind: str
    payload: JSON
    at: float
    mark: int
    delivered_at: float | None = None
    stale_button: bool = False
    meta: JSON = field(default_factory=dict)

    @property
    def message_id(self) -> int | None:
        body = self.payload.get(self.kind)
        if isinstance(body, dict) and isinstance(body.get("message_id"), int):
            return int(body["message_id"])
        return None

    @property
    def text(self) -> str | None:
        body = self.payload.get(self.kind)
        if isinstance(body, dict):
            for key in ("text", "caption", "data"):
                if isinstance(body.get(key), str):
                    return str(body[key])
        return None

    @property
    def callback_query_id(self) -> str | None:
        query = self.payload.get("callback_query")
        return str(query["id"]) if isinstance(query, dict) else None


EmulatorEvent = InjectedUpdate | BotCall
