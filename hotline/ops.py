"""What the on-call operator and the proxy see: ``/healthz`` and ``/metrics`` (docs/operations.md).

``/healthz`` answers 200 ``ok`` when the database answers within ``HEALTH_TIMEOUT`` seconds and every
loop this worker started is running; otherwise 503 with one sentence saying what is wrong. A proxy
stops sending webhook calls to a worker that answers 503.

``/metrics`` is Prometheus text (``prometheus-client``). What must hold across workers is read from the
database at each scrape (queue depth, open crisis alerts, e-mail reply-by dates, outbox backlog): every
worker reports the same value, so alert on ``max`` over workers, not ``sum``. That includes the Telegram
updates and LINE events *set aside* (failed in every attempt, kept sealed: each may hold a crisis nobody
has read). What one worker did
(updates processed, messages paced, 429s retried) is a counter of that worker: ``sum`` them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from hotline.domain import CaseStatus
from hotline.ports import Clock
from hotline.storage import inbound, line_repo
from hotline.storage.models import Alert, Case, Outbox
from hotline.storage.repo import Store

HEALTH_TIMEOUT = 2.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The figures read from the database at one scrape."""

    waiting: Mapping[str, int]  # channel -> cases waiting for a counselor
    alerts_open: int  # crisis alerts nobody acknowledged, on cases not closed
    oldest_alert_age: float | None  # seconds since the oldest of them was raised
    mail_open: int  # e-mail cases not closed and not yet answered
    mail_due_in: float | None  # seconds until the reply-by date of the most pressing (negative: late)
    outbox_pending: int  # mails waiting to be sent
    oldest_outbox_age: float | None
    updates_set_aside: int = 0  # Telegram updates set aside after failing every attempt (kept sealed)
    line_events_set_aside: int = 0  # LINE events set aside after failing every start (kept sealed)


async def read_snapshot(store: Store, now: datetime) -> Snapshot:
    async with store.unit() as s:
        waiting = {
            str(channel): int(n)
            for channel, n in (
                await s.execute(
                    select(Case.channel, func.count())
                    .where(Case.status == CaseStatus.WAITING.value)
                    .group_by(Case.channel)
                )
            ).all()
        }
        alerts = (
            await s.execute(
                select(func.count(), func.min(Alert.raised_at))
                .join(Case, Case.id == Alert.case_id)
                .where(Alert.acknowledged_at.is_(None), Case.status != CaseStatus.CLOSED.value)
            )
        ).one()
        mail = (
            await s.execute(
                select(func.count(), func.min(Case.reply_due_at)).where(
                    Case.channel == "email",
                    Case.status != CaseStatus.CLOSED.value,
                    Case.first_reply_at.is_(None),
                )
            )
        ).one()
        outbox = (
            await s.execute(
                select(func.count(), func.min(Outbox.created_at)).where(Outbox.status == "pending")
            )
        ).one()
        updates_aside = await inbound.set_aside_count(s)
        events_aside = await line_repo.set_aside_count(s)

    def since(moment: datetime | None) -> float | None:
        return None if moment is None else (now - moment).total_seconds()

    due = mail[1]
    return Snapshot(
        waiting=waiting,
        alerts_open=int(alerts[0]),
        oldest_alert_age=since(alerts[1]),
        mail_open=int(mail[0]),
        mail_due_in=None if due is None else (due - now).total_seconds(),
        outbox_pending=int(outbox[0]),
        oldest_outbox_age=since(outbox[1]),
        updates_set_aside=updates_aside,
        line_events_set_aside=events_aside,
    )


@dataclass
class WorkerCounters:
    """What this worker did since it started (read at each scrape from the parts that count)."""

    updates: Callable[[], int] = lambda: 0
    paced: Callable[[], int] = lambda: 0
    retried: Callable[[], int] = lambda: 0
    timers_fired: Callable[[], int] = lambda: 0
    screening_late: Callable[[], int] = lambda: 0
    screening_late_found: Callable[[], int] = lambda: 0


