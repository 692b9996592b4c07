"""The labelled corpus: every crisis line alerts, imminent lines are imminent, false alarms are capped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hotline.domain import Risk
from hotline.screening import Screener

CORPUS = Path(__file__).with_name("corpus.tsv")
FALSE_ALARM_CAP = 0.05  # share of harmless lines that may alert


@dataclass(frozen=True)
class Line:
    number: int
    label: Risk
    text: str


def read_corpus() -> list[Line]:
    lines: list[Line] = []
    for number, raw in enumerate(CORPUS.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip() or raw.startswith("#"):
            continue
        label, sep, text = raw.partition("\t")
        assert sep, f"corpus.tsv:{number}: expected label<TAB>text"
        lines.append(Line(number, Risk(label), text))
    return lines


def test_corpus_is_large_and_mixed() -> None:
    lines = read_corpus()
    assert len(lines) >= 300
    labels = {line.label for line in lines}
    assert labels == {Risk.NONE, Risk.DISTRESS, Risk.ELEVATED, Risk.IMMINENT}


def test_every_crisis_line_alerts(screener: Screener) -> None:
    missed = [
        f"corpus.tsv:{line.number}: {line.text}"
        for line in read_corpus()
        if line.label.rank >= Risk.ELEVATED.rank and not screener.screen(line.text).is_crisis
    ]
    assert not missed, "crisis lines not screened as a crisis:\n" + "\n".join(missed)


def _screened_otherwise(screener: Screener, label: Risk) -> list[str]:
    return [
        f"corpus.tsv:{line.number}: {line.text} -> {screener.screen(line.text)}"
        for line in read_corpus()
        if line.label is label and screener.screen(line.text).risk is not label
    ]


def test_distress_lines_are_distress_and_raise_no_alert(screener: Screener) -> None:
    wrong = _screened_otherwise(screener, Risk.DISTRESS)
    assert not wrong, "distress lines screened otherwise:\n" + "\n".join(wrong)


def test_imminent_lines_are_imminent(screener: Screener) -> None:
    wrong = _screened_otherwise(screener, Risk.IMMINENT)
    assert not wrong, "imminent lines screened lower:\n" + "\n".join(wrong)


def test_false_alarms_are_reported_and_capped(
    screener: Screener,
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    lines = read_corpus()
    harmless = [line for line in lines if line.label is Risk.NONE]
    crisis = [line for line in lines if line.label.rank >= Risk.ELEVATED.rank]
    caught = sum(1 for line in crisis if screener.screen(line.text).is_crisis)
    alarms = [(line, screener.screen(line.text)) for line in harmless]
    alarms = [(line, result) for line, result in alarms if result.is_crisis]
    rate = len(alarms) / len(harmless)
    record_property("screening_false_alarms", len(alarms))
    record_property("screening_false_alarm_rate", f"{rate:.4f}")
    with capsys.disabled():
        print(
            f"\nscreening regression corpus (written with the lexicon, not a held-out measure):"
            f" {caught}/{len(crisis)} crisis lines alerted;"
            f" {len(alarms)}/{len(harmless)} harmless lines alerted ({rate:.1%}, cap {FALSE_ALARM_CAP:.0%})"
        )
        for line, result in alarms:
            print(f"  false alarm corpus.tsv:{line.number}: {line.text} -> {result.risk} {list(result.cues)}")
    assert rate <= FALSE_ALARM_CAP
