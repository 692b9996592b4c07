"""`python -m benchmarks` calls every benchmark's ``main`` the same way: with its own arguments (a list),
never the dispatcher's, and stops at the first that fails."""

from __future__ import annotations

import sys

import pytest

from benchmarks import __main__ as dispatcher


def _recording(
    monkeypatch: pytest.MonkeyPatch, codes: dict[str, int] | None = None
) -> list[tuple[str, list[str]]]:
    seen: list[tuple[str, list[str]]] = []
    for name, (title, _) in list(dispatcher.BENCHMARKS.items()):

        def recording(argv: list[str], name: str = name) -> int:
            seen.append((name, argv))
            return (codes or {}).get(name, 0)

        monkeypatch.setitem(dispatcher.BENCHMARKS, name, (title, recording))
    monkeypatch.setattr(sys, "argv", ["python -m benchmarks", "screen"])  # never read by a benchmark
    return seen


def test_every_benchmark_gets_an_empty_argv_when_all_run(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _recording(monkeypatch)
    assert dispatcher.main([]) == 0
    assert seen == [(name, []) for name in dispatcher.ALL]


def test_the_screen_benchmark_does_not_read_the_dispatchers_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _recording(monkeypatch)
    assert dispatcher.main(["screen"]) == 0
    assert seen == [("screen", [])]


def test_one_benchmark_gets_the_arguments_after_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _recording(monkeypatch)
    assert dispatcher.main(["mail", "20", "--rounds", "1"]) == 0
    assert dispatcher.main(["screening", "--set", "2"]) == 0
    assert seen == [("mail", ["20", "--rounds", "1"]), ("screening", ["--set", "2"])]


def test_a_failing_benchmark_stops_the_run_with_its_code(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _recording(monkeypatch, {"telegram": 1})
    assert dispatcher.main(["telegram", "mail"]) == 1
    assert seen == [("telegram", [])]
    assert dispatcher.main(["nonsense"]) == 2


def test_every_benchmark_main_takes_an_argv_list() -> None:
    """The same signature everywhere: ``main(argv: list[str]) -> int`` (memory's once took none)."""
    import inspect

    for name, (_, main) in dispatcher.BENCHMARKS.items():
        parameters = list(inspect.signature(main).parameters.values())
        assert [p.name for p in parameters] == ["argv"], name
        assert parameters[0].default is inspect.Parameter.empty, name