def _families(snapshot: Snapshot, counters: WorkerCounters) -> Iterable[Metric]:
    waiting = GaugeMetricFamily(
        "hotline_queue_depth", "Cases waiting for a counselor (all workers).", labels=["channel"]
    )
    for channel in (
        "telegram",
        "email",
        "line",
        *sorted(set(snapshot.waiting) - {"telegram", "email", "line"}),
    ):
        waiting.add_metric([channel], snapshot.waiting.get(channel, 0))
    yield waiting
    yield GaugeMetricFamily(
        "hotline_crisis_alerts_unacknowledged",
        "Crisis alerts no counselor has acknowledged, on cases not closed.",
        value=snapshot.alerts_open,
    )
    yield GaugeMetricFamily(
        "hotline_crisis_alert_oldest_unacknowledged_seconds",
        "Age of the oldest unacknowledged crisis alert (0 when there is none).",
        value=snapshot.oldest_alert_age or 0.0,
    )
    yield GaugeMetricFamily(
        "hotline_email_cases_awaiting_reply",
        "E-mail cases not closed and not yet answered.",
        value=snapshot.mail_open,
    )
    if snapshot.mail_due_in is not None:
        yield GaugeMetricFamily(
            "hotline_email_oldest_reply_due_seconds",
            "Seconds until the reply-by date of the most pressing unanswered e-mail case; negative: overdue.",
            value=snapshot.mail_due_in,
        )
    yield GaugeMetricFamily(
        "hotline_outbox_backlog", "Mails waiting to be sent.", value=snapshot.outbox_pending
    )
    yield GaugeMetricFamily(
        "hotline_outbox_oldest_seconds",
        "Age of the oldest mail waiting to be sent (0 when none).",
        value=snapshot.oldest_outbox_age or 0.0,
    )
    yield GaugeMetricFamily(
        "hotline_telegram_updates_set_aside",
        "Telegram updates set aside after failing every attempt, kept sealed for an operator (all workers).",
        value=snapshot.updates_set_aside,
    )
    yield GaugeMetricFamily(
        "hotline_line_events_set_aside",
        "LINE events set aside after failing every start, kept sealed for an operator (all workers).",
        value=snapshot.line_events_set_aside,
    )
    yield CounterMetricFamily(
        "hotline_updates_processed", "Telegram updates this worker processed.", value=counters.updates()
    )
    yield CounterMetricFamily(
        "hotline_telegram_messages_paced",
        "Messages this worker held back under Telegram's flood limits.",
        value=counters.paced(),
    )
    yield CounterMetricFamily(
        "hotline_telegram_retried_after_429",
        "Messages this worker sent again after a 429.",
        value=counters.retried(),
    )
    yield CounterMetricFamily(
        "hotline_timers_fired", "Timers this worker fired.", value=counters.timers_fired()
    )
    yield CounterMetricFamily(
        "hotline_screening_late",
        "Chat messages this worker answered before their learned verdict (past the reply budget).",
        value=counters.screening_late(),
    )
    yield CounterMetricFamily(
        "hotline_screening_late_found",
        "Late learned verdicts that found a crisis or heavy distress the lexicon had not (acted on late).",
        value=counters.screening_late_found(),
    )


class _Fixed(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


async def render_metrics(store: Store, clock: Clock, counters: WorkerCounters) -> bytes:
    """The Prometheus text of one scrape."""
    snapshot = await read_snapshot(store, clock())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(list(_families(snapshot, counters))))
    return generate_latest(registry)


@dataclass
class Health:
    """Whether this worker can do its job: the database answers and its loops run."""

    store: Store
    loops: dict[str, Callable[[], bool]] = field(default_factory=dict)  # name -> alive?

    async def problem(self) -> str | None:
        """None when healthy, else one sentence."""
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                async with self.store.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except TimeoutError:
            return f"The database did not answer within {HEALTH_TIMEOUT:g} seconds."
        except Exception as exc:  # any failure to reach it is the answer
            return f"The database cannot be reached ({exc.__class__.__name__})."
        stopped = [name for name, alive in self.loops.items() if not alive()]
        if stopped:
            return f"The {', '.join(stopped)} {'loop has' if len(stopped) == 1 else 'loops have'} stopped."
        return None
