"""Mermaid diagrams generated from the flow machines; ``python -m hotline.flows.diagrams`` rewrites them.

A test regenerates each diagram and compares it with the checked-in file, so the pictures never drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

from transitions.extensions.diagrams import GraphMachine

from hotline.flows import booking, intake, survey

DOCS = Path(__file__).resolve().parents[2] / "docs" / "flows"


class _Model:
    pass


def intake_mermaid() -> str:
    model = _Model()
    GraphMachine(
        model=model,
        states=list(intake.STATES),
        transitions=intake.TRANSITIONS,
        initial="idle",
        auto_transitions=False,
        graph_engine="mermaid",
        title="hotline intake (employee, Telegram)",
        show_conditions=True,
    )
    source: str = model.get_graph().source  # type: ignore[attr-defined]
    return source.rstrip() + "\n"


def booking_mermaid() -> str:
    model = _Model()
    GraphMachine(
        model=model,
        states=list(booking.STATES),
        transitions=booking.TRANSITIONS,
        initial="choosing",
        auto_transitions=False,
        graph_engine="mermaid",
        title="hotline face-to-face booking (one booking)",
        show_conditions=True,
    )
    source: str = model.get_graph().source  # type: ignore[attr-defined]
    return source.rstrip() + "\n"


def survey_mermaid() -> str:
    model = _Model()
    GraphMachine(
        model=model,
        states=list(survey.STATES),
        transitions=survey.TRANSITIONS,
        initial="rating",
        auto_transitions=False,
        graph_engine="mermaid",
        title="hotline satisfaction survey (one invitation)",
        show_conditions=True,
    )
    source: str = model.get_graph().source  # type: ignore[attr-defined]
    return source.rstrip() + "\n"


DIAGRAMS = {"intake.mmd": intake_mermaid, "booking.mmd": booking_mermaid, "survey.mmd": survey_mermaid}


def main() -> int:
    DOCS.mkdir(parents=True, exist_ok=True)
    for name, make in DIAGRAMS.items():
        (DOCS / name).write_text(make(), encoding="utf-8")
        print(f"wrote {DOCS / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
