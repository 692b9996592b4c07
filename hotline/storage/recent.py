"""What several workers must share about an employee's last minutes (issue 14): their recent words,
read with each new message by the screening (a cue split across two messages), and their flood bucket.

``recent_words``: the employee's last few chat messages, sealed with the service's key (content
context), for the conversation window's span only: rows past it are deleted (each new message, and
:func:`purge_words` on a timer), and all of an employee's rows on /forget. ``flood_buckets``: one row
per employee with the token bucket of :mod:`hotline.privacy.ratelimit` (no content); a bucket idle
long enough to be full again is deleted, as it would be forgotten in memory.

Keyed by the employee's pseudonym (a keyed hash), never a chat id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    bindparam,
    delete,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hotline.storage.models import Base, Stamp


class RecentWord(Base):
    __tablename__ = "recent_words"
    __table_args__ = (
        Index("ix_recent_words_who", "who", "said_at"),
        Index("ix_recent_words_said_at", "said_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    who: Mapped[str] = mapped_column(String(64))
    said_at: Mapped[datetime] = mapped_column(Stamp)
    text_enc: Mapped[bytes] = mapped_column(LargeBinary)


class FloodBucket(Base):
    __tablename__ = "flood_buckets"

    who: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    seen: Mapped[datetime] = mapped_column(Stamp)
    denied: Mapped[bool] = mapped_column(Boolean, default=False)


async def recent(s: AsyncSession, who: str, since: datetime, size: int) -> list[bytes]:
    """The employee's last ``size`` messages said after ``since``, sealed, oldest first."""
    rows = await s.execute(
        select(RecentWord.text_enc)
        .where(RecentWord.who == who, RecentWord.said_at > since)
        .order_by(RecentWord.said_at.desc(), RecentWord.id.desc())
        .limit(size)
    )
    return [blob for (blob,) in rows][::-1]


# On PostgreSQL, :func:`add` in one statement: the new row, and the employee's rows not among the newest
# ``keep`` of the old ones and the new deleted (the new one, invisible to the DELETE's snapshot, is
# reached through ``added``).
_ADD_CTES = """WITH added AS (
         INSERT INTO recent_words (who, said_at, text_enc) VALUES (:who, :now, :text_enc)
         RETURNING id, said_at),
       trimmed AS (
         DELETE FROM recent_words WHERE who = :who AND id NOT IN (
           SELECT id FROM (SELECT id, said_at FROM recent_words WHERE who = :who
                           UNION ALL SELECT id, said_at FROM added) AS mine
           ORDER BY said_at DESC, id DESC LIMIT :keep))"""
_ADD = text(_ADD_CTES + " SELECT count(*) FROM added").bindparams(
    bindparam("who", type_=String),
    bindparam("now", type_=Stamp),
    bindparam("text_enc", type_=LargeBinary),
    bindparam("keep", type_=Integer),
)
# The flood token (migration 0016's function), alone or with the words added (one round trip for both).
_TAKE = "SELECT allowed, first_denial, retry_after FROM hotline_flood_take(:who, :burst, :rate, :now)"
_FLOOD_PARAMS = (
    bindparam("who", type_=String),
    bindparam("now", type_=Stamp),
    bindparam("burst", type_=Float(precision=53)),
    bindparam("rate", type_=Float(precision=53)),
)
_FLOOD = text(_TAKE).bindparams(*_FLOOD_PARAMS)
_ADD_AND_FLOOD = text(_ADD_CTES + " " + _TAKE).bindparams(
    *_FLOOD_PARAMS, bindparam("text_enc", type_=LargeBinary), bindparam("keep", type_=Integer)
)


async def add_and_take(
    s: AsyncSession, who: str, text_enc: bytes | None, now: datetime, keep: int, burst: float, rate: float
) -> tuple[bool, bool, float]:
    """PostgreSQL: :func:`add` (unless ``text_enc`` is None) and the employee's flood token in one
    statement: (allowed, first denial, seconds until a token) as :class:`~hotline.privacy.ratelimit.
    Decision` has them; a new bucket starts full, one idle long enough is full again."""
    params: dict[str, object] = {"who": who, "now": now, "burst": burst, "rate": rate}
    statement = _FLOOD
    if text_enc is not None:
        statement = _ADD_AND_FLOOD
        params |= {"text_enc": text_enc, "keep": keep}
    allowed, first_denial, retry_after = (await s.execute(statement, params)).one()
    return bool(allowed), bool(first_denial), float(retry_after)


async def add(s: AsyncSession, who: str, text_enc: bytes, now: datetime, keep: int) -> None:
    """Keep one message; of this employee's, only the newest ``keep`` stay."""
    if s.get_bind().dialect.name == "postgresql":
        await s.execute(_ADD, {"who": who, "now": now, "text_enc": text_enc, "keep": keep})
        return
    s.add(RecentWord(who=who, said_at=now, text_enc=text_enc))
    await s.flush()
    newest = (
        select(RecentWord.id)
        .where(RecentWord.who == who)
        .order_by(RecentWord.said_at.desc(), RecentWord.id.desc())
        .limit(keep)
    )
    await s.execute(
        delete(RecentWord)
        .where(RecentWord.who == who, RecentWord.id.not_in(newest))
        .execution_options(synchronize_session=False)
    )


async def purge_words(s: AsyncSession, before: datetime) -> int:
    """Delete every message said before ``before`` (past the window); return how many."""
    result = await s.execute(
        delete(RecentWord).where(RecentWord.said_at < before).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def oldest_word(s: AsyncSession) -> datetime | None:
    oldest: datetime | None = await s.scalar(select(RecentWord.said_at).order_by(RecentWord.said_at).limit(1))
    return oldest


async def bucket(s: AsyncSession, who: str, full: float, now: datetime) -> FloodBucket:
    """The employee's bucket, locked until the transaction ends (a new one starts full): one statement,
    an insert that, for a bucket already there, updates nothing but takes its row lock and returns it."""
    dialect = s.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(FloodBucket).values(who=who, tokens=full, seen=now, denied=False)
    upsert = statement.on_conflict_do_update(index_elements=["who"], set_={"who": statement.excluded.who})
    query = upsert.returning(FloodBucket).execution_options(populate_existing=True)
    return (await s.scalars(query)).one()


async def purge_buckets(s: AsyncSession, before: datetime) -> None:
    """Buckets last used before ``before`` are full again: forgotten (a new one starts full)."""
    await s.execute(
        delete(FloodBucket).where(FloodBucket.seen < before).execution_options(synchronize_session=False)
    )


async def forget(s: AsyncSession, who: str) -> None:
    """/forget: the employee's recent words and flood bucket go with them."""
    await s.execute(
        delete(RecentWord).where(RecentWord.who == who).execution_options(synchronize_session=False)
    )
    await s.execute(
        delete(FloodBucket).where(FloodBucket.who == who).execution_options(synchronize_session=False)
    )
