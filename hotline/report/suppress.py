"""Small-cell suppression: no cell standing for 1 to 4 people is shown, nor can it be recomputed.

Primary rule: a cell (of any kind: a count, a sum of hours, a percentage, a median) derived from at
least 1 and fewer than 5 people is suppressed and shown as ``<5``. A cell of 0 people is
shown (0, or ``—`` when there is no value): an empty cell identifies nobody.

Complementary rule: each :class:`Equation` of a table (``sum(members) == total``: a row or a column
against its margin, free + self-paid hours against hours used) has 0 or at least 2 suppressed unknowns
among its members and total. Whenever an equation has exactly one, we suppress one more of its parts:

1. the smallest shown member whose value is not 0 (ties: the first in the table's order), else
2. the total.

Cells hidden by this rule stand for 5 or more people: they show ``x`` (not ``<5``, which would be
untrue). A suppressed member is never left alone with a shown total, so no one can subtract their way to it; a
suppressed total with every member shown is not left either (rule 1 hides a member). Repeated until no
equation changes (each round suppresses one more cell, so it ends). This protects against recomputation
from one equation at a time, which is what margins allow; it does not claim to defeat a full
linear-programming attack on many tables, for which the office's tables are far too coarse anyway.
"""

from __future__ import annotations

from dataclasses import replace

from hotline.report.model import Cell, Pos, Table


def primary(table: Table) -> set[Pos]:
    """Cells of 1 to 4 people, and cells already marked (a table copied from a suppressed one)."""
    return {
        (r, c)
        for r, row in enumerate(table.cells)
        for c, cell in enumerate(row)
        if cell.small or cell.suppressed
    }


def complementary(table: Table, hidden: set[Pos]) -> set[Pos]:
    """Extend ``hidden`` until no equation has exactly one hidden part (see the module doc)."""
    hidden = set(hidden)
    changed = True
    while changed:
        changed = False
        for eq in table.equations:
            parts = (*eq.members, eq.total)
            if sum(p in hidden for p in parts) != 1:
                continue
            shown = [p for p in eq.members if p not in hidden and table.cell(p).value not in (None, 0)]
            # the smallest shown non-zero member; among zeros only the total can still give it away
            pick = min(shown, key=lambda p: (table.cell(p).value or 0, p)) if shown else eq.total
            if pick in hidden:  # pragma: no cover - the total is hidden alone only when members show
                continue
            hidden.add(pick)
            changed = True
    return hidden


def suppress(table: Table) -> Table:
    """The table with every cell to hide marked ``suppressed``."""
    hidden = complementary(table, primary(table))
    cells = tuple(
        tuple(replace(cell, suppressed=(r, c) in hidden) for c, cell in enumerate(row))
        for r, row in enumerate(table.cells)
    )
    return replace(table, cells=cells)


def recoverable(table: Table) -> list[Pos]:
    """Suppressed parts that some equation would give away (empty after :func:`suppress`); for tests."""
    out: list[Pos] = []
    for eq in table.equations:
        hidden = [p for p in (*eq.members, eq.total) if table.cell(p).suppressed]
        if len(hidden) == 1:
            out.append(hidden[0])
    return out


__all__ = ["Cell", "complementary", "primary", "recoverable", "suppress"]
