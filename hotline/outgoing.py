"""A message decided inside a transaction, to be sent once it has committed."""

from __future__ import annotations

from dataclasses import dataclass

from hotline.ports import ButtonRow, Recipient


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to send once the transaction that decided it has committed: to a Telegram chat by id (a
    counselor, or an employee on Telegram), or to an employee of any channel by :class:`Recipient`."""

    chat_id: int | Recipient
    text: str
    buttons: tuple[ButtonRow, ...] = ()


__all__ = ["Outgoing"]
