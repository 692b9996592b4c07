"""Offline stand-ins for the outside world, for the demo and the tests.

``TelegramEmulator`` emulates the Telegram Bot API on loopback (see ``telegram_api``);
``LineEmulator`` the LINE Messaging API and its webhook sender (see ``line_api``).
"""

from .line_api import DEFAULT_ACCESS_TOKEN, DEFAULT_CHANNEL_SECRET, LineEmulator
from .line_model import DeliveryAttempt, LineCall, LineEvent, LineGroup, LineUser, Received
from .telegram_api import DEFAULT_TOKEN, TelegramEmulator
from .telegram_log import EventStream
from .telegram_model import BotCall, BotIdentity, BotMessage, Button, ChatUser, EmulatorEvent, InjectedUpdate

__all__ = [
    "DEFAULT_ACCESS_TOKEN",
    "DEFAULT_CHANNEL_SECRET",
    "DEFAULT_TOKEN",
    "BotCall",
    "BotIdentity",
    "BotMessage",
    "Button",
    "ChatUser",
    "DeliveryAttempt",
    "EmulatorEvent",
    "EventStream",
    "InjectedUpdate",
    "LineCall",
    "LineEmulator",
    "LineEvent",
    "LineGroup",
    "LineUser",
    "Received",
    "TelegramEmulator",
]
