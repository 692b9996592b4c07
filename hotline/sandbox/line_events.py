"""Webhook event objects as LINE sends them (https://developers.line.biz/en/reference/messaging-api/#webhook-event-objects).

Pure builders: each returns the event without ``deliveryContext`` (added per delivery, so a redelivery
differs only in ``isRedelivery``). ``common`` carries ``type``, ``mode``, ``timestamp``, ``source`` and
``webhookEventId``; the builders add what their type needs.
"""

from __future__ import annotations

import os

from .line_model import JSON, Chat, LineGroup, LineUser, new_ulid


def source_of(chat: Chat, user: LineUser | None) -> JSON:
    if isinstance(chat, LineGroup):
        return chat.source(user)
    return {"type": "user", "userId": chat.user_id}


def common(kind: str, chat: Chat, user: LineUser | None, now: float) -> JSON:
    return {
        "type": kind,
        "mode": "active",
        "timestamp": int(now * 1000),
        "source": source_of(chat, user),
        "webhookEventId": new_ulid(now),
    }


def message_id() -> str:
    return str(int.from_bytes(os.urandom(7)))


def text_content(text: str) -> JSON:
    return {"type": "text", "id": message_id(), "quoteToken": os.urandom(12).hex(), "text": text}


def sticker_content(package_id: str, sticker_id: str) -> JSON:
    return {
        "type": "sticker",
        "id": message_id(),
        "quoteToken": os.urandom(12).hex(),
        "packageId": package_id,
        "stickerId": sticker_id,
        "stickerResourceType": "STATIC",
    }


def image_content() -> JSON:
    return {
        "type": "image",
        "id": message_id(),
        "quoteToken": os.urandom(12).hex(),
        "contentProvider": {"type": "line"},
    }


def postback_body(data: str, params: dict[str, str] | None) -> JSON:
    body: JSON = {"data": data}
    if params:
        body["params"] = params
    return {"postback": body}


def follow_body(unblocked: bool) -> JSON:
    return {"follow": {"isUnblocked": unblocked}}


def members_body(users: tuple[LineUser, ...], key: str) -> JSON:
    return {key: {"members": [{"type": "user", "userId": u.user_id} for u in users]}}
