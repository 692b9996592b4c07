"""The database of one deployment: engine, one transaction per unit of work (``Store.unit``), the vault for content.

Nothing in the repositories commits on its own, so one update from a person costs at most one transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from hotline.crypto import CONTENT_CONTEXT, Vault
from hotline.errors import StorageError
from hotline.storage.db import create_engine, session_factory


class Store:
    """The database of one deployment: engine, sessions and the vault for content."""

    def __init__(self, url: str, vault: Vault) -> None:
        self.url = url
        self.engine: AsyncEngine = create_engine(url)
        self.sessions: async_sessionmaker[AsyncSession] = session_factory(self.engine)
        self.vault = vault
        self.locking = self.engine.dialect.name != "sqlite"  # SQLite: one pooled connection serialises

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back on error."""
        try:
            async with self.sessions() as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise StorageError(f"database error: {exc.__class__.__name__}") from exc

    @asynccontextmanager
    async def single(self) -> AsyncIterator[AsyncConnection]:
        """For one statement that is a whole transaction by itself: on PostgreSQL it runs in autocommit
        (committed, durably, when it returns, in one round trip instead of BEGIN, the statement, COMMIT);
        on SQLite in an ordinary transaction on the one pooled connection. Errors as :meth:`unit`."""
        try:
            async with self.engine.connect() as conn:
                if self.locking:
                    yield await conn.execution_options(isolation_level="AUTOCOMMIT")
                else:
                    async with conn.begin():
                        yield conn
        except SQLAlchemyError as exc:
            raise StorageError(f"database error: {exc.__class__.__name__}") from exc

    async def close(self) -> None:
        await self.engine.dispose()

    # -- content ----------------------------------------------------------------------------------
    def seal(self, text: str) -> bytes:
        return self.vault.encrypt(text, context=CONTENT_CONTEXT)

    def open(self, blob: bytes | None) -> str:
        return "" if blob is None else self.vault.decrypt(blob, context=CONTENT_CONTEXT)


__all__ = ["Store"]
