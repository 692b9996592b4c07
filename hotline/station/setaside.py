"""When a batch of received mail cannot be stored: store its mails one at a time, and set aside for a
human each mail that still cannot be stored, so that intake goes on (issue 12).

A batch is one transaction (`station.sink`): one mail the database refuses (a constraint, a bug, a
value it cannot hold) would roll the whole batch back, and every later poll would meet the same mail
again and fail the same way, so no mail after it would ever be taken in. Here the batch is retried a
mail a transaction; a mail whose own transaction fails is kept as its encrypted bytes alone, marked
``needs_human`` (no case, no reply), the cursor moves past it, and the counselors on duty are told. Only
when even that cannot be written (the database is down) does the error go up, and the cursor stays,
so the next poll tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.crypto import MAIL_CONTEXT
from hotline.mailbox.parse import ParsedMail, parse_message
from hotline.mailbox.ports import FetchedMail
from hotline.station.batch import After, inbound_row
from hotline.storage.models import Mail, MailCursor
from hotline.storage.repo import Store

log = logging.getLogger(__name__)

StoreBatch = Callable[[str, int, Sequence[FetchedMail], Sequence[ParsedMail] | None], Awaitable[After]]


async def store_each(
    store: StoreBatch,
    set_aside: SetAside,
    mailbox: str,
    uidvalidity: int,
    messages: Sequence[FetchedMail],
    parsed_ahead: Sequence[ParsedMail] | None,
) -> list[After]:
    """Store ``messages`` a mail a transaction, in order; a mail that fails is set aside. Returns what
    each committed transaction leaves to do after it (`station.sink`)."""
    done: list[After] = []
    for index, fetched in enumerate(messages):
        mail = parsed_ahead[index] if parsed_ahead is not None else None
        try:
            done.append(await store(mailbox, uidvalidity, [fetched], None if mail is None else [mail]))
        except Exception as exc:
            log.error(
                "mail uid %s could not be stored (%s); set aside for a human", fetched.uid, type(exc).__name__
            )
            done.append(await set_aside(mailbox, uidvalidity, fetched, mail))
    return done


@dataclass(frozen=True)
class SetAside:
    """Keeps a mail that cannot be stored (see the module doc)."""

    store: Store
    key: Callable[[str], str]  # a dedup key as stored
    now: datetime

    async def __call__(
        self, mailbox: str, uidvalidity: int, fetched: FetchedMail, mail: ParsedMail | None
    ) -> After:
        kept = await keep_for_a_human(self.store, self.key, mailbox, uidvalidity, fetched, mail, self.now)
        return After(unreadable=int(kept))


async def keep_for_a_human(
    store: Store,
    key: Callable[[str], str],
    mailbox: str,
    uidvalidity: int,
    fetched: FetchedMail,
    mail: ParsedMail | None,
    now: datetime,
) -> bool:
    """Keep one mail's encrypted bytes, marked ``needs_human``, and move the cursor past it; False when
    the mail was stored already (a copy: nothing to keep)."""
    parsed = mail if mail is not None else parse_message(fetched.raw)
    dedup = key(parsed.dedup_key)
    async with store.unit() as s:
        fresh = await s.scalar(select(Mail.id).where(Mail.dedup_key == dedup)) is None
        if fresh:
            row = inbound_row(
                parsed, mailbox=mailbox, uidvalidity=uidvalidity, uid=fetched.uid,
                received_at=fetched.internaldate, now=now,
                raw_enc=store.vault.encrypt_bytes(fetched.raw, context=MAIL_CONTEXT), needs_human=True,
            )  # fmt: skip
            row["dedup_key"] = dedup
            s.add(Mail(**row))
        await advance_cursor(s, mailbox, uidvalidity, fetched.uid)
    return fresh


async def advance_cursor(s: AsyncSession, mailbox: str, uidvalidity: int, last_uid: int) -> None:
    """Move the mailbox's cursor to ``last_uid`` (never back within one UIDVALIDITY)."""
    row = await s.get(MailCursor, mailbox)
    if row is None:
        s.add(MailCursor(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=last_uid))
    else:
        kept = row.last_uid if row.uidvalidity == uidvalidity else 0
        row.uidvalidity, row.last_uid = uidvalidity, max(last_uid, kept)
