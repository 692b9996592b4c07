"""`python -m benchmarks NAME` hands each benchmark its own arguments, not the dispatcher's."""

from __future__ import annotations

import sys

import pytest

from benchmarks import __main__ as dispatcher
from benchmarks import screen_bench


def test_the_screen_benchmark_does_not_read_the_dispatchers_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str] | None] = []

    def recording(argv: list[str] | None = None) -> int:
        seen.append(argv)
        return 0

    monkeypatch.setattr(sys, "argv", ["python -m benchmarks", "screen"])
    monkeypatch.setattr(screen_bench, "main", recording)
    assert dispatcher.main(["screen"]) == 0
    assert seen == [[]]
