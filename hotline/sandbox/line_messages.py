"""Validation of message objects as LINE checks them (reply and push bodies).

Each problem is one ``{"message": ..., "property": ...}`` detail, as in LINE's 400 answers
("The request body has N error(s)"). Checked: 1–5 messages; text (1–5,000 characters);
quickReply (1–13 items, each an action with a label of at most 20 characters); postback / message /
uri / datetimepicker actions; buttons and confirm templates; flex (altText and contents present);
sticker. Other message types (image, video, audio, location, imagemap) are accepted as sent.
"""

from __future__ import annotations

from typing import Any

from .line_model import JSON

MAX_MESSAGES = 5
MAX_TEXT = 5000
MAX_QUICK_REPLY_ITEMS = 13
MAX_LABEL = 20
MAX_POSTBACK_DATA = 300
MAX_ALT_TEXT = 1500
MESSAGE_TYPES = frozenset(
    {"text", "sticker", "image", "video", "audio", "location", "imagemap", "template", "flex", "textV2"}
)
ACTION_TYPES = frozenset(
    {"postback", "message", "uri", "datetimepicker", "camera", "cameraRoll", "location", "richmenuswitch",
     "clipboard"}
)  # fmt: skip


def _detail(message: str, prop: str) -> JSON:
    return {"message": message, "property": prop}


def _length(value: Any, low: int, high: int, prop: str, out: list[JSON]) -> None:
    if not isinstance(value, str) or not value:
        out.append(_detail("must be specified" if low else "must be a string", prop))
    elif not low <= len(value) <= high:
        out.append(_detail(f"Length must be between {low} and {high}", prop))


def check_action(action: Any, prop: str, out: list[JSON], *, label_required: bool) -> None:
    if not isinstance(action, dict):
        out.append(_detail("must be specified", prop))
        return
    kind = action.get("type")
    if kind not in ACTION_TYPES:
        out.append(_detail(f"must be one of the following values: {sorted(ACTION_TYPES)}", f"{prop}.type"))
        return
    if "label" in action or label_required:
        _length(action.get("label"), 1, MAX_LABEL, f"{prop}.label", out)
    if kind == "postback":
        _length(action.get("data"), 1, MAX_POSTBACK_DATA, f"{prop}.data", out)
        if "displayText" in action:
            _length(action["displayText"], 1, 300, f"{prop}.displayText", out)
    elif kind == "message":
        _length(action.get("text"), 1, 300, f"{prop}.text", out)
    elif kind == "uri":
        _length(action.get("uri"), 1, 1000, f"{prop}.uri", out)
    elif kind == "datetimepicker":
        _length(action.get("data"), 1, MAX_POSTBACK_DATA, f"{prop}.data", out)
        if action.get("mode") not in ("date", "time", "datetime"):
            out.append(_detail("must be one of the following values: [date, time, datetime]", f"{prop}.mode"))


def _check_quick_reply(quick: Any, prop: str, out: list[JSON]) -> None:
    items = quick.get("items") if isinstance(quick, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_QUICK_REPLY_ITEMS:
        out.append(_detail(f"Size must be between 1 and {MAX_QUICK_REPLY_ITEMS}", f"{prop}.items"))
        return
    for i, item in enumerate(items):
        where = f"{prop}.items[{i}]"
        if not isinstance(item, dict) or item.get("type") != "action":
            out.append(_detail("must be 'action'", f"{where}.type"))
            continue
        check_action(item.get("action"), f"{where}.action", out, label_required=True)


def _check_template(template: Any, prop: str, out: list[JSON]) -> None:
    if not isinstance(template, dict):
        out.append(_detail("must be specified", prop))
        return
    kind, actions = template.get("type"), template.get("actions")
    if kind == "buttons":
        limit, text_max = (1, 4), 60 if ("title" in template or "thumbnailImageUrl" in template) else 160
    elif kind == "confirm":
        limit, text_max = (2, 2), 240
    elif kind in ("carousel", "image_carousel"):
        if not isinstance(template.get("columns"), list) or not 1 <= len(template["columns"]) <= 10:
            out.append(_detail("Size must be between 1 and 10", f"{prop}.columns"))
        return
    else:
        out.append(_detail("must be one of the following values: [buttons, confirm, carousel, image_carousel]", f"{prop}.type"))  # fmt: skip
        return
    _length(template.get("text"), 1, text_max, f"{prop}.text", out)
    if not isinstance(actions, list) or not limit[0] <= len(actions) <= limit[1]:
        out.append(_detail(f"Size must be between {limit[0]} and {limit[1]}", f"{prop}.actions"))
        return
    for i, action in enumerate(actions):
        check_action(action, f"{prop}.actions[{i}]", out, label_required=True)


def check_message(message: Any, prop: str, out: list[JSON]) -> None:
    if not isinstance(message, dict):
        out.append(_detail("must be specified", prop))
        return
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        out.append(_detail(f"must be one of the following values: {sorted(MESSAGE_TYPES)}", f"{prop}.type"))
        return
    if kind in ("text", "textV2"):
        _length(message.get("text"), 1, MAX_TEXT, f"{prop}.text", out)
    elif kind in ("template", "flex"):
        _length(message.get("altText"), 1, MAX_ALT_TEXT if kind == "flex" else 400, f"{prop}.altText", out)
        if kind == "template":
            _check_template(message.get("template"), f"{prop}.template", out)
        elif not isinstance(message.get("contents"), dict):
            out.append(_detail("must be specified", f"{prop}.contents"))
    elif kind == "sticker":
        for key in ("packageId", "stickerId"):
            if not isinstance(message.get(key), str):
                out.append(_detail("must be specified", f"{prop}.{key}"))
    if "quickReply" in message:
        _check_quick_reply(message["quickReply"], f"{prop}.quickReply", out)


def check_messages(messages: Any) -> list[JSON]:
    """Every problem of a ``messages`` array (empty when LINE would accept it)."""
    out: list[JSON] = []
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        return [_detail(f"Size must be between 1 and {MAX_MESSAGES}", "messages")]
    for i, message in enumerate(messages):
        check_message(message, f"messages[{i}]", out)
    return out
