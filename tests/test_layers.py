"""Imports run one way (issue 11): the layers contract in pyproject.toml holds, no module of
`orchestration/` or `sources/` takes part in an import cycle, and every module has its place
in the contract (a new module must be put in a layer, not slip past the check).

The checker itself is shown to fail on a temporary package with a cycle and an upward import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def import_cycles(graph, modules: set[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), i.e. every set of
    modules that import each other directly or through others. TYPE_CHECKING imports count:
    a loop only type checkers see is still a knot for the reader."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def edges(m: str) -> list[str]:
        return sorted(graph.find_modules_directly_imported_by(m) & modules)

    def visit(v: str) -> None:  # recursion depth = longest import chain: a few dozen at most
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.find_modules_directly_imported_by(v):
                out.append(sorted(comp))

    for m in sorted(modules):
        if m not in index:
            visit(m)
    return out


def _project_modules(graph, roots: list[str]) -> set[str]:
    # Packages themselves (`orchestration`, `orchestration.defs`) only hold submodules; a package
    # __init__ importing its children is not a loop between them.
    return {m for r in roots for m in graph.find_descendants(r)} | set(roots)


def _lint(config: Path, cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(config), "--no-cache"], cwd=cwd, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(pythonpath)}, timeout=120,
    )


def test_layers_contract_holds():
    proc = _lint(REPO / "pyproject.toml", REPO, REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 kept, 0 broken" in proc.stdout, proc.stdout


def test_no_import_cycles_in_orchestration_and_sources():
    graph = grimp.build_graph("orchestration", "sources", cache_dir=None)
    modules = _project_modules(graph, ["orchestration", "sources"])
    assert "orchestration.refresh" in modules and "sources.contracts" in modules
    assert import_cycles(graph, modules) == []


def test_every_module_has_a_layer():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    named = {m.strip() for layer in contract["layers"] for m in layer.replace(":", "|").split("|")}
    graph = grimp.build_graph("orchestration", "sources", cache_dir=None)
    # A module is placed when it or a package above it is named (orchestration.defs.* sit in defs).
    unplaced = sorted(
        m for m in graph.modules
        if m not in ("orchestration", "sources")
        and not any(m == n or m.startswith(n + ".") for n in named)
    )
    assert unplaced == [], f"put these modules in a layer of [tool.importlinter] in pyproject.toml: {unplaced}"


def _write_pkg(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))


def test_checks_fail_on_a_cycle_and_an_upward_import(tmp_path):
    """The same checks on a package built to break them: they must say no."""
    _write_pkg(tmp_path, {
        "knot/__init__.py": "",
        "knot/top.py": "from knot import bottom\n",
        # upward: the lower layer imports the one above it (and so closes a loop)
        "knot/bottom.py": "def f():\n    from knot import top\n",
        # a cycle inside one layer, through a TYPE_CHECKING import
        "knot/a.py": "from knot.b import B\nclass A: ...\n",
        "knot/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from knot.a import A\nclass B: ...\n",
    })
    config = tmp_path / "pyproject.toml"
    config.write_text(textwrap.dedent("""
        [tool.importlinter]
        root_packages = ["knot"]

        [[tool.importlinter.contracts]]
        id = "layers"
        name = "top over bottom"
        type = "layers"
        layers = ["knot.top", "knot.bottom"]
    """))
    proc = _lint(config, tmp_path, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "0 kept, 1 broken" in proc.stdout and "knot.bottom -> knot.top" in proc.stdout, proc.stdout

    sys.path.insert(0, str(tmp_path))
    try:
        graph = grimp.build_graph("knot", cache_dir=None)
    finally:
        sys.path.remove(str(tmp_path))
    cycles = import_cycles(graph, _project_modules(graph, ["knot"]))
    assert sorted(cycles) == [["knot.a", "knot.b"], ["knot.bottom", "knot.top"]]


# Inside the gate package (issue 11), top to bottom like the contract: a module imports only
# from rows below its own. Kept here, not as a second import-linter contract, so the contract
# output above stays one contract.
GATE_LAYERS = [
    {"orchestration.gate", "orchestration.gate.__main__"},
    {"orchestration.gate.validate"},
    {"orchestration.gate.row_rules", "orchestration.gate.cross_file", "orchestration.gate.reports",
     "orchestration.gate.worker"},
    {"orchestration.gate.gx"},
    {"orchestration.gate.suites"},
    {"orchestration.gate.rules"},
]


def _generator_layers(modules: set[str]) -> list[set[str]]:
    """The generator package (issue 17): one module per provider above the shared pieces.
    Every module but `common` is a provider, so a new source's module is placed by itself;
    providers never import each other and `common` imports none of them."""
    common = "sources.generators.common"
    return [modules - {common}, {common}]


@pytest.mark.parametrize("package", ["orchestration.gate", "sources.generators"])
def test_package_modules_import_one_way(package):
    graph = grimp.build_graph(package.split(".")[0], cache_dir=None)
    modules = graph.find_descendants(package) | {package}
    layers = GATE_LAYERS if package == "orchestration.gate" else _generator_layers(modules)
    row = {m: i for i, layer in enumerate(layers) for m in layer}
    assert sorted(modules - set(row)) == [], f"put these modules of {package} in a layer"
    upward = sorted((m, i) for m in modules for i in graph.find_modules_directly_imported_by(m) & modules
                    if row[i] <= row[m])
    assert upward == [], f"modules of {package} importing sideways or upwards: {upward}"
