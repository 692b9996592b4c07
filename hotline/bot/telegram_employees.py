"""Employees on Telegram: the :class:`~hotline.ports.EmployeeChannel` adapter over the chat gateway.

A Telegram recipient's address is the chat id as text (as stored sealed in ``Employee.contact_enc``).
"""

from __future__ import annotations

from collections.abc import Sequence

from hotline.domain import Channel
from hotline.ports import ButtonRow, ChatGateway, Recipient


def telegram_recipient(chat_id: int | str) -> Recipient:
    return Recipient(Channel.TELEGRAM.value, str(chat_id))


class TelegramEmployees:
    channel = Channel.TELEGRAM.value

    def __init__(self, gateway: ChatGateway) -> None:
        self.gateway = gateway

    async def send_text(self, to: Recipient, text: str) -> str:
        return await self.gateway.send(int(to.address), text)

    async def send_choices(self, to: Recipient, text: str, choices: Sequence[ButtonRow]) -> str:
        return await self.gateway.send(int(to.address), text, choices)

    async def edit(self, to: Recipient, ref: str, text: str, choices: Sequence[ButtonRow] = ()) -> None:
        await self.gateway.edit(int(to.address), ref, text, choices)
