"""The seams between the IMAP poller and whoever keeps the mail (storage, or `memory` in tests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class FetchedMail:
    """One message as fetched: its UID, when it reached the mailbox (INTERNALDATE, aware) and its bytes."""

    uid: int
    internaldate: datetime
    raw: bytes


class MailCursorStore(Protocol):
    async def load_cursor(self, mailbox: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, last stored UID) of ``mailbox``, or None before the first batch."""
        ...


class MailSink(Protocol):
    async def store_batch(self, mailbox: str, uidvalidity: int, messages: Sequence[FetchedMail]) -> None:
        """Persist ``messages`` (skipping dedup keys already stored) AND set the cursor of ``mailbox``
        to (uidvalidity, max uid of the batch), in ONE transaction. Should that transaction fail, the
        mails may be stored one a transaction, each moving the cursor past itself (a mail that cannot be
        stored is kept for a human); raising leaves the cursor after the last mail stored."""
        ...
