"""The checked-in flow diagrams match the machines they are drawn from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hotline.flows.diagrams import DIAGRAMS, DOCS


@pytest.mark.parametrize("name", sorted(DIAGRAMS))
def test_diagram_is_current(name: str) -> None:
    checked_in = (DOCS / name).read_text(encoding="utf-8")
    assert checked_in == DIAGRAMS[name](), (
        f"docs/flows/{name} is stale: run `python -m hotline.flows.diagrams`"
    )


def test_diagram_shows_every_state_and_the_crisis_free_path() -> None:
    source = DIAGRAMS["intake.mmd"]()
    for state in ("idle", "consent", "area", "describe", "queued", "connected"):
        assert state in source
    assert "accept" in source and "claimed" in source


def test_the_generator_writes_every_diagram(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hotline.flows import diagrams

    monkeypatch.setattr(diagrams, "DOCS", tmp_path / "flows")
    assert diagrams.main() == 0
    for name, make in DIAGRAMS.items():
        assert (tmp_path / "flows" / name).read_text(encoding="utf-8") == make()


def test_machines_bind_every_trigger() -> None:
    """A callback named like a trigger makes transitions skip the trigger (and say so in a warning)."""
    code = (
        "import logging; logging.basicConfig(level=logging.WARNING); "
        "import hotline.flows.intake, hotline.flows.booking, hotline.flows.survey"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stderr == ""
