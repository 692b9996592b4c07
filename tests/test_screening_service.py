"""Screening inside the service: the lexicon's crisis at once, the learned layer off the event loop and
batched, a failing learned layer never costs a message, and the bounded conversation window."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from hotline.domain import NO_RISK, Risk, Screening
from hotline.screening.learned import LearnedLayer, Verdict
from hotline.screening_service import ConversationWindow, Pace, ScreeningService

CRISIS = Screening(Risk.ELEVATED, ("lexicon.cue",))


def lexicon(text: str) -> Screening:
    return CRISIS if "想死" in text else NO_RISK


class SlowLayer(LearnedLayer):
    """Blocks in its worker thread until released; records each batch it was given."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.started = threading.Event()
        self.fail = fail
        self.threads: list[str] = []

    def judge(self, messages: Sequence[tuple[str, Sequence[str]]]) -> list[Verdict]:
        self.batches.append([text for text, _ in messages])
        self.threads.append(threading.current_thread().name)
        self.started.set()
        self.release.wait(10)
        if self.fail:
            raise RuntimeError("the encoder broke")
        learned = Screening(Risk.ELEVATED, ("learned.plan",))
        return [Verdict(learned if "藥" in t else NO_RISK, 0.0, 0.0, 0.0) for t, _ in messages]

    def screen_many(self, texts: Sequence[str]) -> list[Screening]:
        return [v.screening for v in self.judge([(t, ()) for t in texts])]


async def test_a_lexicon_crisis_does_not_wait_for_the_learned_layer() -> None:
    layer = SlowLayer()
    service = ScreeningService(lexicon, layer)
    assert await asyncio.wait_for(service.screen("我想死"), 1) == CRISIS
    assert layer.batches == []


async def test_messages_arriving_while_the_encoder_works_are_encoded_together() -> None:
    layer = SlowLayer()
    service = ScreeningService(lexicon, layer)
    first = asyncio.create_task(service.screen("藥都買好了"))
    assert await asyncio.to_thread(layer.started.wait, 10)  # the worker thread has the first message
    others = [asyncio.create_task(service.screen(t)) for t in ("你好", "藥在抽屜")]
    await asyncio.sleep(0)  # let both tasks queue their texts (no waiting: one turn of the loop)
    layer.release.set()
    results = await asyncio.wait_for(asyncio.gather(first, *others), 10)
    assert [r.is_crisis for r in results] == [True, False, True]
    assert layer.batches == [["藥都買好了"], ["你好", "藥在抽屜"]]
    assert (service.calls, service.messages) == (2, 3)
    await service.close()


async def test_the_learned_layer_runs_on_its_own_thread_not_the_loops_default_pool() -> None:
    """The encoder's engine keeps threads per calling thread: one caller, always the same one."""
    layer = SlowLayer()
    layer.release.set()
    service = ScreeningService(lexicon, layer)
    await service.screen("藥都買好了")
    await service.screen_all(["藥", "你好"])
    await service.screen("你好")
    assert len(set(layer.threads)) == 1
    assert layer.threads[0].startswith("learned-screening")
    await service.close()


async def test_a_failing_learned_layer_leaves_the_lexicons_answer(caplog: pytest.LogCaptureFixture) -> None:
    layer = SlowLayer(fail=True)
    layer.release.set()
    service = ScreeningService(lexicon, layer)
    assert await asyncio.wait_for(service.screen("藥都買好了"), 10) is NO_RISK
    assert await service.screen_all(["我想死", "藥"]) == [CRISIS, NO_RISK]
    assert "lexicon's results stand" in caplog.text


async def test_a_batch_marks_what_the_lexicon_failed_on() -> None:
    def fragile(text: str) -> Screening:
        if text == "bug":
            raise ValueError(text)
        return lexicon(text)

    service = ScreeningService(fragile)
    assert await service.screen_all(["我想死", "bug", "ok"]) == [CRISIS, None, NO_RISK]


def test_the_window_keeps_a_few_recent_messages_per_person() -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    window = ConversationWindow(size=2, minutes=15, chats=2)
    for i, text in enumerate(("一", "二", "三")):
        window.add("a", text, now + timedelta(minutes=i))
    assert window.earlier("a", now + timedelta(minutes=3)) == ["二", "三"]
    assert window.earlier("a", now + timedelta(minutes=17)) == ["三"], "older ones drop out"
    window.add("b", "b1", now)
    window.add("c", "c1", now)
    assert window.earlier("a", now) == [], "the least recent person is dropped beyond the bound"
    window.forget("b")
    assert window.earlier("b", now) == []
    assert ConversationWindow(size=0, minutes=15).earlier("x", now) == []


def test_whoever_has_been_silent_longer_than_the_window_is_not_kept() -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    window = ConversationWindow(size=3, minutes=15)
    window.add("a", "藥都買好了", now)
    window.add("b", "你好", now + timedelta(minutes=10))
    window.add("c", "在嗎", now + timedelta(minutes=16))
    assert list(window._recent) == ["b", "c"], "a's words are not held once the window no longer needs them"
    window.add("b", "就今晚", now + timedelta(minutes=17))
    assert window.earlier("b", now + timedelta(minutes=18)) == ["你好", "就今晚"]
    one = ConversationWindow(size=1, minutes=15)
    one.add("a", "一", now)
    one.add("a", "二", now)
    assert one.earlier("a", now) == ["二"]


