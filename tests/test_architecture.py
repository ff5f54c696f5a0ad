"""The package's layers (README, "Architecture"): every import, at module level or inside a
function, points to the same layer or one below it, and the import graph has no circle."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sparselab"
# floor of each top-level name; the maths modules (energy, models, solvers, ...) are floor 1
FLOORS = {"util": 0, "data": 2, "runs": 3, "book": 4, "checks": 4, "cli": 5}
ROOF = {"sparselab", "sparselab.__main__"}  # the public API and `python -m`: above everything


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(
        ".__init__"
    )


def _imports(path: Path) -> set[str]:
    """The sparselab modules (and module.attribute names) that ``path`` imports."""
    name, out = _module(path), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = name.split(".")
                base = parts[: len(parts) - node.level + (path.name == "__init__.py")]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("sparselab"):
                target = node.module
            else:
                continue
            out |= {target} | {f"{target}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("sparselab")}
    return out


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {
    m: {d for d in _imports(p) if d in MODULES and d != m and not m.startswith(d + ".")}
    for m, p in MODULES.items()
}


def _floor(module: str) -> float:
    if module in ROOF:
        return float("inf")
    top = module.split(".")[1]
    return FLOORS.get(top, 1)


def test_the_graph_is_the_one_measured():
    assert {"sparselab.solvers", "sparselab.runs.loop", "sparselab.cli.train"} <= set(GRAPH)
    assert "sparselab.solvers" in GRAPH["sparselab.runs.loop"]  # what the walk must find


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module):
    up = sorted(d for d in GRAPH[module] if _floor(d) > _floor(module))
    assert not up, f"{module} imports a higher layer: {up}"
    if _floor(module) == 4:  # book and checks sit side by side, neither uses the other
        side = module.split(".")[1]
        across = sorted(d for d in GRAPH[module] if _floor(d) == 4 and d.split(".")[1] != side)
        assert not across, f"{module} imports {across}"


def test_no_import_circle():
    done, stack, circles = set(), [], []

    def visit(m):
        if m in stack:
            circles.append(stack[stack.index(m) :] + [m])
        elif m not in done:
            done.add(m)
            stack.append(m)
            for d in sorted(GRAPH[m]):
                visit(d)
            stack.pop()

    for m in sorted(GRAPH):
        visit(m)
    assert not circles, " | ".join(" -> ".join(c) for c in circles)


def test_data_needs_only_the_helpers():
    for module, deps in GRAPH.items():
        if module.startswith("sparselab.data"):
            outside = sorted(
                d for d in deps if not d.startswith(("sparselab.data", "sparselab.util"))
            )
            assert not outside, f"{module} imports {outside}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_over_450_lines(module):
    assert len(MODULES[module].read_text().splitlines()) <= 450


@pytest.mark.parametrize("package", sorted(p.parent for p in PACKAGE.rglob("__init__.py")))
def test_each_package_says_its_job(package):
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
    assert doc and len(doc) > 40, f"{package} needs a docstring saying its job"
