"""Mermaid diagrams generated from the flow machines; ``python -m hotline.flows.diagrams`` rewrites them.

A test regenerates each diagram and compares it with the checked-in file, so the pictures never drift.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transitions.extensions.diagrams import GraphMachine

from hotline.flows import booking, intake, survey

DOCS = Path(__file__).resolve().parents[2] / "docs" / "flows"


class _Model:
    pass


def _mermaid(build: Callable[..., Any], title: str) -> str:
    model = _Model()
    build(model, machine_class=GraphMachine, graph_engine="mermaid", title=title, show_conditions=True)
    source: str = model.get_graph().source  # type: ignore[attr-defined]
    return source.rstrip() + "\n"


def intake_mermaid() -> str:
    return _mermaid(intake.build_machine, "hotline intake (employee, Telegram)")


def booking_mermaid() -> str:
    return _mermaid(booking.build_machine, "hotline face-to-face booking (one booking)")


def survey_mermaid() -> str:
    return _mermaid(survey.build_machine, "hotline satisfaction survey (one invitation)")


DIAGRAMS = {"intake.mmd": intake_mermaid, "booking.mmd": booking_mermaid, "survey.mmd": survey_mermaid}


def main() -> int:
    DOCS.mkdir(parents=True, exist_ok=True)
    for name, make in DIAGRAMS.items():
        (DOCS / name).write_text(make(), encoding="utf-8")
        print(f"wrote {DOCS / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
