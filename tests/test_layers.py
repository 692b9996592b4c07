"""Import boundaries the type checker cannot see: the e-mail station and the channel-neutral parts (the
desk, the dispatch, the channel registry) never import the Telegram adapter package ``hotline.bot``."""

from __future__ import annotations

import ast
from pathlib import Path

import hotline

ROOT = Path(hotline.__file__).parent
NEUTRAL = [
    *sorted((ROOT / "station").glob("*.py")),
    ROOT / "desk.py",
    ROOT / "dispatch.py",
    ROOT / "channels.py",
    ROOT / "executor.py",
    ROOT / "intake_effects.py",
    ROOT / "alerts.py",
    ROOT / "outgoing.py",
]


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_station_and_the_desk_do_not_import_bot() -> None:
    assert len(NEUTRAL) > 5
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n for n in imported(path) if n.split(".")[:2] == ["hotline", "bot"]
        )
        for path in NEUTRAL
    }
    assert {k: v for k, v in offenders.items() if v} == {}
