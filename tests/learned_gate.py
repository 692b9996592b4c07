"""A stand-in for the learned screening layer whose verdicts the test releases (the reply budget's tests).

It reads a text as a crisis when it holds :data:`FAREWELL`, as heavy distress when it holds
:data:`WORN_OUT`, else as nothing, and records what it was asked. A batch with a text in ``held`` (by
default those two) is answered only once the test opens the gate (``open()``), or fails then
(``open(fail=True)``), like an encoder that broke; any other batch is answered at once."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from hotline.domain import NO_RISK, Risk, Screening
from hotline.screening.learned import LearnedLayer, Verdict

# Texts the lexicon lets through (tests/bot/test_reply_budget_e2e.py checks it).
FAREWELL = "我把存款密碼和保險單都整理好放在桌上了，也跟貓咪好好道別過了，之後大家就不用再為我操心"
WORN_OUT = "最近每天加班到半夜，回家也睡不著，整個人好累"
FOUND = Screening(Risk.ELEVATED, ("learned.farewell",))
HEAVY = Screening(Risk.DISTRESS, ("learned.distress",))


class Gate(LearnedLayer):
    def __init__(self) -> None:
        self.asked: list[str] = []
        self.held = {FAREWELL, WORN_OUT}
        self._opened = threading.Event()
        self.fail = False

    def open(self, *, fail: bool = False) -> None:
        self.fail = fail
        self._opened.set()

    def judge(self, messages: Sequence[tuple[str, Sequence[str]]]) -> list[Verdict]:
        texts = [text for text, _ in messages]
        self.asked.extend(texts)
        if not self.held.intersection(texts):
            return [Verdict(_verdict(text), 0.0, 0.0, 0.0) for text in texts]
        if not self._opened.wait(30):
            raise TimeoutError("the test never opened the gate")
        if self.fail:
            raise RuntimeError("the encoder broke")
        return [Verdict(_verdict(text), 0.0, 0.0, 0.0) for text, _ in messages]

    def screen_many(self, texts: Sequence[str]) -> list[Screening]:
        return [verdict.screening for verdict in self.judge([(text, ()) for text in texts])]


def _verdict(text: str) -> Screening:
    if FAREWELL in text:
        return FOUND
    return HEAVY if WORN_OUT in text else NO_RISK
