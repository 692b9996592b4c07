"""Bot API method handlers of the emulator (everything except the long-polling ``getUpdates``).

Each handler takes the bot's state and the decoded parameters and returns the ``result`` value, or
raises ``ApiError`` with Telegram's wording. ``METHODS`` maps lower-cased names to handlers, since
Telegram matches method names case-insensitively.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .telegram_format import message_text_fields
from .telegram_model import JSON, ApiError, bad_request
from .telegram_state import DEFAULT_MAX_CONNECTIONS, MAX_CONNECTIONS_LIMIT, BotState, Chat, Webhook

Handler = Callable[[BotState, JSON], Any]

_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a "
    "current content and reply markup of the message"
)


def _validate_markup(markup: Any) -> JSON | None:
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is not None:
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
            )
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise bad_request(
                        "can't parse inline keyboard button: Text buttons are unallowed in the "
                        "inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and not (isinstance(data, str) and 1 <= len(data.encode()) <= 64):
                    raise bad_request("BUTTON_DATA_INVALID")
        if not any(rows):
            return None
    return markup


def _new_message(bot: BotState, chat: Chat, params: JSON, body: JSON) -> JSON:
    message: JSON = {
        "message_id": chat.take_message_id(),
        "from": bot.identity.to_api(),
        "chat": chat.user.private_chat(),
        "date": bot.now(),
        **body,
    }
    reply_to = params.get("reply_to_message_id")
    reply_parameters = params.get("reply_parameters")
    allow_without = bool(params.get("allow_sending_without_reply"))
    if isinstance(reply_parameters, dict):
        reply_to = reply_parameters.get("message_id")
        allow_without = allow_without or bool(reply_parameters.get("allow_sending_without_reply"))
    if reply_to is not None:
        original = chat.messages.get(reply_to) if isinstance(reply_to, int) else None
        if original is not None:
            message["reply_to_message"] = {k: v for k, v in original.items() if k != "reply_to_message"}
        elif not allow_without:
            raise bad_request("message to be replied not found")
    markup = _validate_markup(params.get("reply_markup"))
    if markup is not None and "inline_keyboard" in markup:
        message["reply_markup"] = markup
    chat.messages[message["message_id"]] = message
    chat.bot_message_ids.append(message["message_id"])
    return message


def send_message(bot: BotState, params: JSON) -> JSON:
    chat = bot.writable_chat(params.get("chat_id"))
    text, entities = message_text_fields(params)
    body: JSON = {"text": text}
    if entities:
        body["entities"] = entities
    return _new_message(bot, chat, params, body)


def _editable(bot: BotState, params: JSON) -> JSON:
    if params.get("inline_message_id") is not None:
        raise bad_request("MESSAGE_ID_INVALID")
    chat_id, message_id = params.get("chat_id"), params.get("message_id")
    if chat_id is None:
        raise bad_request("chat_id is empty")
    if message_id is None:
        raise bad_request("message identifier is not specified")
    message = bot.find_message(chat_id, message_id)
    if message is None:
        raise bad_request("message to edit not found")
    if message.get("from", {}).get("id") != bot.identity.id:
        raise bad_request("message can't be edited")
    return message


def _apply_edit(bot: BotState, message: JSON, changes: JSON) -> JSON:
    current = {k: message.get(k) for k in changes}
    if current == changes:
        raise bad_request(_NOT_MODIFIED)
    for key, value in changes.items():
        if value is None:
            message.pop(key, None)
        else:
            message[key] = value
    message["edit_date"] = bot.now()
    return message


def edit_message_text(bot: BotState, params: JSON) -> JSON:
    message = _editable(bot, params)
    if "text" not in message:
        raise bad_request("there is no text in the message to edit")
    text, entities = message_text_fields(params)
    markup = _validate_markup(params.get("reply_markup"))
    changes = {"text": text, "entities": entities or None, "reply_markup": markup}
    return _apply_edit(bot, message, changes)


def edit_message_reply_markup(bot: BotState, params: JSON) -> JSON:
    message = _editable(bot, params)
    return _apply_edit(bot, message, {"reply_markup": _validate_markup(params.get("reply_markup"))})


def delete_message(bot: BotState, params: JSON) -> bool:
    if bot.find_message(params.get("chat_id"), params.get("message_id")) is None:
        raise bad_request("message to delete not found")
    del bot.chats[params["chat_id"]].messages[params["message_id"]]
    return True


def _source(bot: BotState, params: JSON, what: str) -> JSON:
    message = bot.find_message(params.get("from_chat_id"), params.get("message_id"))
    if message is None:
        raise bad_request(f"message to {what} not found")
    return message


_CONTENT_KEYS = ("text", "entities", "caption", "caption_entities", "photo", "sticker", "voice", "document")


def copy_message(bot: BotState, params: JSON) -> JSON:
    chat = bot.writable_chat(params.get("chat_id"))
    source = _source(bot, params, "copy")
    body = {k: source[k] for k in _CONTENT_KEYS if k in source}
    if "caption" in params and "text" not in body:
        body["caption"] = params["caption"]
    message = _new_message(bot, chat, params, body)
    return {"message_id": message["message_id"]}


def forward_message(bot: BotState, params: JSON) -> JSON:
    chat = bot.writable_chat(params.get("chat_id"))
    source = _source(bot, params, "forward")
    body = {k: source[k] for k in _CONTENT_KEYS if k in source}
    sender = source.get("from", {})
    body["forward_origin"] = {"type": "user", "sender_user": sender, "date": source.get("date", bot.now())}
    body["forward_from"] = sender
    body["forward_date"] = source.get("date", bot.now())
    params = {k: v for k, v in params.items() if k != "reply_markup"}
    return _new_message(bot, chat, params, body)


def answer_callback_query(bot: BotState, params: JSON) -> bool:
    query_id = params.get("callback_query_id")
    key = str(query_id) if query_id is not None else ""
    if bot.callback_queries.get(key, True):
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    bot.callback_queries[key] = True
    return True


def _commands_key(params: JSON) -> tuple[str, str]:
    scope = params.get("scope") or {"type": "default"}
    language = params.get("language_code") or ""
    return json.dumps(scope, sort_keys=True), str(language)


def set_my_commands(bot: BotState, params: JSON) -> bool:
    commands = params.get("commands")
    if not isinstance(commands, list):
        raise bad_request('parameter "commands" is required')
    for command in commands:
        name = command.get("command") if isinstance(command, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 32 or not name.replace("_", "").isalnum():
            raise bad_request("BOT_COMMAND_INVALID")
        if not command.get("description"):
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    bot.commands[_commands_key(params)] = [dict(c) for c in commands]
    return True


def get_my_commands(bot: BotState, params: JSON) -> list[JSON]:
    return list(bot.commands.get(_commands_key(params), []))


def delete_my_commands(bot: BotState, params: JSON) -> bool:
    bot.commands.pop(_commands_key(params), None)
    return True


def send_chat_action(bot: BotState, params: JSON) -> bool:
    bot.writable_chat(params.get("chat_id"))
    if not params.get("action"):
        raise bad_request("action is empty")
    return True


def clamp_max_connections(value: Any) -> int:
    """``setWebhook``'s ``max_connections``: 1-100, 40 when absent or not a number (as the Bot API
    server's ``get_integer_arg`` reads it)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        return DEFAULT_MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS_LIMIT, value))


