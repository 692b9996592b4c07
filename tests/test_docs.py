"""The project explains itself from a clone: no file refers to a path outside the repository, every
link in the documentation reaches a file inside it, and the diagram in docs/architecture.md is the one the
code draws."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from hotline.flows.diagrams import intake_mermaid

ROOT = Path(__file__).resolve().parents[1]
# Relative paths climbing out of a directory, and absolute paths into places a clone does not have
# (written in two halves, so that this file does not name them itself).
CLIMB = re.compile(r"(?:\.\.[/\\])+[^\s`'\")\]>]*")
OUTSIDE = re.compile(r"(?<![\w}\].$])/(?:" + "work|home|root|Users" + r")/[\w.\-]+")
SHARED = ".." + "/shared"
LINK = re.compile(r"\]\(([^)\s]+)\)")
DOCS = (
    "README.md",
    "docs/architecture.md",
    "docs/operations.md",
    "docs/regulations.md",
    "docs/privacy.md",
    "docs/deploy.md",
)


def tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
    ).stdout.split(b"\0")
    files = []
    for name in filter(None, names):
        path = ROOT / name.decode()
        data = path.read_bytes() if path.is_file() else b"\0"
        if b"\0" not in data[:8192] and path.suffix not in {".eml", ".tsv"}:
            files.append(path)
    return files


def escapes(base: Path, target: str) -> bool:
    resolved = (base / target).resolve()
    return resolved != ROOT and ROOT not in resolved.parents


def test_the_finders_catch_what_they_are_for() -> None:
    """The patterns below would catch the references issue 18 found (so the next test can fail)."""
    readme_before = "The design is in `" + SHARED + "/DESIGN.md`; the seeds in `" + SHARED + "/seeds/`."
    assert [m.group() for m in CLIMB.finditer(readme_before)] == [SHARED + "/DESIGN.md", SHARED + "/seeds/"]
    assert escapes(ROOT, SHARED + "/DESIGN.md")
    assert not escapes(ROOT / "docs", "../hotline/app.py")
    assert OUTSIDE.search("see /" + "work/shared/DESIGN.md") is not None
    assert OUTSIDE.search("home={root}/home/%u") is None


def test_no_file_refers_to_a_path_outside_the_repository() -> None:
    files = tracked_text_files()
    assert len(files) > 100 and ROOT / "README.md" in files
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            where = f"{path.relative_to(ROOT)}:{number}"
            found += [
                f"{where}: {m.group()}" for m in CLIMB.finditer(line) if escapes(path.parent, m.group())
            ]
            found += [f"{where}: {m.group()}" for m in OUTSIDE.finditer(line)]
    assert found == []


@pytest.mark.parametrize("doc", DOCS)
def test_every_link_in_the_documentation_reaches_a_file_in_the_repository(doc: str) -> None:
    path = ROOT / doc
    targets = [t for t in LINK.findall(path.read_text(encoding="utf-8")) if "://" not in t]
    for target in targets:
        file = target.split("#", 1)[0]
        if file:
            assert not escapes(path.parent, file), f"{doc} links outside the repository: {target}"
            assert (path.parent / file).exists(), f"{doc} links to a missing file: {target}"


def test_the_readme_leads_to_the_documents() -> None:
    links = set(LINK.findall((ROOT / "README.md").read_text(encoding="utf-8")))
    assert {"docs/architecture.md", "docs/operations.md", "docs/regulations.md", "docs/privacy.md"} <= links
    assert all("://" not in link for link in links), "the README links only to files in the repository"


def test_the_architecture_diagram_is_the_one_the_code_draws() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    [diagram] = re.findall(r"```mermaid\n(.*?)```", text, flags=re.S)
    drawn = intake_mermaid().split("---\n", 2)[2]  # without the title block
    assert diagram == drawn, "run: python -m hotline.flows.diagrams, and copy docs/flows/intake.mmd's body"


@pytest.mark.parametrize(
    "section", ["## 1. Settings", "## 2. Start-up", "## 3. What to watch", "## 4. Backups", "## 5. Retention"]
)
def test_operations_covers_each_subject(section: str) -> None:
    assert section in (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")


def test_every_regulation_is_cited_by_name_and_point() -> None:
    text = (ROOT / "docs" / "regulations.md").read_text(encoding="utf-8")
    for plan in (
        "桃園縣政府",
        "臺北市政府員工協助服務要點",
        "臺北市政府114-115年推動員工協助方案2.0",
        "基隆市政府",
        "臺南市政府",
    ):
        assert plan in text
    for point in ("四、1、(3)", "五、(一)4", "八、(三)", "柒、一"):
        assert f"| {point}" in text
