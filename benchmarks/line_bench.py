"""The LINE line under load (issue 15): 300 LINE users' first message, until each has an answer.

Measured on the LINE emulator against the bare line-bot-sdk echo webhook in the same run
(``line_echo_baseline``): the whole service (``Stage``: SQLite on disk, every screening layer, the
counselors on the Telegram emulator) with its LINE webhook as the emulator's webhook URL, driven by the
same ``drive_first_messages`` (target ≤ 1.5× the echo). Each user's first message is stored, screened,
run through the intake flow and answered (the consent notice, by reply token; a crisis: the crisis reply).

Production-shaped: every user sends a different first message (``line_messages.first_messages``: greetings,
service questions, ordinary distress, about 2 % crises; a fixed seed per round, new messages each round, as
the learned layer remembers what it read for the whole process), so the learned screening layer reads
300 texts a round, as it would. The learned layer is loaded before the clock starts. The old run, everyone
sending the same message (which the learned layer reads once), is kept as a second row.

``python -m benchmarks line [--users 300] [--rounds 3]``   echo and hotline, median of 3 rounds each
``python -m benchmarks.line_bench --webhook URL --port P``   drive any running webhook: the emulator
    serves the API on 127.0.0.1:P with the default channel secret and access token
    (``hotline.sandbox.DEFAULT_CHANNEL_SECRET`` / ``DEFAULT_ACCESS_TOKEN``), so point that webhook's
    LINE API URL at ``http://127.0.0.1:P`` first.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks import deadline
from benchmarks.deadline import deadline_option, run_main_async
from benchmarks.line_echo_baseline import LoadResult, drive_first_messages, measure_echo
from benchmarks.line_messages import SEED, first_messages, is_planted_crisis
from hotline.alerts import GROUP_LINE_WORDS
from hotline.learned_loader import cached_learned
from hotline.sandbox import LineEmulator, TelegramEmulator
from hotline.sandbox.stage import ROSTER, Stage, StageClock, stage_settings
from hotline.sandbox.telegram_model import BotCall

DEADLINE = 900  # seconds, the whole run (15 rounds, about 2.5 minutes on a busy machine)
TOKEN = "5555:BENCH"
ALERT = "🚨 危機通報"  # how a crisis alert to a counselor begins (config/messages.zh-TW.toml)
CASE_CODE = re.compile(r"案件 (\S+?)｜")  # each case an alert names, alone or on its line in a group
CRISIS_REPLY = "通知值班心理師"  # in both crisis replies to an employee ([crisis] elevated, imminent)


async def measure_webhook(url: str, port: int, n_users: int) -> LoadResult:
    async with LineEmulator(webhook_url=url, port=port) as emu:
        return await drive_first_messages(emu, n_users)


@dataclass(frozen=True)
class Run:
    load: LoadResult
    crises: int  # crisis messages among the first messages (line_messages.is_planted_crisis)
    alerts: int  # cases alerted to the on-duty counselor (false alarms included), grouped alerts' lines each
    messages: int = 0  # the alert messages that carried them (a burst goes as one grouped message)
    calls: int = 0  # the learned layer's calls (a round's batch: what waited while the last was encoded)
    screened: int = 0  # messages they carried
    late: int = 0  # learned verdicts that missed the reply budget (the reply went on the lexicon's)
    unwaited: int = 0  # ... of them not waited for: they could not come within it (the layer's pace)
    late_found: int = 0  # late verdicts that found a crisis or heavy distress: acted on after the reply


async def measure_hotline(
    n_users: int,
    *,
    learned: bool = True,
    texts: Sequence[str] | None = None,
    budget_ms: int | None = None,
) -> Run:
    """The whole service's LINE webhook on the emulator: each user's first message to their answer
    (``learned=False``: the lexicon screens alone, to show the channel's own cost apart; ``texts``: user
    ``i`` sends ``texts[i]``, else all the same first message; ``budget_ms``: ``[screening]
    reply_budget_ms``, else its default). A counselor is on duty. After the figures are taken, the round
    waits for everything still under way (late learned verdicts, alerts waiting for the counselor's
    chat): every crisis message's alert, quoting its words, must reach the counselor and its sender
    must get a crisis reply, and the alerts counted are all of the round's."""
    planted = [t for t in texts or () if is_planted_crisis(t)]
    with tempfile.TemporaryDirectory() as tmp:
        async with TelegramEmulator(token=TOKEN) as tg, LineEmulator() as emu:
            settings = stage_settings(
                tg.api_url,
                TOKEN,
                Path(tmp) / "bench.db",
                line_channel_secret=emu.channel_secret,
                line_channel_access_token=emu.access_token,
                line_api_url=emu.api_url,
                line_webhook_listen="127.0.0.1:0",
                screening={"learned": learned}
                if budget_ms is None
                else {"learned": learned, "reply_budget_ms": budget_ms},
            )
            async with Stage(tg, settings, StageClock()) as stage:
                counselor = ROSTER[0].telegram_id
                await stage.say(tg.user(counselor, "Wang"), "/onduty", containing="值班")
                mark = tg.mark()
                webhook = stage.running.line_webhook
                assert webhook is not None
                emu.set_webhook(webhook.url)
                result = await drive_first_messages(emu, n_users, texts=texts)
                inbox = stage.running.line_inbox
                assert inbox is not None
                await inbox.idle()  # every event carried out, late verdicts and what they decided included
                desk = stage.running.desk
                assert desk is not None
                await desk.alerts.wait()  # alerts left to wait for the counselor's chat in the background
                await desk.lanes.wait()
                runner = stage.running.line_runner
                assert runner is not None
                service = runner.screening
                counts = (service.calls, service.messages, service.late, service.unwaited, service.late_found)
                if planted:  # paced at about one a second to one counselor: waited for after the figures
                    unseen = list(planted)  # a list: two users may send the same crisis text

                    def planted_alert(call: BotCall) -> bool:
                        words = (call.text or "") if _alert(call) else ""
                        for found in [t for t in unseen if _quoted(t, words)]:
                            unseen.remove(found)  # a grouped alert may carry several of them
                        return not unseen

                    deadline.progress(lambda: f"{len(unseen)} of {len(planted)} crisis messages' alerts not yet at the counselor")  # fmt: skip
                    await tg.wait_for_all(planted_alert, 1, chat_id=counselor, since=mark, timeout=300)
                shown = [c.text or "" for c in tg.calls_to(counselor, since=mark) if _alert(c)]
                cases = {code for text in shown for code in CASE_CODE.findall(text)}
            answered = [c for c in emu.calls if c.ok and c.endpoint in ("reply", "push")]
            if len({c.to for c in answered}) != n_users or any(not c.ok for c in emu.calls):
                raise AssertionError("hotline answered some users twice or not at all, or a call failed")
            crisis_replied = {c.to for c in answered if any(CRISIS_REPLY in t for t in c.texts)}
            senders = {u for u, t in zip(result.senders, texts or (), strict=False) if is_planted_crisis(t)}
            if senders - crisis_replied:
                raise AssertionError(f"{len(senders - crisis_replied)} crisis messages got no crisis reply")
    return Run(result, len(planted), len(cases), len(shown), *counts)


