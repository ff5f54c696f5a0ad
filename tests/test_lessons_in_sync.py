"""The lesson notebooks are generated from lessons/src (tools/make_lessons.py) and must be current;
the exercise stubs must make every check report "not done yet"."""

import importlib
import importlib.util
import pkgutil
from pathlib import Path

import nbformat
import pytest

import sparselab.checks
from sparselab.checks._core import NOT_DONE

ROOT = Path(__file__).resolve().parents[1]
# the checks' modules (_core and one per lesson): each calls _report, imported from _core
CHECK_MODULES = [
    importlib.import_module(f"sparselab.checks.{m.name}")
    for m in pkgutil.iter_modules(sparselab.checks.__path__)
]
_spec = importlib.util.spec_from_file_location("make_lessons", ROOT / "tools" / "make_lessons.py")
make_lessons = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_lessons)

SOURCE = '''# %% [markdown]
# # A lesson

# %%
import torch

# %%
def double(u):
    """u -> 2 u."""
    ### BEGIN SOLUTION
    v = u + u
    return v
    ### END SOLUTION


print("checked")

# %%
# solution
print("only in the solution")

# %% [markdown] tags=["solution"]
# **Answer.** Only in the solution.
'''


def test_generated_notebooks_are_current():
    stale = make_lessons.stale()
    assert not stale, (
        f"out of date: {[str(p.relative_to(ROOT)) for p in stale]}: run python tools/make_lessons.py"
    )


def test_every_lesson_has_both_notebooks():
    sources = sorted((ROOT / "lessons" / "src").glob("[0-9][0-9]_*.py"))
    assert len(sources) >= 7
    for source in sources:
        for variant in ("exercise", "solution"):
            assert (ROOT / "lessons" / f"{source.stem}_{variant}.ipynb").exists()


def _cells(text):
    return nbformat.reads(text, as_version=4).cells


def test_exercise_replaces_solutions_by_a_stub(tmp_path):
    (tmp_path / "src").mkdir()
    source = tmp_path / "src" / "01_demo.py"
    source.write_text(SOURCE)
    exercise = _cells(make_lessons.build(source, "exercise"))
    code = "\n".join(c.source for c in exercise)
    assert "    # YOUR CODE HERE\n    raise NotImplementedError" in code
    assert "u + u" not in code and "BEGIN SOLUTION" not in code
    assert 'print("checked")' in code  # the rest of the cell stays
    assert "only in the solution" not in code and "Answer" not in code
    assert all(c.get("outputs", []) == [] for c in exercise)


def test_solution_keeps_answers_without_markers_and_is_strict(tmp_path):
    source = tmp_path / "01_demo.py"
    source.write_text(SOURCE)
    solution = _cells(make_lessons.build(source, "solution"))
    text = "\n".join(c.source for c in solution)
    assert "v = u + u\n    return v" in text and "### " not in text and "# solution" not in text
    assert "**Answer.**" in text and "only in the solution" in text
    assert "set_strict(True)" in solution[0].source
    assert make_lessons.build(source, "solution") == make_lessons.build(source, "solution")


def test_check_reports_stale_and_orphan_notebooks(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "01_demo.py").write_text(SOURCE)
    assert {p.name for p in make_lessons.stale(tmp_path)} == {
        "01_demo_exercise.ipynb",
        "01_demo_solution.ipynb",
    }
    for path, (src, variant) in make_lessons.targets(tmp_path).items():
        path.write_text(make_lessons.build(src, variant))
    assert make_lessons.stale(tmp_path) == []
    (tmp_path / "src" / "01_demo.py").write_text(SOURCE.replace("u + u", "2 * u"))
    assert [p.name for p in make_lessons.stale(tmp_path)] == ["01_demo_solution.ipynb"]
    (tmp_path / "99_old_exercise.ipynb").write_text("{}")
    assert "99_old_exercise.ipynb" in {p.name for p in make_lessons.stale(tmp_path)}


@pytest.mark.parametrize("bad", ["### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION"])
def test_unbalanced_markers_are_an_error(tmp_path, bad):
    source = tmp_path / "01_bad.py"
    source.write_text(f"# %%\n{bad}\n")
    with pytest.raises(ValueError, match="SOLUTION"):
        make_lessons.build(source, "exercise")


EXERCISES = sorted((ROOT / "lessons").glob("*_exercise.ipynb"))


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.stem)
def test_exercise_stubs_are_not_done_yet(path, monkeypatch):
    """Run the imports and every cell holding a stub: each check must say "not done yet"."""
    reported = []
    for module in CHECK_MODULES:
        if hasattr(module, "_report"):
            monkeypatch.setattr(module, "_report", lambda r: reported.append(r) or r)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    code = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    stubs = [src for src in code if "raise NotImplementedError" in src]
    assert stubs, f"{path.name} has no exercise"
    namespace = {}
    for src in [code[0], *stubs]:
        exec(compile(src, str(path), "exec"), namespace)
    assert len(reported) >= len(stubs)
    assert all(r.status == NOT_DONE for r in reported), reported
