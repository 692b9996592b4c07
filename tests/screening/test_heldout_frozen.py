"""The held-out screening sets are frozen: each file's sha256 is the one recorded when it was committed
(benchmarks/data/README.md), so a set edited to pass fails here. Only the hash is read, never the lines."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "benchmarks" / "data"
ROW = re.compile(r"^\| `(screening-heldout-\d+\.tsv)` \|.*\| (\d+) \| ([0-9a-f]{64}) \|$", re.MULTILINE)
# Sets retired to training (eleventh session): moved byte for byte into the exemplars.
RETIRED = re.compile(
    r"^\| `(hotline/screening/data/exemplars/heldout-\d+\.tsv)` \(was .*\| (\d+) \| ([0-9a-f]{64}) \|$",
    re.MULTILINE,
)


def test_every_heldout_set_matches_its_recorded_hash() -> None:
    recorded = {name: digest for name, _lines, digest in ROW.findall((DATA / "README.md").read_text("utf-8"))}
    on_disk = {p.name for p in DATA.glob("screening-heldout-*.tsv")}
    assert on_disk and on_disk == set(recorded), "every held-out file has one row in the README, and no more"
    for name, digest in recorded.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, (
            f"{name} changed after freezing"
        )


def test_the_sets_retired_to_training_are_the_frozen_files() -> None:
    recorded = RETIRED.findall((DATA / "README.md").read_text("utf-8"))
    on_disk = {
        str(p.relative_to(ROOT)) for p in (ROOT / "hotline/screening/data/exemplars").glob("heldout-*.tsv")
    }
    assert on_disk and on_disk == {path for path, _lines, _digest in recorded}
    for path, _lines, digest in recorded:
        assert hashlib.sha256((ROOT / path).read_bytes()).hexdigest() == digest, (
            f"{path} changed after freezing"
        )
