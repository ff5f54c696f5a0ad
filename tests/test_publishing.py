"""The publishing workflow cannot run here: check that it parses, that it installs, builds, checks
and deploys the book with the steps .ci/run runs (the README's line 1 and tools/ci_steps.sh, one
list, not two that drift), and that the book's buttons are configured."""

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STEPS = ROOT / "tools" / "ci_steps.sh"


def _calls(text: str) -> list[str]:
    """The shared steps a script or a workflow's run: lines call, in order: tools/ci_steps.sh's
    by name, the README's lines as readme-N."""
    found = re.findall(
        r"^\s*(?:tools/ci_steps\.sh (\w+)|bash -c \"\$\(python tools/readme_commands\.py (\d)\)\")",
        text,
        re.MULTILINE,
    )
    return [step or f"readme-{n}" for step, n in found]


def _workflow() -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())


def test_the_workflow_runs_the_steps_of_ci_in_their_order():
    jobs = _workflow()["jobs"]
    runs = "\n".join(s["run"] for s in jobs["build"]["steps"] if "run" in s)
    published = _calls(runs)
    ci = _calls((ROOT / ".ci" / "run").read_text())
    assert published == ["repository", "readme-1", "browser", "check"]
    assert [s for s in ci if s in published] == published
    cases = set(re.findall(r"^(\w+)\)$", STEPS.read_text(), re.MULTILINE))
    assert {s for s in ci if not s.startswith("readme-")} <= cases


def test_the_workflow_deploys_the_built_book_on_a_push_to_main():
    wf = _workflow()
    triggers = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"]
    assert {"pages": "write", "id-token": "write"}.items() <= wf["permissions"].items()
    build, deploy = wf["jobs"]["build"]["steps"], wf["jobs"]["deploy"]["steps"]
    upload = [s for s in build if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert [s["with"]["path"] for s in upload] == ["_build/html"]
    assert build.index(upload[0]) == len(build) - 1  # after the browser check
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy)
    assert wf["jobs"]["deploy"]["needs"] == "build"


def test_the_readme_s_line_1_installs_and_builds_with_warnings_as_errors():
    sys.path.insert(0, str(ROOT / "tools"))
    from readme_commands import commands

    install, build = commands()[0].split(" && ")
    assert install.startswith("pip install -e ")
    assert build.startswith("jupyter-book build . --warningiserror --nitpick")


def test_the_book_has_launch_and_repository_buttons_and_no_thebe():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"].startswith("https://github.com/")
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert config["html"]["use_repository_button"] and config["html"]["use_issues_button"]
    sphinx = config["sphinx"]["config"]
    assert "sphinx_thebe" not in sphinx["extensions"] and "thebe" not in config["launch_buttons"]
    for name in sphinx["html_js_files"] + sphinx["html_css_files"]:
        assert (ROOT / "book" / "_static" / name).is_file()
    assert (ROOT / "binder" / "requirements.txt").is_file()
