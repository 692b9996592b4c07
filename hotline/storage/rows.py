"""Rows written with one Core statement on the hot path (issue 14), handed back as the ORM objects the
rest of the transaction uses.

The ORM's unit of work costs about twice a Core statement's CPU for each row it inserts (an INSERT
flushed alone, on SQLite in the loop's thread: ~0.2 ms against ~0.1 ms with its columns returned); a
crisis inserts a handful. A row inserted here with every column returned (or every column given)
becomes the same persistent object a flush would have left in the session (:func:`attach`): later changes
to it in the transaction are flushed as usual. Rows nothing changes afterwards (a message, an alert, a
timer) are not attached.
"""

from __future__ import annotations

from typing import TypeVar, cast

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from hotline.storage.models import Base

_B = TypeVar("_B", bound=Base)


def table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


async def connection(s: AsyncSession) -> AsyncConnection:
    """The session's connection, in its transaction (a Core statement here is part of it)."""
    return await s.connection()


def attach(s: AsyncSession, instance: _B) -> _B:
    """``instance``, built from a row just inserted (every column), as a persistent object of ``s``."""
    make_transient_to_detached(instance)
    s.add(instance)
    return instance


_UNLESS_TAKEN: dict[tuple[str, type[Base], str], Insert] = {}


def insert_unless_taken(conn: AsyncConnection, model: type[Base], column: str) -> Insert:
    """``INSERT ... ON CONFLICT (column) DO NOTHING RETURNING *``: no row back when the value is taken.
    Built once for each database kind (building it and its cache key each time cost as much as the
    ORM's select it replaced)."""
    key = (conn.dialect.name, model, column)
    statement = _UNLESS_TAKEN.get(key)
    if statement is None:
        t = table(model)
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(t).on_conflict_do_nothing(index_elements=[column]).returning(*t.c)
        _UNLESS_TAKEN[key] = statement
    return statement


__all__ = ["attach", "connection", "insert_unless_taken", "table"]