async def test_within_the_budget_a_late_verdict_is_handed_over_and_a_lexicon_crisis_never_waits() -> None:
    layer = SlowLayer()
    service = ScreeningService(lexicon, layer, budget=0)
    crisis = await service.within("我想死")
    assert crisis.now == CRISIS and not crisis.late, "the lexicon's crisis stands at once"
    screened = await service.within("藥都買好了")
    assert screened.now == NO_RISK and screened.late, "past the budget: answered on the lexicon's screening"
    layer.release.set()
    verdict = await asyncio.wait_for(screened.later(), 10)
    assert verdict.risk is Risk.ELEVATED and verdict.cues == ("learned.plan",)
    assert (service.late, (await service.within("藥在抽屜")).late) == (1, True)
    await service.close()


async def test_a_verdict_inside_the_budget_is_the_screening() -> None:
    layer = SlowLayer()
    layer.release.set()
    service = ScreeningService(lexicon, layer, budget=10)
    screened = await service.within("藥都買好了")
    assert not screened.late and screened.now.risk is Risk.ELEVATED and service.late == 0
    assert await screened.later() == screened.now
    await service.close()


class PacedLayer(SlowLayer):
    """A SlowLayer that takes ``seconds`` a message on the test's clock (no real time passes)."""

    def __init__(self, clock: list[float], seconds: float) -> None:
        super().__init__()
        self.clock = clock
        self.seconds = seconds

    def judge(self, messages: Sequence[tuple[str, Sequence[str]]]) -> list[Verdict]:
        verdicts = super().judge(messages)
        self.clock[0] += self.seconds * len(messages)
        return verdicts


async def settled(task: asyncio.Task[object]) -> bool:
    """Whether ``task`` ends without waiting on anything outside the event loop (a timer, a thread)."""
    for _ in range(20):
        if task.done():
            return True
        await asyncio.sleep(0)
    return task.done()


async def test_a_verdict_that_cannot_come_within_the_budget_is_not_waited_for() -> None:
    now = [0.0]
    layer = PacedLayer(now, seconds=100)  # the learned layer reads a message in 100 s (the test's clock)
    layer.release.set()
    service = ScreeningService(lexicon, layer, budget=10, clock=lambda: now[0])
    first = await service.within("你好")
    assert not first.late, "nothing told the pace yet: the text waited, and its verdict came"
    assert service.pace.per_message == 100
    layer.release.clear()  # the next call does not end until the test lets it
    waiting = asyncio.create_task(service.within("藥都買好了"))
    assert await settled(waiting), "its verdict needs 100 s, the budget is 10: the reply does not wait"
    screened = waiting.result()
    assert screened.late and screened.now == NO_RISK and (service.late, service.unwaited) == (1, 1)
    layer.release.set()
    verdict = await asyncio.wait_for(screened.later(), 10)
    assert verdict.risk is Risk.ELEVATED, "the verdict still comes, late, for the runner to act on"
    again = ScreeningService(lexicon, layer, budget=10, clock=lambda: now[0])
    assert again.pace is service.pace, "the pace is the layer's: a service built again starts with it"
    await service.close()


async def test_the_call_under_way_tells_the_pace_of_a_first_burst() -> None:
    now = [0.0]
    layer = SlowLayer()
    service = ScreeningService(lexicon, layer, budget=10, clock=lambda: now[0])
    first = asyncio.create_task(service.within("你好"))
    assert await asyncio.to_thread(layer.started.wait, 10)
    now[0] = 50.0  # the first call has read its one message for 50 s and is not done
    burst = asyncio.create_task(service.within("藥在抽屜"))
    assert await settled(burst), "a message takes at least 50 s at that pace: no use waiting 10"
    assert burst.result().late and service.unwaited == 1
    layer.release.set()
    assert not (await first).late, "the first text waited: nothing told the pace when it came"
    assert (await asyncio.wait_for(burst.result().later(), 10)).risk is Risk.ELEVATED
    await service.close()


async def test_a_verdict_the_pace_lets_come_within_the_budget_is_waited_for() -> None:
    now = [0.0]
    layer = PacedLayer(now, seconds=0.001)
    layer.release.set()
    service = ScreeningService(lexicon, layer, budget=10, clock=lambda: now[0])
    await service.within("你好")
    screened = await service.within("藥都買好了")
    assert not screened.late and screened.now.risk is Risk.ELEVATED and service.unwaited == 0
    await service.close()


def test_the_pace_is_by_time_so_cheap_calls_on_known_texts_do_not_hide_a_slow_one() -> None:
    pace = Pace()
    assert pace.per_message == 0
    pace.add(20.0, 300)  # 300 new texts: 20 s
    for _ in range(100):
        pace.add(0.001, 3)  # texts read before (the digest cache), in many small calls
    assert pace.per_message > 0.06, "a new text still takes about 67 ms"
    for _ in range(12):
        pace.add(5.0, 500)  # then a minute of work at 10 ms a text: the slow start is forgotten
    assert 0.01 <= pace.per_message < 0.011


async def test_a_batch_reads_each_text_and_what_goes_with_it_apart() -> None:
    """A mail: the lexicon reads the subject and the body joined; the learned layer reads the body and the
    subject each as a message of its own, not the two joined into one text."""

    class Recording(SlowLayer):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[tuple[str, tuple[str, ...]]] = []

        def judge(self, messages: Sequence[tuple[str, Sequence[str]]]) -> list[Verdict]:
            self.messages.extend((text, tuple(before)) for text, before in messages)
            return [Verdict(NO_RISK, 0.0, 0.0, 0.0) for _ in messages]

    layer = Recording()
    service = ScreeningService(lexicon, layer)
    results = await service.screen_all(["車快來了", "你好", "就這樣"], [("主旨",), (), ("我想死",)])
    assert results == [NO_RISK, NO_RISK, CRISIS]  # the lexicon saw 我想死 in the third one's subject
    assert layer.messages == [("車快來了", ()), ("主旨", ()), ("你好", ())]
    await service.close()