def _quoted(text: str, words: str) -> bool:
    """An alert quotes the message: alone, as written; on its line in a grouped alert (a burst to one
    counselor), its first words with line breaks and spaces collapsed (hotline.alerts.alert_line). So
    both are compared without any white space, on the start a grouped line keeps."""
    start = "".join(text.split())[: GROUP_LINE_WORDS // 2]
    return start in "".join(words.split())


def _alert(call: BotCall) -> bool:
    return call.ok and call.method == "sendMessage" and (call.text or "").startswith(ALERT)


def _median(results: list[LoadResult]) -> LoadResult:
    return sorted(results, key=lambda r: r.seconds)[len(results) // 2]


async def run(
    n_users: int = 300, rounds: int = 3, learned: bool = True, budget_ms: int | None = None
) -> None:
    """``learned=False`` (``--lexicon-only``, the smoke run in tests): the lexicon screens alone in every row;
    ``budget_ms``: ``[screening] reply_budget_ms`` for every row (else its default). The rows' rounds take
    turns (echo, hotline, the lexicon alone, then the same-message pair; round after round), so that a
    machine whose load changes during the run weighs on every row alike."""
    logging.disable(logging.WARNING)
    # Each round its own 300 messages: the learned layer remembers what it read (by digest) for the
    # whole process, so the same 300 again would cost it nothing after the first round.
    texts = [first_messages(n_users, seed=SEED + i) for i in range(rounds)]
    if learned:
        deadline.doing("loading the learned layer")
        await asyncio.to_thread(cached_learned().screen, "暖身")  # loaded once per process: not timed
    load = os.getloadavg()[0]
    echo: list[LoadResult] = []
    ours: list[Run] = []
    lexicon: list[Run] = []
    same_echo: list[LoadResult] = []
    same: list[Run] = []
    for i in range(rounds):
        deadline.doing(f"round {i + 1} of {rounds}: the echo webhook")
        echo.append(await measure_echo(n_users, texts[i]))
        deadline.doing(f"round {i + 1} of {rounds}: hotline")
        ours.append(await measure_hotline(n_users, learned=learned, texts=texts[i], budget_ms=budget_ms))
        deadline.doing(f"round {i + 1} of {rounds}: hotline, the lexicon alone")
        lexicon.append(await measure_hotline(n_users, learned=False, texts=texts[i], budget_ms=budget_ms))
        deadline.doing(f"round {i + 1} of {rounds}: the echo webhook, one same message")
        same_echo.append(await measure_echo(n_users))
        deadline.doing(f"round {i + 1} of {rounds}: hotline, one same message")
        same.append(await measure_hotline(n_users, learned=learned, budget_ms=budget_ms))
    e, se = _median(echo), _median(same_echo)
    o, x, so = (_median([r.load for r in runs]) for runs in (ours, lexicon, same))
    print(
        f"{n_users} LINE users' first message at once -> first answer, median of {rounds} by total time;"
        f" {n_users} different first messages a round, new each round ({', '.join(str(r.crises) for r in ours)}"
        f" crises), then one same message; load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end:"
    )
    for label, result, seconds in (
        ("echo bot", e, [r.seconds for r in echo]),
        ("hotline", o, [r.load.seconds for r in ours]),
        ("lexicon", x, [r.load.seconds for r in lexicon]),
        ("echo same", se, [r.seconds for r in same_echo]),
        ("hotl. same", so, [r.load.seconds for r in same]),
    ):
        print(f"  {result.line(label)}   (rounds {', '.join(f'{t:.3f}' for t in seconds)} s)")
    print(f"  ratio     {o.seconds / e.seconds:.2f}x  every screening layer, different messages (target <= 1.5x)")  # fmt: skip
    print(
        "            the learned layer's calls a round: "
        + ", ".join(
            f"{r.calls} for {r.screened} messages ({r.screened / max(r.calls, 1):.1f} a call)" for r in ours
        )
    )
    print(
        "            verdicts past the reply budget a round (not waited for; acted on late): "
        + ", ".join(f"{r.late} ({r.unwaited}; {r.late_found})" for r in ours)
    )
    print(f"  ratio     {x.seconds / e.seconds:.2f}x  the lexicon alone, different messages: the channel's own cost")  # fmt: skip
    print(f"  ratio     {so.seconds / se.seconds:.2f}x  every screening layer, the same message from everyone")  # fmt: skip
    print("            (the learned layer reads each different text; one repeated text it reads once)")
    print(
        f"  cases alerted to the on-duty counselor per round (alert messages), {ours[0].crises} crisis messages"
        f" sent, every one alerted and answered with the crisis reply: every layer {_alerts(ours)};"
        f" lexicon alone {_alerts(lexicon)}"
    )


def _alerts(runs: Sequence[Run]) -> str:
    return ", ".join(f"{r.alerts} ({r.messages})" for r in runs)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks line")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--webhook", help="drive this webhook URL instead of the echo baseline")
    parser.add_argument("--port", type=int, default=0, help="the emulator's API port (with --webhook)")
    parser.add_argument(
        "--lexicon-only", action="store_true", help="the lexicon screens alone in every row (a smoke run)"
    )
    parser.add_argument(
        "--budget-ms", type=int, help="[screening] reply_budget_ms for every row (default: the setting's)"
    )
    deadline_option(parser, DEADLINE)
    args = parser.parse_args(argv)
    if args.webhook is None:
        return run_main_async(
            "LINE benchmark",
            args.deadline,
            lambda: run(args.users, args.rounds, not args.lexicon_only, args.budget_ms),
        )
    result = asyncio.run(measure_webhook(args.webhook, args.port, args.users))
    print(result.line("webhook"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
