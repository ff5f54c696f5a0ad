"""The README's two fresh-machine lines, `.ci/run` and the one dependency list agree."""

import re
import sys
from pathlib import Path

import pytest
import tomllib

import sparselab

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from readme_commands import commands  # noqa: E402


def test_the_readme_has_two_fresh_machine_lines_install_and_build_then_tests():
    first, second = commands()  # exactly two
    assert first.startswith("pip install -e ") and "jupyter-book build . " in first
    assert "--warningiserror" in first and "&&" in first  # one line a person pastes
    assert second.split()[0] in ("pytest", "python")  # the whole suite: no paths, no -k
    assert not re.search(r"tests/|book/|lessons/| -k ", second)


def test_ci_runs_the_readme_lines_rather_than_a_copy():
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("torch==2.13.0") < ci.index("readme_commands.py 1")
    assert ci.index("readme_commands.py 1") < ci.index("readme_commands.py 2")
    for line in commands():  # and does not restate them (they would drift)
        assert line not in ci


def test_readme_commands_refuses_a_readme_without_its_block():
    with pytest.raises(ValueError, match="marker"):
        commands("# a README\n```bash\npytest\n```\n")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_requirements_txt_only_points_at_pyprojects_extras():
    lines = [
        line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
    ]
    (line,) = [line for line in lines if line]
    match = re.fullmatch(r"-e \.\[([a-z,]+)\]", line)
    assert match, line
    extras = _pyproject()["optional-dependencies"]
    assert set(match.group(1).split(",")) <= set(extras)


def test_every_extra_is_defined_and_all_holds_them_all():
    extras = _pyproject()["optional-dependencies"]
    assert {"book", "test", "cluster", "sklearn", "widgets", "all"} <= set(extras)
    for name, deps in extras.items():
        for dep in deps:  # a self-reference names only extras that exist
            if dep.startswith("sparselab["):
                assert set(dep[10:-1].split(",")) <= set(extras) - {name}, (name, dep)
    (everything,) = extras["all"]
    assert set(everything[10:-1].split(",")) == set(extras) - {"all"}
    torch = [d for d in _pyproject()["dependencies"] if d.startswith("torch")]
    assert torch == ["torch>=2.1,<3"]  # a range that the CPU pin 2.13.0 satisfies


def test_the_version_is_written_once():
    assert "version" in _pyproject()["dynamic"] and "version" not in _pyproject()
    from importlib.metadata import version

    assert version("sparselab") == sparselab.__version__


def test_version_on_the_command_line(capsys):
    import subprocess

    from sparselab import cli

    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"sparselab {sparselab.__version__}"
    out = subprocess.run(
        [sys.executable, "-m", "sparselab", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"sparselab {sparselab.__version__}"
