"""Alembic environment: runs the migrations on the database given in the config.

SQLite is migrated through the standard (synchronous) driver: no worker thread can outlive a failed
start (aiosqlite's thread would write a traceback into the one line the operator should read).
PostgreSQL goes through the async engine the service itself uses.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

# The audit_log, inbound_updates, recent_words and flood_buckets tables live in these modules, on the
# same metadata.
import hotline.privacy.audit
import hotline.storage.auto_mails
import hotline.storage.inbound
import hotline.storage.recent  # noqa: F401
from hotline.storage.db import create_engine, sqlite_pragmas
from hotline.storage.leases import MIGRATIONS
from hotline.storage.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Workers started at the same moment migrate one after another: the others wait here, then find
        # the schema current (held until this transaction ends).
        connection.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), MIGRATIONS.params())
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _sqlite(url: str) -> None:
    engine = create_sync_engine(make_url(url).set(drivername="sqlite"), poolclass=NullPool)
    event.listen(engine, "connect", sqlite_pragmas)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


async def _async(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `hotline db upgrade`")
_url = context.config.get_main_option("sqlalchemy.url")
assert _url is not None
if make_url(_url).get_backend_name() == "sqlite":
    _sqlite(_url)
else:
    asyncio.run(_async(_url))
