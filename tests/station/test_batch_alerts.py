"""Issue 12 §3: the crisis alerts of a batch of mail are recorded in the batch's own transaction (one
look at who is on duty) and sent after its commit; a process that stops in between loses none of them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hotline.alerts import PreparedAlert
from hotline.sandbox.stage import Stage, StageClock
from hotline.storage.models import Alert, Timer
from hotline.timer_kinds import TimerKind
from tests.servers.dovecot import DovecotServer
from tests.station.test_station import RECEIVED, cases, mail, poll, station
from tests.tests_support import COUNSELOR

__all__ = ["station"]  # the fixture, shared with test_station.py


class Stopped(Exception):
    """The process stopping right after the batch's commit, before any alert is out."""


async def test_a_batch_s_alerts_are_committed_with_it_and_sent_after_a_crash(
    station: Stage, imap_server: DovecotServer, clock: StageClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = station.emu
    wang = emu.user(COUNSELOR, "Wang")
    await station.say(wang, "/onduty", containing="值班")
    for n, (sender, body) in enumerate(
        [
            ("a@agency.example.gov.tw", "我已經把安眠藥都存好了，今晚就想結束這一切。"),
            ("b@agency.example.gov.tw", "最近工作很忙，想請問諮商怎麼預約。"),
            ("c@agency.example.gov.tw", "活著好累，我已經寫好遺書了，不想再醒來。"),
        ]
    ):
        imap_server.append(mail("你好", body, sender=sender, message_id=f"<q{n}@x.tw>"), RECEIVED)
    desk = station.running.desk
    assert desk is not None
    sent: list[PreparedAlert] = []

    async def stop_before_sending(alert: PreparedAlert) -> None:
        sent.append(alert)
        raise Stopped

    monkeypatch.setattr(desk.alerts, "send_alert", stop_before_sending)
    mark = emu.mark()
    with pytest.raises(Stopped):
        await poll(station)
    assert len(sent) == 1, "the first send stopped the process"

    # Both alerts were recorded with the batch, with who was told, before anything was sent.
    crises = [case for case in await cases(station) if case.risk != "none"]
    assert len(crises) == 2
    async with station.running.store.unit() as s:  # type: ignore[union-attr]
        alerts = (await s.scalars(select(Alert).order_by(Alert.case_id))).all()
        resend = (
            await s.scalars(
                select(Timer.case_id).where(Timer.kind == TimerKind.CRISIS_RESEND, Timer.fired_at.is_(None))
            )
        ).all()
    assert [a.case_id for a in alerts] == [c.id for c in crises]
    assert all(a.notified == 1 and not a.notified_supervisors_at_once for a in alerts)
    assert sorted(resend) == [c.id for c in crises]
    assert not [c for c in emu.calls_to(COUNSELOR, since=mark) if "危機通報" in (c.text or "")]

    # The restarted service's timers send both.
    monkeypatch.undo()
    clock.advance(minutes=1)
    assert await station.running.timers.run_due() >= 2  # type: ignore[union-attr]
    for case in crises:
        await station.next_message(COUNSELOR, since=mark, containing=f"危機通報｜案件 {case.code}")
