"""Crisis alerts: decided and recorded inside the transaction that saw the crisis, sent right after its
commit, sent again by a backup timer should the process stop in between (or nobody be reached), and
escalated to every supervisor when nobody acknowledges in time. Counselors are reached through the desk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.alert_lanes import LaneItem
from hotline.domain import CaseStatus, Risk, Screening
from hotline.errors import ChatUnavailable
from hotline.outgoing import Outgoing
from hotline.pacing import urgent
from hotline.ports import ButtonRow
from hotline.storage import repo
from hotline.storage.models import Case, Timer
from hotline.timer_kinds import TimerKind

if TYPE_CHECKING:
    from hotline.desk import Desk

log = logging.getLogger(__name__)

ALERT_TEXT_CHARS = 3000
GROUP_LINE_WORDS = 40  # of the employee's words on a case's line in a grouped alert
RISK_ORDER = tuple(Risk)  # none < distress < elevated < imminent
RESEND = TimerKind.CRISIS_RESEND  # the backup timer of a crisis alert
RESEND_AFTER = timedelta(seconds=15)


@dataclass(frozen=True, slots=True)
class PreparedAlert:
    """A crisis alert decided and recorded in a transaction, to be sent once it has committed."""

    case_id: int
    people: tuple[int, ...]
    body: str
    buttons: tuple[ButtonRow, ...]
    backup_timer_id: int
    backup_due: datetime
    key: str = "counselor.alert"  # its message key (an alert to supervisors is never grouped with others)
    line: str = ""  # the case's line in a grouped message (``hotline/alert_lanes.py``)
    order: tuple[int, float] = (0, 0.0)  # its place there: the most imminent, then the newest, first


class CrisisAlerts:
    """The desk's crisis alerts (``Desk.alerts``)."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self._sending: set[asyncio.Task[None]] = set()  # alerts waiting in a busy lane (send_alert)

    async def prepare_alert(
        self,
        s: AsyncSession,
        case: Case,
        screening: Screening,
        text: str,
        raised_at: datetime,
        *,
        fresh: bool = False,
    ) -> PreparedAlert:
        """Decide and record a crisis alert inside the caller's transaction: every on-duty counselor,
        or every supervisor at once when nobody is on duty; the escalation to supervisors is scheduled
        for when nobody acknowledges in time, counted from ``raised_at`` (when the message arrived).
        ``fresh``: the case was opened in this transaction (it has no timers to look for)."""
        return (await self.prepare_alerts(s, [(case, screening, text, raised_at)], fresh=fresh))[0]

    async def prepare_alerts(
        self,
        s: AsyncSession,
        alerts: Sequence[tuple[Case, Screening, str, datetime]],
        *,
        again: bool = False,
        fresh: bool = False,
    ) -> list[PreparedAlert]:
        """:meth:`prepare_alert` for each alert of a batch (a mail poll's), inside the batch's own
        transaction, with one look at who is on duty for all of them; send each after the commit."""
        if not alerts:
            return []
        people = await repo.on_duty_ids(s)
        nobody_on_duty = not people
        if nobody_on_duty:
            people = [c.telegram_id for c in await repo.supervisors(s)]
        return [
            await self._prepare_alert(
                s, case, screening, text, raised_at, people, nobody_on_duty, again, fresh
            )
            for case, screening, text, raised_at in alerts
        ]

    async def _prepare_alert(
        self,
        s: AsyncSession,
        case: Case,
        screening: Screening,
        text: str,
        raised_at: datetime,
        people: Sequence[int],
        nobody_on_duty: bool,
        again: bool,
        fresh: bool = False,
    ) -> PreparedAlert:
        # An alert sent again by its backup timer is the same crisis: its escalation was scheduled with
        # it (and may have fired already); one is scheduled now only if none ever was (nobody was on
        # duty then). A new crisis message schedules one unless one is pending.
        # One look at the case's crisis timers (not cancelled) answers both questions below.
        kinds = (TimerKind.CRISIS_ESCALATE, RESEND)
        timers = [] if fresh else await repo.timers_of(s, case.id, kinds)
        has_escalation = any(
            t.kind == TimerKind.CRISIS_ESCALATE and (again or t.fired_at is None) for t in timers
        )
        new_timers: list[tuple[TimerKind, datetime]] = []
        if not nobody_on_duty and case.status == CaseStatus.WAITING.value and not has_escalation:
            timeout = timedelta(seconds=self.desk.settings.crisis.ack_timeout_seconds)
            new_timers.append((TimerKind.CRISIS_ESCALATE, raised_at + timeout))
        await repo.record_alert(
            s, case, screening, raised_at, notified=len(people), supervisors_at_once=nobody_on_duty
        )
        # Committed with the message: if the process dies before the alert is out, or nobody could be
        # reached, the timer loop sends it again shortly (DESIGN §2: a restart loses nothing).
        backup = next(((t.id, t.due_at) for t in timers if t.kind == RESEND and t.fired_at is None), None)
        if backup is None:
            new_timers.append((RESEND, raised_at + RESEND_AFTER))
        added = await repo.add_timers(s, case.id, new_timers, raised_at)  # both in one statement
        backup = backup or added[RESEND.value]
        key = "counselor.alert_supervisor" if nobody_on_duty else "counselor.alert"
        body = self.alert_text(key, case, screening, text)
        buttons = self.ack_button(case) if case.status == CaseStatus.WAITING.value else ()
        line, order = self.alert_line(case, screening, text, raised_at)
        return PreparedAlert(case.id, tuple(people), body, buttons, backup[0], backup[1], key, line, order)

    async def send_alert(self, alert: PreparedAlert, *, hold: bool = True) -> None:
        """Send a prepared alert (after its transaction committed), then remember where it was shown.

        ``hold=False`` (an update's alert): when a counselor's chat is busy with other alerts (a burst,
        ``hotline/alert_lanes.py``), the alert waits for its turn in the background and the update goes
        on; the first alert of a burst is still sent before the update's routine messages. Its backup
        timer, committed with it, sends it again should the process stop before it is out."""
        if not hold and any(self.desk.lanes.busy(who) for who in alert.people):
            task = asyncio.get_running_loop().create_task(self._send_alert(alert))
            self._sending.add(task)
            task.add_done_callback(self._sent)
            return
        await self._send_alert(alert)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("a crisis alert failed in the background: %s", exc.__class__.__name__, exc_info=exc)

    async def wait(self) -> None:
        """Until the alerts sent in the background are out and recorded (before the process stops)."""
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

    async def _send_alert(self, alert: PreparedAlert) -> None:
        self.desk.timer_due(alert.backup_due)
        if not alert.people:
            log.critical(
                "crisis alert for case %s reached nobody: no one on duty and no supervisor", alert.case_id
            )
        item = LaneItem(
            alert.key, alert.body, alert.buttons, alert.line, self._lane_button(alert.buttons), alert.order
        )
        # Crisis messages, before any ordinary one; grouped with the others waiting for the same chat.
        refs = await asyncio.gather(*(self.desk.lanes.send(who, item) for who in alert.people))
        if alert.people and not any(refs):
            log.critical("crisis alert for case %s could not be delivered; retrying", alert.case_id)
        await self.desk.record_shown(
            alert.case_id,
            "alert",
            list(zip(alert.people, refs, strict=True)),
            done_timer=alert.backup_timer_id if any(refs) else None,
        )

    async def resend_alert(self, case_id: int) -> None:
        """Timer ``crisis.resend``: an alert that may not have gone out (the process stopped, or nobody
        could be reached) goes out now, unless someone has taken the case meanwhile. Raises when it still
        reaches nobody, so the timer is tried again."""
        now = self.desk.now()
        async with self.desk.store.unit() as s:
            case = await s.get(Case, case_id)
            if case is None or case.status != CaseStatus.WAITING.value:
                return
            alerts = await repo.alerts_of(s, case.id)
            cues = tuple(sorted({cue for a in alerts for cue in a.cues}))
            inbound = [t for d, t in await repo.messages_of(s, self.desk.store, case.id) if d == "inbound"]
            alert = (case, Screening(Risk(case.risk), cues), inbound[-1] if inbound else "", now)
            [prepared] = await self.prepare_alerts(s, [alert], again=True)
        await self.send_alert(prepared)
        if prepared.people and not await self._was_done(prepared.backup_timer_id):
            raise ChatUnavailable(f"the crisis alert for case {case_id} still reached nobody")

    async def _was_done(self, timer_id: int) -> bool:
        async with self.desk.store.unit() as s:
            timer = await s.get(Timer, timer_id)
            return timer is not None and timer.fired_at is not None

    async def escalate(self, case_id: int) -> None:
        """Nobody acknowledged a crisis alert in time (timer ``crisis.escalate``): every supervisor."""
        now = self.desk.now()
        async with self.desk.store.unit() as s:
            case = await s.get(Case, case_id)
            if case is None or case.status != CaseStatus.WAITING.value:
                return
            await repo.escalate_alerts(s, case.id, now)
            people = await repo.supervisors(s)
            alerts = await repo.alerts_of(s, case.id)
            inbound = [t for d, t in await repo.messages_of(s, self.desk.store, case.id) if d == "inbound"]
            cues = tuple(sorted({cue for a in alerts for cue in a.cues}))
            screening = Screening(Risk(case.risk), cues)
            words = inbound[-1] if inbound else ""
            key = "counselor.alert_supervisor"
            body = self.alert_text(key, case, screening, words)
            buttons = self.ack_button(case)
            line, order = self.alert_line(case, screening, words, now)
        item = LaneItem(key, body, buttons, line, self._lane_button(buttons), order)
        refs = await asyncio.gather(*(self.desk.lanes.send(p.telegram_id, item) for p in people))
        await self.desk.record_shown(
            case_id, "alert", [(p.telegram_id, ref) for p, ref in zip(people, refs, strict=True)]
        )

    async def timer_unhandled(self, kind: str, case_id: int | None) -> None:
        """A due timer whose kind has no handler (``timers.py``): every supervisor, at once; it may
        be a crisis escalation that nobody will otherwise send."""
        async with self.desk.store.unit() as s:
            case = await s.get(Case, case_id) if case_id is not None else None
            people = await repo.supervisors(s)
        code = case.code if case is not None else "—"
        text = self.desk.render("counselor.timer_unhandled", kind=kind, code=code)
        await self.desk.deliver([Outgoing(p.telegram_id, text) for p in people])

    async def update_set_aside(self, update_id: int, attempts: int) -> None:
        """A stored Telegram update could not be processed and was set aside (``bot/inbox.py``): every
        supervisor, at once, without its content (it may hold a crisis nobody has read)."""
        await self._tell_supervisors(
            self.desk.render("counselor.update_set_aside", update_id=update_id, attempts=attempts)
        )

    async def line_event_set_aside(self, seq: int, attempts: int) -> None:
        """A stored LINE event could not be carried out and was set aside (``line/shared.py``): every
        supervisor, at once, without its content (it may hold a crisis nobody has read)."""
        await self._tell_supervisors(
            self.desk.render("counselor.line_event_set_aside", seq=seq, attempts=attempts)
        )

    async def _tell_supervisors(self, text: str) -> None:
        """Every supervisor, at once, before any ordinary message."""
        async with self.desk.store.unit() as s:
            people = await repo.supervisors(s)
        with urgent(alert=True):
            await self.desk.deliver([Outgoing(p.telegram_id, text) for p in people])

    def cue_label(self, cue: str) -> str:
        """A cue id as counselors read it (``config/`` [cue]), the id itself when there is no label."""
        parts = cue.split(".")
        for key in (".".join(parts[:2]), parts[0]):
            if self.desk.texts.has(f"cue.{key}"):
                return self.desk.texts.get(f"cue.{key}")
        return cue

    def alert_text(self, key: str, case: Case, screening: Screening, text: str) -> str:
        """One alert message: the header, the cues, and the words (cut, pointing to the whole record,
        so the alert and its button always arrive as one message)."""
        cues = "、".join(dict.fromkeys(self.cue_label(c) for c in screening.cues)) or "—"
        if len(text) > ALERT_TEXT_CHARS:
            text = text[:ALERT_TEXT_CHARS] + self.desk.render("counselor.text_cut", code=case.code)
        channel = self.desk.channel_name(case.channel)
        return self.desk.render(
            key, code=case.code, channel=channel, risk=screening.risk, cues=cues, text=text
        )

    def alert_line(
        self, case: Case, screening: Screening, text: str, raised_at: datetime
    ) -> tuple[str, tuple[int, float]]:
        """A case's line in a grouped alert (code, risk, cues, the start of the words) and its place:
        the most imminent first, then the newest."""
        cues = "、".join(dict.fromkeys(self.cue_label(c) for c in screening.cues)) or "—"
        words = " ".join(text.split())
        if len(words) > GROUP_LINE_WORDS:
            words = words[:GROUP_LINE_WORDS] + "…"
        line = self.desk.render(
            "counselor.alert_group_line",
            code=case.code,
            channel=self.desk.channel_name(case.channel),
            risk=screening.risk,
            cues=cues,
            text=words,
        )
        return line, (-RISK_ORDER.index(screening.risk), -raised_at.timestamp())

    def group_header(self, kind: str, count: int) -> str:
        """The first line of a grouped message of ``kind`` (an alert's key) carrying ``count`` cases."""
        return self.desk.render(f"{kind}_group", count=count)

    def _lane_button(self, buttons: tuple[ButtonRow, ...]) -> tuple[str, str] | None:
        """A case's own button in a grouped message: "acknowledge" with its code."""
        if not buttons:
            return None
        data = buttons[0][0][1]
        return (self.desk.render("button.acknowledge_case", code=data.partition(":")[2]), data)

    def ack_button(self, case: Case) -> tuple[ButtonRow, ...]:
        return (((self.desk.texts.get("button.acknowledge"), f"ack:{case.code}"),),)


__all__ = ["ALERT_TEXT_CHARS", "RESEND", "RESEND_AFTER", "CrisisAlerts", "PreparedAlert"]
