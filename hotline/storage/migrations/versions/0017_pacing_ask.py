"""the flood-limit take tells which bucket refused (issue 14): ``hotline_pacing_ask``

``hotline_pacing_ask(bot, chat, bot_interval, bot_tolerance, chat_interval, chat_tolerance, lag)``: the same
take as 0016's ``hotline_pacing_take`` (the two rows created when missing, locked ``FOR UPDATE`` in key
order, the clock read once both are locked, both moved on only when both have a token), returning the
bot's wait and the chat's wait apart (both 0: taken). A worker then knows whether the bot's bucket is
empty for everyone or only the chat's: its messages for other chats do not ask again before the bot's
bucket has a token (``hotline/pacing.py``: one asker a process), where each asked in turn at every slot.

``hotline_pacing_take`` stays for workers of the previous release during a rolling upgrade.

SQLite (one process, buckets in memory) has no functions and needs none.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ASK = """
CREATE OR REPLACE FUNCTION hotline_pacing_ask(
    bot_key text, chat_key text,
    bot_interval double precision, bot_tolerance double precision,
    chat_interval double precision, chat_tolerance double precision,
    lag double precision,
    OUT bot_wait double precision, OUT chat_wait double precision
) LANGUAGE plpgsql AS $$
DECLARE
    bot_tat double precision;
    chat_tat double precision;
    locked integer := 0;
    now double precision;
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
    bot_wait := CASE WHEN bot_tat > 0 THEN greatest(0.0, bot_tat - bot_tolerance + lag - now) ELSE 0.0 END;
    chat_wait := CASE WHEN chat_tat > 0 THEN greatest(0.0, chat_tat - chat_tolerance + lag - now) ELSE 0.0 END;
    IF bot_wait > 0 OR chat_wait > 0 THEN
        RETURN;
    END IF;
    UPDATE send_pacing SET tat = CASE WHEN key = bot_key THEN greatest(bot_tat, now) + bot_interval
                                      ELSE greatest(chat_tat, now) + chat_interval END
    WHERE key IN (bot_key, chat_key);
END
$$
"""

SIGNATURE = (
    "hotline_pacing_ask(text, text, double precision, double precision, double precision,"
    " double precision, double precision)"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(ASK)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")
