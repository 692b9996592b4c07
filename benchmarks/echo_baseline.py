"""Baseline: a bare python-telegram-bot echo bot on the Bot API emulator.

``measure_echo(n)`` injects ``/start`` from ``n`` users at once and returns the seconds until the
emulator has received a reply for each of them. The hotline bot's /start benchmark is compared with
this figure, measured in the same run (DESIGN §5a: ≤ 1.5×).

Run: ``.venv/bin/python -m benchmarks.echo_baseline [n_users]``.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import time
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from hotline.sandbox import TelegramEmulator

# PTB with unbounded concurrent updates is slower (httpx pool contention): bound it (DESIGN §5b).
# Measured here (300 users, median of 5): 1 -> 0.31 s, 2 -> 0.34, 4 -> 0.35, 8 -> 0.46, 16 -> 0.6,
# 32 -> 0.63, 256 -> 3.4. Compare the hotline bot against the baseline at the same setting it uses.
CONCURRENT_UPDATES = 4
FIRST_USER_ID = 100_000


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None and message.text is not None:
        await message.reply_text(message.text)


def build_echo_app(
    emu: TelegramEmulator, concurrent_updates: int
) -> Application[Any, Any, Any, Any, Any, Any]:
    app = (
        ApplicationBuilder()
        .token(emu.token)
        .base_url(emu.base_url)
        .concurrent_updates(concurrent_updates)
        .build()
    )
    app.add_handler(CommandHandler("start", _echo))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _echo))
    return app


async def measure_echo(n_users: int = 300, *, concurrent_updates: int = CONCURRENT_UPDATES) -> float:
    """Seconds from injecting ``/start`` for ``n_users`` users at once until each has a reply."""
    async with TelegramEmulator(limits=None) as emu:
        app = build_echo_app(emu, concurrent_updates)
        users = [emu.user(FIRST_USER_ID + i, f"員工{i}") for i in range(n_users)]
        assert app.updater is not None
        await app.initialize()
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=10)
        try:
            await emu.wait_polling()
            mark = emu.mark()
            started = time.monotonic()
            for user in users:
                await emu.send_text(user, "/start")
            replies = await emu.wait_for_all(
                lambda call: call.ok, n_users, method="sendMessage", since=mark, timeout=120
            )
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
    if {call.chat_id for call in replies} != {user.id for user in users}:
        raise AssertionError("some users got no reply, others more than one")
    return max(call.at for call in replies) - started


async def _main(n_users: int, rounds: int) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # request URLs contain the token
    figures = [await measure_echo(n_users) for _ in range(rounds)]
    print(
        f"echo baseline: {n_users} users /start -> reply: median {statistics.median(figures):.3f} s "
        f"(rounds: {', '.join(f'{f:.3f}' for f in figures)})"
    )


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1]) if len(sys.argv) > 1 else 300, rounds=5))
