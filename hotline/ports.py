"""Narrow seams between the service and the outside world, declared together.

A chat gateway sends and edits messages in Telegram, where the counselors' console lives (counselors are
addressed by their Telegram id). Employees are reached through an :class:`EmployeeChannel`, one adapter
per channel (Telegram, LINE, e-mail), addressed by an opaque :class:`Recipient`; the chat adapters are
registered in :class:`hotline.channels.EmployeeChannels`, the e-mail one
(``hotline.station.mail_channel.MailReplies``) is made per reply, bound to the thread, the kind of mail
and the caller's unit of work. The service renders texts and buttons; neither port knows anything about
cases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
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

    async def send_in_turn(
        self, chat_id: int, messages: Callable[[], Sequence[tuple[str, Sequence[ButtonRow]]]]
    ) -> list[str | None]:
        """Wait for the chat's next turn under the flood limits, then send what ``messages()`` returns
        at that moment (each within the channel's size limits), in order; one reference per message
        (None: that one failed, logged)."""
        ...


@dataclass(frozen=True, slots=True)
class Recipient:
    """An employee on a channel, as an opaque handle: the channel's name (``Channel`` value) and the
    channel's own id for them as text (a Telegram chat id, a LINE user id, an e-mail address). Only the
    adapter of that channel reads ``address``; the service stores it sealed (``Employee.contact_enc``)
    and passes it on."""

    channel: str
    address: str


class EmployeeChannel(Protocol):
    """One employee-facing channel: all the service needs to reach an employee there."""

    @property
    def channel(self) -> str:
        """The ``Channel`` value this adapter serves (``Recipient.channel`` of its recipients)."""
        ...

    async def send_text(self, to: Recipient, text: str) -> str:
        """Send a message; return a reference that :meth:`edit` accepts. Raises ``ChannelError``."""
        ...

    async def send_choices(self, to: Recipient, text: str, choices: Sequence[ButtonRow]) -> str:
        """Send a message with buttons (rows of (label, data)); a press comes back as ``Pressed(data)``."""
        ...

    async def edit(self, to: Recipient, ref: str, text: str, choices: Sequence[ButtonRow] = ()) -> None:
        """Replace the text (and buttons) of a message sent earlier, where the channel can."""
        ...
