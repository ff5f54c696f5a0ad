"""The book shows the package's code (d2l's habit): every listing stored in a chapter's outputs must
still be the package's source, or the reader sees code that no longer runs."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_SOURCE = "\n".join(p.read_text() for p in sorted((ROOT / "sparselab").rglob("*.py")))
CODE_MIME = {"text/html", "text/latex", "text/plain"}  # IPython.display.Code's, highlighted


def _listings(notebook: Path):
    """(cell index, text) of each stored listing: Code objects and printed getsource(...)."""
    cells = json.loads(notebook.read_text())["cells"]
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if CODE_MIME <= set(data) and "highlight" in "".join(data["text/html"]):
                yield i, "".join(data["text/plain"])
            elif "getsource" in source and out.get("name") == "stdout":
                yield i, "".join(out["text"])


def _blocks(text: str) -> list[str]:
    """Top-level definitions a listing joins with a blank line, each checked on its own."""
    return [b.strip("\n") for b in re.split(r"\n\n+(?=@|def |class )", text.strip("\n"))]


NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
LISTINGS = [(nb.name, i, text) for nb in NOTEBOOKS for i, text in _listings(nb)]


def test_the_book_shows_package_code():
    assert {name for name, _, _ in LISTINGS} >= {"03_ista.ipynb", "04_fista.ipynb"}


@pytest.mark.parametrize(
    ("notebook", "cell", "text"), LISTINGS, ids=[f"{n}-{i}" for n, i, _ in LISTINGS]
)
def test_listing_is_current_package_source(notebook, cell, text):
    stale = [b.splitlines()[0] for b in _blocks(text) if b not in PACKAGE_SOURCE]
    assert not stale, (
        f"{notebook}, cell {cell}, shows code that is no longer in sparselab/ (first lines: "
        f"{stale}); re-execute it with tools/execute_notebooks.py"
    )
