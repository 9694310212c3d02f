"""Notebook hygiene: every chapter is in the table of contents, stored without outputs, opens
with a title, starts with a first code cell that is safe in Colab, ends with a summary and
exercises, and cites only references that exist. (``pytest --nbval-lax`` runs the notebooks
themselves.)"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def _repository_url() -> str:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 2


def test_toc_and_notebooks_agree():
    listed = _toc_files()
    assert len(listed) == len(set(listed)), "a page is listed twice"
    for name in listed:
        candidates = [ROOT / f"{name}{ext}" for ext in (".ipynb", ".md")]
        assert any(p.is_file() for p in candidates), f"_toc.yml lists {name}, which does not exist"
    for nb in NOTEBOOKS:
        assert nb.relative_to(ROOT).with_suffix("").as_posix() in listed, (
            f"{nb.name} is not in _toc.yml"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} holds outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_title_and_first_code_cell_safe_in_colab(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("# "), (
        "the first cell is the title"
    )
    code = next(c for c in nb.cells if c.cell_type == "code").source
    # In Colab the first code cell installs arbook from the book's repository, and only there.
    assert 'if "google.colab" in sys.modules:' in code
    assert f"arbook @ git+{_repository_url()}" in code
    install_block = code.split('if "google.colab" in sys.modules:')[1].split("import arbook")[0]
    assert "pip" in install_block
    assert "arbook.setup(" in code, (
        "the first code cell picks device and profile and seeds everything"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_ends_with_summary_and_exercises(path):
    nb = nbformat.read(path, as_version=4)
    headings = [
        line
        for c in nb.cells
        if c.cell_type == "markdown"
        for line in c.source.splitlines()
        if line.startswith("## ")
    ]
    assert any("Summary" in h for h in headings), f"{path.name} has no Summary section"
    assert any("Exercises" in h for h in headings), f"{path.name} has no Exercises section"
    assert "Exercises" in headings[-1] or "Summary" in headings[-1] or "Exercises" in headings[-2]


def test_citations_exist():
    keys = set(re.findall(r"@\w+\{([^,]+),", (BOOK / "references.bib").read_text()))
    pages = [*NOTEBOOKS, *BOOK.glob("*.md")]
    for page in pages:
        text = page.read_text()
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text):
            for key in group.split(","):
                assert key.strip() in keys, f"{page.name} cites unknown key {key.strip()!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_chapter_trains_against_the_clock(path):
    """Budgets are steps or epochs, so a chapter prints the same numbers on any machine: no
    chapter sets a wall-clock limit or decides anything from a measured training time."""
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "max_seconds" not in code, f"{path.name} sets a wall-clock training budget"
    assert not re.search(r"=\s*\w+\.train_seconds", code), f"{path.name} budgets by a time"
