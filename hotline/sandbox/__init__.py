"""Offline stand-ins for the outside world, for the demo and the tests.

``TelegramEmulator`` emulates the Telegram Bot API on loopback (see ``telegram_api``).
"""

from .telegram_api import DEFAULT_TOKEN, TelegramEmulator
from .telegram_log import EventStream
from .telegram_model import BotCall, BotIdentity, BotMessage, Button, ChatUser, EmulatorEvent, InjectedUpdate

__all__ = [
    "DEFAULT_TOKEN",
    "BotCall",
    "BotIdentity",
    "BotMessage",
    "Button",
    "ChatUser",
    "EmulatorEvent",
    "EventStream",
    "InjectedUpdate",
    "TelegramEmulator",
]
