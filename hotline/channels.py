"""The employee channels the service runs, by name: where a message to a :class:`Recipient` goes.

Each channel is one adapter behind :class:`~hotline.ports.EmployeeChannel` (Telegram:
``hotline.bot.telegram_employees.TelegramEmployees``). ``app.py`` registers one per configured channel;
a third channel is one more adapter and one :meth:`EmployeeChannels.register` call.
"""

from __future__ import annotations

from collections.abc import Sequence

from hotline.errors import ChannelError
from hotline.ports import ButtonRow, EmployeeChannel, Recipient


class EmployeeChannels:
    def __init__(self, *adapters: EmployeeChannel) -> None:
        self._by_name: dict[str, EmployeeChannel] = {}
        for adapter in adapters:
            self.register(adapter)

    def register(self, adapter: EmployeeChannel) -> None:
        """Serve ``adapter.channel`` with ``adapter``; a channel is served by one adapter only."""
        if adapter.channel in self._by_name:
            raise ValueError(f"channel {adapter.channel!r} already has an adapter")
        self._by_name[adapter.channel] = adapter

    def __contains__(self, channel: str) -> bool:
        return channel in self._by_name

    def adapter(self, channel: str) -> EmployeeChannel:
        try:
            return self._by_name[channel]
        except KeyError:
            raise ChannelError(f"no adapter for the {channel!r} channel") from None

    async def send(self, to: Recipient, text: str, choices: Sequence[ButtonRow] = ()) -> str:
        adapter = self.adapter(to.channel)
        if choices:
            return await adapter.send_choices(to, text, choices)
        return await adapter.send_text(to, text)

    async def edit(self, to: Recipient, ref: str, text: str, choices: Sequence[ButtonRow] = ()) -> None:
        await self.adapter(to.channel).edit(to, ref, text, choices)
