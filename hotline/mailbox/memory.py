"""An in-memory `MailCursorStore` + `MailSink` with the storage contract, for tests and the sandbox.

It keeps the contract that makes polling crash-safe: a batch and its cursor are stored together or
not at all, and a message whose dedup key is already stored is not stored again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hotline.mailbox.parse import parse_message
from hotline.mailbox.ports import FetchedMail


@dataclass(frozen=True, slots=True)
class StoredMail:
    mailbox: str
    uidvalidity: int
    mail: FetchedMail
    dedup_key: str


class InMemoryMailStore:
    def __init__(self, *, fail_on_batch: Callable[[int, Sequence[FetchedMail]], bool] | None = None) -> None:
        """``fail_on_batch(batch_number, messages)`` returning True makes that batch raise (a crash)."""
        self.cursors: dict[str, tuple[int, int]] = {}
        self.stored: list[StoredMail] = []
        self.keys: set[str] = set()
        self.batches = 0
        self.fail_on_batch = fail_on_batch
        self._changed = asyncio.Condition()

    async def load_cursor(self, mailbox: str) -> tuple[int, int] | None:
        return self.cursors.get(mailbox)

    async def store_batch(self, mailbox: str, uidvalidity: int, messages: Sequence[FetchedMail]) -> None:
        self.batches += 1
        if self.fail_on_batch is not None and self.fail_on_batch(self.batches, messages):
            raise RuntimeError(f"simulated crash while storing batch {self.batches}")
        new: list[StoredMail] = []
        keys = set(self.keys)
        for mail in messages:
            key = parse_message(mail.raw).dedup_key
            if key not in keys:
                keys.add(key)
                new.append(StoredMail(mailbox, uidvalidity, mail, key))
        # "commit": everything below happens together
        self.stored.extend(new)
        self.keys = keys
        if messages:
            self.cursors[mailbox] = (uidvalidity, max(m.uid for m in messages))
        async with self._changed:
            self._changed.notify_all()

    async def wait_for_count(self, count: int, within: float) -> None:
        """Wait until at least ``count`` messages are stored (TimeoutError after ``within`` s)."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self.stored) >= count)
