"""Imports point down only: no circle, and no module imports one in a higher layer.

Every ``import`` and ``from ... import`` in the package counts, wherever it stands: at the top,
inside a function (a lazy import is still a dependency) or under ``TYPE_CHECKING``. The layer
table below is the one ARCHITECTURE.md's module map shows; a new module must be given a layer
here before the test passes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bayesmeta"

#: Layers from low to high; a module may import modules of its own layer or lower ones. A name
#: covers the module and, if it is a package, everything in it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("errors", "_dims", "_version", "_registry", "_output")),
    ("core helpers", ("effect_sizes", "priors", "_stats", "_csv", "plan")),
    ("data", ("table", "sheet")),
    (
        "numerical cores",
        ("frequentist", "exact", "datasets", "simulate", "reconstruct", "casestudies"),
    ),
    ("numerical analyses", ("bma", "bias", "influence")),
    ("results", ("results", "batch")),
    ("models", ("models",)),
    ("checks and figures", ("checks", "plots", "sensitivity")),
    ("analysis", ("review",)),
    ("report", ("report",)),
    ("interface", ("cli", "__main__")),
]
#: The package's ``__init__`` is its public face: it may import anything, nothing imports it.
FACADE = "bayesmeta"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts).removesuffix(".__init__")
        out[name] = path
    return out


MODULES = _modules()


def _resolve(target: str) -> str | None:
    """The package module ``target`` names (its longest prefix that is a module), or None."""
    while target:
        if target in MODULES:
            return target
        target = target.rpartition(".")[0]
    return None


def imports_of(name: str) -> set[str]:
    """Package modules imported anywhere in module ``name`` (function-level imports included)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    deps: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")
                keep = len(parts) - node.level + (1 if is_pkg else 0)
                base = ".".join(parts[:keep] + ([node.module] if node.module else []))
            # ``from pkg import sub`` imports the submodule; ``from mod import obj`` the module
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        for target in targets:
            if target.split(".")[0] != FACADE:
                continue
            mod = _resolve(target)
            if mod is not None and mod != name:
                deps.add(mod)
    return deps


GRAPH = {name: imports_of(name) for name in MODULES}


def layer_of(name: str) -> int:
    """Index of the layer of module ``name`` in :data:`LAYERS`."""
    short = name.removeprefix(FACADE + ".")
    best, best_len = -1, -1
    for i, (_, members) in enumerate(LAYERS):
        for m in members:
            if (short == m or short.startswith(m + ".")) and len(m) > best_len:
                best, best_len = i, len(m)
    return best


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_reader_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    assert "bayesmeta.results" in GRAPH["bayesmeta.models.base"]  # inside BaseModel._finish
    assert "bayesmeta.results" in GRAPH["bayesmeta.checks"]  # under TYPE_CHECKING
    assert "bayesmeta.models.exact_sampler" in GRAPH["bayesmeta.models.base"]
    assert "bayesmeta.datasets" in GRAPH["bayesmeta.review"]  # from bayesmeta import datasets


def test_every_module_has_a_layer() -> None:
    missing = sorted(n for n in MODULES if n != FACADE and layer_of(n) < 0)
    assert not missing, f"give these modules a layer in tests/test_architecture.py: {missing}"


def test_no_import_circle() -> None:
    assert _cycles(GRAPH) == []


def test_cycle_finder_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n != FACADE))
def test_imports_point_down(name: str) -> None:
    mine = layer_of(name)
    upward = [
        f"{dep} ({LAYERS[layer_of(dep)][0]})"
        for dep in sorted(GRAPH[name])
        if dep == FACADE or layer_of(dep) > mine
    ]
    assert not upward, (
        f"{name} ({LAYERS[mine][0]}) imports from a higher layer: {', '.join(upward)}"
    )


def test_numerical_cores_import_neither_pymc_nor_matplotlib() -> None:
    heavy = ("pymc", "pytensor", "matplotlib", "arviz")
    for name in ("bayesmeta.effect_sizes", "bayesmeta.frequentist", "bayesmeta.exact"):
        for path in [p for n, p in MODULES.items() if n == name or n.startswith(name + ".")]:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                mods: list[str] = []
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level:
                    mods = [node.module or ""]
                bad = [m for m in mods if m.split(".")[0] in heavy]
                assert not bad, f"{path.name} imports {bad}"
