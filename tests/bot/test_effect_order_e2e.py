"""The ordering rule of the effect executor, on the Telegram emulator: the crisis reply to the employee
leaves first, then the alert to counselors, then the rest, whatever order the flow put them in."""

from __future__ import annotations

import pytest

from hotline.flows import intake
from hotline.flows.vocabulary import AlertOnDuty, Context, Effect, Event, Reply
from hotline.sandbox.stage import Stage
from tests.tests_support import COUNSELOR

JUMP = "我真的撐不下去了，今晚想從頂樓跳下去"
ROUTINE = "input.rate_limited"  # any routine text: here the flow "leads" with it


async def test_crisis_reply_goes_first_whatever_the_flow_order(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_step = intake.step

    def wrong_order(
        state: intake.IntakeState, event: Event, ctx: Context
    ) -> tuple[intake.IntakeState, list[Effect]]:
        new, effects = real_step(state, event, ctx)
        crisis = [e for e in effects if isinstance(e, Reply) and e.key.startswith("crisis.")]
        if not crisis:
            return new, effects
        alerts = [e for e in effects if isinstance(e, AlertOnDuty)]
        rest = [e for e in effects if e not in crisis and e not in alerts]
        # A routine reply first, the alert next, the crisis reply last: the worst order there is.
        return new, [Reply(ROUTINE), *rest, *alerts, *crisis]

    monkeypatch.setattr(intake, "step", wrong_order)
    emu = stage.emu
    wang = emu.user(COUNSELOR, "Wang")
    await stage.say(wang, "/onduty", containing="值班")
    jie = emu.user(5201, "阿傑")
    mark = emu.mark()
    await emu.send_text(jie, JUMP)
    desk = stage.running.desk
    assert desk is not None
    await stage.next_message(jie.id, since=mark, containing=desk.texts.get(ROUTINE))
    await stage.next_message(COUNSELOR, since=mark, containing="危機通報")
    sent = [
        (c.chat_id, c.text or "")
        for c in emu.calls[mark:]
        if c.method == "sendMessage" and c.ok and c.chat_id in (jie.id, COUNSELOR)
    ]
    assert [who for who, _ in sent] == [jie.id, COUNSELOR, jie.id], sent
    assert "1925" in sent[0][1] and "危機通報" in sent[1][1] and "1925" not in sent[2][1]
