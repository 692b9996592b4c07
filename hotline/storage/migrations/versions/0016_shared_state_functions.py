"""shared state in one round trip (issue 14): two functions on PostgreSQL

* ``hotline_pacing_take(bot, chat, bot_interval, bot_tolerance, chat_interval, chat_tolerance, lag)``:
  a message's take of the flood-limit buckets (``send_pacing``): the two rows created when missing,
  locked ``FOR UPDATE`` in key order, read on the database's clock once both are locked, and moved on
  only when both have a token; returns 0 (taken) or the seconds to wait (nothing taken). What
  ``storage/pacing_repo.py`` did in a transaction of two to four statements (BEGIN and COMMIT besides).
* ``hotline_flood_take(who, burst, rate, at)``: an employee's flood token (``flood_buckets``, the token
  bucket of ``hotline/privacy/ratelimit.py``): the row created full when missing and locked, refilled
  for the time passed, one token taken when there is one; returns (allowed, first_denial, retry_after).
  What ``hotline/recent.py`` did in two statements (the row, then its update).

SQLite (one process, both kept in memory) has no functions and needs none.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TAKE = """
CREATE OR REPLACE FUNCTION hotline_pacing_take(
    bot_key text, chat_key text,
    bot_interval double precision, bot_tolerance double precision,
    chat_interval double precision, chat_tolerance double precision,
    lag double precision
) RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE
    bot_tat double precision;
    chat_tat double precision;
    locked integer := 0;
    now double precision;
    wait double precision;
    r record;
BEGIN
    FOR r IN SELECT key, tat FROM send_pacing WHERE key IN (bot_key, chat_key) ORDER BY key FOR UPDATE LOOP
        locked := locked + 1;
        IF r.key = bot_key THEN bot_tat := r.tat; ELSE chat_tat := r.tat; END IF;
    END LOOP;
    IF locked < 2 THEN  -- a chat seen for the first time (or a new database)
        INSERT INTO send_pacing (key, tat) VALUES (bot_key, 0), (chat_key, 0) ON CONFLICT (key) DO NOTHING;
        FOR r IN SELECT key, tat FROM send_pacing WHERE key IN (bot_key, chat_key) ORDER BY key FOR UPDATE LOOP
            IF r.key = bot_key THEN bot_tat := r.tat; ELSE chat_tat := r.tat; END IF;
        END LOOP;
    END IF;
    now := extract(epoch FROM clock_timestamp());  -- once both rows are locked
    -- a tat of 0 is a bucket never used: full (hotline.pacing.Rate.wait, after_take)
    wait := greatest(
        0.0,
        CASE WHEN bot_tat > 0 THEN bot_tat - bot_tolerance + lag - now ELSE 0.0 END,
        CASE WHEN chat_tat > 0 THEN chat_tat - chat_tolerance + lag - now ELSE 0.0 END
    );
    IF wait > 0 THEN
        RETURN wait;
    END IF;
    UPDATE send_pacing SET tat = CASE WHEN key = bot_key THEN greatest(bot_tat, now) + bot_interval
                                      ELSE greatest(chat_tat, now) + chat_interval END
    WHERE key IN (bot_key, chat_key);
    RETURN 0.0;
END
$$
"""

FLOOD = """
CREATE OR REPLACE FUNCTION hotline_flood_take(
    who_key text, burst double precision, rate double precision, at timestamptz,
    OUT allowed boolean, OUT first_denial boolean, OUT retry_after double precision
) LANGUAGE plpgsql AS $$
DECLARE
    t double precision;
    last_seen timestamptz;
    was_denied boolean;
BEGIN
    INSERT INTO flood_buckets AS b (who, tokens, seen, denied) VALUES (who_key, burst, at, false)
    ON CONFLICT (who) DO UPDATE SET who = excluded.who  -- a bucket already there: its row, locked
    RETURNING b.tokens, b.seen, b.denied INTO t, last_seen, was_denied;
    t := least(burst, t + greatest(0.0, extract(epoch FROM at - last_seen)) * rate);
    IF t >= 1.0 THEN
        allowed := true;
        first_denial := false;
        retry_after := 0.0;
        UPDATE flood_buckets SET tokens = t - 1.0, seen = at, denied = false WHERE who = who_key;
    ELSE
        allowed := false;
        first_denial := NOT was_denied;
        retry_after := (1.0 - t) / rate;
        UPDATE flood_buckets SET tokens = t, seen = at, denied = true WHERE who = who_key;
    END IF;
END
$$
"""

SIGNATURE = (
    "hotline_pacing_take(text, text, double precision, double precision, double precision,"
    " double precision, double precision)"
)


FLOOD_SIGNATURE = "hotline_flood_take(text, double precision, double precision, timestamptz)"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(TAKE)
        op.execute(FLOOD)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {FLOOD_SIGNATURE}")
        op.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")
