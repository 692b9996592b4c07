"""The checked-in flow diagrams match the machines they are drawn from."""

from __future__ import annotations

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
