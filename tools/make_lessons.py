"""Generate the lesson notebooks from their single sources (jupytext percent scripts).

    python tools/make_lessons.py            # regenerate every lessons/NN_name_{exercise,solution}.ipynb
    python tools/make_lessons.py --check    # exit 1 and list the notebooks that are out of date

Source: ``lessons/src/NN_name.py``. In a code cell, the lines between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` are the answer: the exercise notebook replaces them by a stub (``# YOUR CODE
HERE`` and ``raise NotImplementedError``, indented like the marker); the solution notebook keeps
them without the markers. A whole cell whose first line is ``# solution`` (or tagged ``solution``)
appears in the solution notebook only. The solution notebook starts with a cell that makes every
check raise unless it passes, so CI (nbval) fails when a solution is wrong. Notebooks are written
without outputs and with stable cell ids, so regenerating is deterministic.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STRICT_CELL = (
    "# Solution notebook: a check that does not pass raises here (CI runs this notebook).\n"
    "import sparselab.checks\n\n"
    "sparselab.checks.set_strict(True)"
)
VARIANTS = ("exercise", "solution")


def _is_solution_cell(cell) -> bool:
    tags = cell.metadata.get("tags", [])
    first = cell.source.lstrip().split("\n", 1)[0].strip().lower()
    return "solution" in tags or (cell.cell_type == "code" and first == "# solution")


def _strip_solution_line(source: str) -> str:
    lines = source.split("\n")
    if lines and lines[0].strip().lower() == "# solution":
        lines = lines[1:]
    return "\n".join(lines).strip("\n")


def _replace_solutions(source: str, variant: str, where: str) -> str:
    """Drop the markers (solution) or the marked lines, replaced by a stub (exercise)."""
    out, inside = [], False
    for number, line in enumerate(source.split("\n"), 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"{where}, line {number}: {BEGIN} inside a solution block")
            inside = True
            if variant == "exercise":
                indent = line[: len(line) - len(line.lstrip())]
                out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError"]
        elif stripped == END:
            if not inside:
                raise ValueError(f"{where}, line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside or variant == "solution":
            out.append(line)
    if inside:
        raise ValueError(f"{where}: {BEGIN} without {END}")
    return "\n".join(out)


def build(source: Path, variant: str) -> str:
    """The text of the ``variant`` ("exercise" or "solution") notebook generated from ``source``."""
    nb = jupytext.read(source, fmt="py:percent")
    cells = []
    for cell in nb.cells:
        if _is_solution_cell(cell):
            if variant == "exercise":
                continue
            cell.source = _strip_solution_line(cell.source)
            tags = [t for t in cell.metadata.get("tags", []) if t != "solution"]
            cell.metadata = {"tags": tags} if tags else {}
        else:
            cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
        if cell.cell_type == "code":
            cell.source = _replace_solutions(cell.source, variant, f"{source.name} ({variant})")
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    if variant == "solution":
        cells.insert(0, nbformat.v4.new_code_cell(STRICT_CELL, metadata={"tags": ["remove-cell"]}))
    for i, cell in enumerate(cells):
        cell.id = f"{variant[:3]}-{i:02d}"
    out = nbformat.v4.new_notebook(cells=cells)
    out.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    return nbformat.writes(out) + "\n"


def targets(lessons: Path = LESSONS) -> dict[Path, tuple[Path, str]]:
    """Every generated notebook -> (its source, its variant)."""
    out = {}
    for source in sorted((lessons / "src").glob("[0-9][0-9]_*.py")):
        for variant in VARIANTS:
            out[lessons / f"{source.stem}_{variant}.ipynb"] = (source, variant)
    return out


def stale(lessons: Path = LESSONS) -> list[Path]:
    """Generated notebooks that are missing or differ from what their source gives, and
    notebooks in ``lessons/`` that no source generates."""
    expected = targets(lessons)
    out = [
        p for p, (src, v) in expected.items() if not p.exists() or p.read_text() != build(src, v)
    ]
    orphans = [p for p in sorted(lessons.glob("*.ipynb")) if p not in expected]
    return out + orphans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="list out-of-date notebooks, exit 1")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale()
        for path in bad:
            print(f"out of date: {path.relative_to(ROOT)}", file=sys.stderr)
        if bad:
            print("run: python tools/make_lessons.py", file=sys.stderr)
        return 1 if bad else 0
    for path, (source, variant) in targets().items():
        text = build(source, variant)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
