"""How every flow builds its state machine (and the diagram generator draws it): one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transitions import Machine


def build_machine(
    model: object,
    states: Sequence[str],
    transitions: list[dict[str, Any]],
    initial: str,
    *,
    machine_class: type[Machine] = Machine,
    **kwargs: Any,
) -> Machine:
    """A machine over ``model``: no auto transitions (every move is in the table), and a trigger that
    does not apply in the current state is ignored (the flows answer such events themselves)."""
    return machine_class(
        model=model,
        states=list(states),
        transitions=transitions,
        initial=initial,
        auto_transitions=False,
        ignore_invalid_triggers=True,
        **kwargs,
    )
