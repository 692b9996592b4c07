"""Narrow seams between the service and the outside world, declared together.

A chat gateway sends and edits messages in a chat channel (Telegram today, LINE later). The service
renders texts and buttons; the gateway knows nothing about cases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

ButtonRow = Sequence[tuple[str, str]]  # (label, callback data)
Clock = Callable[[], datetime]


class ChatGateway(Protocol):
    async def send(self, chat_id: int, text: str, buttons: Sequence[ButtonRow] = ()) -> str:
        """Send a message; return a reference that :meth:`edit` accepts."""
        ...

    async def edit(self, chat_id: int, ref: str, text: str, buttons: Sequence[ButtonRow] = ()) -> None:
        """Replace the text (and buttons) of a message sent earlier."""
        ...