def set_webhook(bot: BotState, params: JSON) -> bool:
    url = params.get("url")
    if not url:
        bot.webhook = None
    else:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            bot.allowed_updates = [str(a) for a in allowed] or None
        secret = params.get("secret_token")
        hook = Webhook(
            url,
            secret_token=str(secret) if secret else None,
            max_connections=clamp_max_connections(params.get("max_connections")),
            allowed_updates=bot.allowed_updates,
        )
        old = bot.webhook
        same = old is not None and (old.url, old.secret_token, old.max_connections, old.allowed_updates) == (
            hook.url, hook.secret_token, hook.max_connections, hook.allowed_updates
        )  # fmt: skip
        if not same:  # as Telegram: set again unchanged, the webhook (and its last error) stays as it is
            bot.webhook = hook
    if params.get("drop_pending_updates") is True:
        bot.drop_pending()
    bot.wake()
    return True


def delete_webhook(bot: BotState, params: JSON) -> bool:
    return set_webhook(bot, {"url": "", "drop_pending_updates": params.get("drop_pending_updates")})


def get_webhook_info(bot: BotState, params: JSON) -> JSON:
    hook = bot.webhook
    info: JSON = {
        "url": hook.url if hook else "",
        "has_custom_certificate": False,
        "pending_update_count": len(bot.pending),
    }
    if hook is not None:
        info["max_connections"] = hook.max_connections
        if hook.allowed_updates:
            info["allowed_updates"] = hook.allowed_updates
        if hook.last_error_date is not None:
            info["last_error_date"] = hook.last_error_date
            info["last_error_message"] = hook.last_error_message
    return info


def get_chat(bot: BotState, params: JSON) -> JSON:
    chat_id = params.get("chat_id")
    user = bot.users.get(chat_id) if isinstance(chat_id, int) else None
    if user is None or chat_id not in bot.started:
        raise bad_request("chat not found")
    return {**user.private_chat(), "accent_color_id": 0, "max_reaction_count": 11}


METHODS: dict[str, tuple[str, Handler]] = {
    name.lower(): (name, handler)
    for name, handler in {
        "getMe": lambda bot, _: bot.identity.get_me(),
        "sendMessage": send_message,
        "editMessageText": edit_message_text,
        "editMessageReplyMarkup": edit_message_reply_markup,
        "deleteMessage": delete_message,
        "copyMessage": copy_message,
        "forwardMessage": forward_message,
        "answerCallbackQuery": answer_callback_query,
        "setMyCommands": set_my_commands,
        "getMyCommands": get_my_commands,
        "deleteMyCommands": delete_my_commands,
        "sendChatAction": send_chat_action,
        "setWebhook": set_webhook,
        "deleteWebhook": delete_webhook,
        "getWebhookInfo": get_webhook_info,
        "getChat": get_chat,
        "close": lambda bot, _: True,
        "logOut": lambda bot, _: True,
    }.items()
}

GET_UPDATES = "getUpdates"


def canonical_name(method: str) -> str | None:
    """Telegram's spelling of ``method`` (matched case-insensitively), or None when unknown."""
    if method.lower() == GET_UPDATES.lower():
        return GET_UPDATES
    entry = METHODS.get(method.lower())
    return entry[0] if entry else None


def run_method(bot: BotState, name: str, params: JSON) -> Any:
    entry = METHODS.get(name.lower())
    if entry is None:
        raise ApiError(404, "Not Found: method not found")
    return entry[1](bot, params)
