"""The automatic mails each address got in the last day, for ``[email] auto_mails_per_day``.

One row per automatic mail (acknowledgement, crisis reply, erasure explanation or answer): the
address's pseudonym (a keyed hash, never the address) and when. No content. Rows older than a day are
deleted whenever a batch records new ones, and by ``hotline purge``. Someone the station holds nothing about is counted too (a
flood of forged "forget me" mails must not reach its victim either), and only for that day.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Index, Integer, String, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hotline.storage.models import Base, Stamp

WINDOW = timedelta(days=1)


class AutoMail(Base):
    __tablename__ = "auto_mails"
    __table_args__ = (
        Index("ix_auto_mails_who", "who", "sent_at"),
        Index("ix_auto_mails_sent_at", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    who: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(Stamp)


async def counts(s: AsyncSession, whos: Collection[str], now: datetime) -> dict[str, int]:
    """How many automatic mails each of ``whos`` got in the day before ``now`` (absent: none)."""
    if not whos:
        return {}
    rows = await s.execute(
        select(AutoMail.who, func.count())
        .where(AutoMail.who.in_(whos), AutoMail.sent_at > now - WINDOW)
        .group_by(AutoMail.who)
    )
    return {who: int(count) for who, count in rows.all()}


async def record(s: AsyncSession, whos: Sequence[str], now: datetime) -> None:
    """One automatic mail to each of ``whos`` (repeated for several); the day-old rows go."""
    if not whos:
        return
    await prune(s, now)
    await s.execute(insert(AutoMail), [{"who": who, "sent_at": now} for who in whos])


async def prune(s: AsyncSession, now: datetime) -> int:
    """Delete the rows older than a day (also by ``hotline purge``, for a station that stopped)."""
    gone = await s.execute(delete(AutoMail).where(AutoMail.sent_at <= now - WINDOW))
    return int(gone.rowcount)  # type: ignore[attr-defined]


async def rekey(s: AsyncSession, old: str, new: str) -> None:
    """A person's rows follow them to their pseudonym under a new key."""
    await s.execute(
        update(AutoMail)
        .where(AutoMail.who == old)
        .values(who=new)
        .execution_options(synchronize_session=False)
    )
