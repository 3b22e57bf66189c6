"""The shape of the package: imports that point one way, small modules, families behind one registry.

The import graph is read with ``ast`` from every module of ``animalsnd``:
module-level imports and the imports inside functions alike (those run too,
only later). Importing ``a.b.c`` from outside package ``a.b`` also runs
``a/b/__init__.py``, so it counts as an import of ``a.b`` as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import animalsnd

PKG = Path(animalsnd.__file__).parent
MAX_LINES = 450

#: Orchestrators: they ask the family registry, never a family by name.
ORCHESTRATORS = ("animalsnd.train", "animalsnd.evaluate", "animalsnd.predict", "animalsnd.compare")
#: Modules below the families: recordings -> inputs, augmentation, outputs.
LOWER = (
    "animalsnd.audio", "animalsnd.dataset", "animalsnd.stream", "animalsnd.features", "animalsnd.cache",
    "animalsnd.descriptors", "animalsnd.embeddings", "animalsnd.backbones", "animalsnd.config",
    "animalsnd.parallel", "animalsnd.fileutil", "animalsnd.inputs", "animalsnd.windows", "animalsnd.augment",
    "animalsnd.bundle", "animalsnd.metrics", "animalsnd.export", "animalsnd.models", "animalsnd.fitting",
    "animalsnd.robustness", "animalsnd.trim",
)
FAMILIES = "animalsnd.families"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (never run)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def _imported(name: str, tree: ast.AST) -> set[str]:
    """The animalsnd modules ``name`` imports (the module itself left out)."""
    skip = _type_checking_only(tree)
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name if _is_package(name) else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = ".".join(p for p in (base, node.module) if p)
            else:
                base = node.module or ""
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        for t in targets:
            while t and t not in MODULES:  # ``import animalsnd.x.attr`` style names: the module part
                t = t.rpartition(".")[0]
            if not t:
                continue
            out.add(t)
            parent = t.rpartition(".")[0]
            while parent:  # the packages it runs on the way, unless ``name`` is inside them
                if not _within(name, parent):
                    out.add(parent)
                parent = parent.rpartition(".")[0]
    out.discard(name)
    return out


def import_graph() -> dict[str, set[str]]:
    """``module -> modules it imports`` over every module of animalsnd."""
    return {name: _imported(name, ast.parse(path.read_text(encoding="utf-8"))) for name, path in MODULES.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One import cycle (``[a, b, ..., a]``) per strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_path_in(graph, g) for g in groups]


def _path_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest cycle through the first module of ``group`` (breadth first, inside the group)."""
    start = min(group)
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & group):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, v, start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return sorted(group)  # pragma: no cover - a group is always a cycle


GRAPH = import_graph()


def test_graph_sees_lazy_and_relative_imports():
    tree = ast.parse("import os\n"
                     "def f():\n    from animalsnd.bundle import load_bundle\n"
                     "from typing import TYPE_CHECKING\n"
                     "if TYPE_CHECKING:\n    from animalsnd import metrics\n")
    assert _imported("animalsnd.errors", tree) == {"animalsnd.bundle"}
    # a sub-module from outside its package runs the package too; a relative import stays inside
    assert _imported("animalsnd.cli.plain", ast.parse("from animalsnd.augment.noise import x")) == {
        "animalsnd.augment", "animalsnd.augment.noise"}
    assert _imported("animalsnd.augment.mixup", ast.parse("from .noise import x")) == {"animalsnd.augment.noise"}
    cycle = find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert cycle == [["a", "b", "c", "a"]]


#: cycles known and not broken yet, each with what closes it
_KNOWN_CYCLES: dict[frozenset, str] = {}


def test_no_import_cycles():
    cycles = [c for c in find_cycles(GRAPH) if frozenset(c) not in _KNOWN_CYCLES]
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("cycle", list(_KNOWN_CYCLES), ids=lambda c: " ".join(sorted(c)))
def test_known_cycle_is_still_there(cycle, request):
    request.applymarker(pytest.mark.xfail(strict=True, reason=_KNOWN_CYCLES[cycle]))
    assert cycle not in {frozenset(c) for c in find_cycles(GRAPH)}


#: modules still longer than MAX_LINES, each with what it still holds
_LONG: dict[str, str] = {}


@pytest.mark.parametrize("path", [str(p.relative_to(PKG.parent)) for p in MODULES.values()])
def test_module_is_short(path, request):
    if path in _LONG:
        request.applymarker(pytest.mark.xfail(strict=True, reason=_LONG[path]))
    n = len((PKG.parent / path).read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path}: {n} lines (at most {MAX_LINES}); split it by job"


def _violations(sources: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{m} imports {t}" for m, targets in GRAPH.items() if any(_within(m, s) for s in sources)
                  for t in targets if any(_within(t, f) for f in forbidden))


def test_families_import_no_orchestrator():
    assert not _violations((FAMILIES,), ORCHESTRATORS)


def test_lower_layers_import_no_family_or_orchestrator():
    assert not _violations(LOWER, (FAMILIES, *ORCHESTRATORS))


#: Modules that ask the families what differs between models, never test a model name or an input kind.
NO_FAMILY_NAMES = (*ORCHESTRATORS, "animalsnd.chain_eval", "animalsnd.robustness", "animalsnd.cli")


def family_name_comparisons(name: str, tree: ast.AST, names: set[str]) -> list[str]:
    """Where module ``name`` compares a value with one of ``names`` (``==``, ``!=``, ``in``, ...)."""
    return [f"{name}:{node.lineno}: compares with {c.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Compare) for c in ast.walk(node)
            if isinstance(c, ast.Constant) and isinstance(c.value, str) and c.value in names]


def test_comparisons_with_family_names_are_found():
    code = ('if c.model == "birdnet-head":\n    pass\n'
            'x = kind in ("stats", "logmel")\n'
            'y = spec[0] != "logmel"\n'
            'z = {"stats": 1}.get(kind) == 1\n')
    assert family_name_comparisons("m", ast.parse(code), {"birdnet-head", "stats", "logmel"}) == [
        "m:1: compares with 'birdnet-head'", "m:3: compares with 'stats'", "m:3: compares with 'logmel'",
        "m:4: compares with 'logmel'", "m:5: compares with 'stats'"]


def test_orchestrators_use_the_registry_only():
    """No orchestrator imports a family module; no orchestrator, chain_eval, robustness or CLI module
    compares a value with a family's model name or input kind."""
    from animalsnd import families

    assert not [v for v in _violations(ORCHESTRATORS, (FAMILIES,)) if not v.endswith(f" {FAMILIES}")]
    names = set(families.model_names()) | set(families.input_kinds())
    found = [hit for name, path in MODULES.items() if any(_within(name, o) for o in NO_FAMILY_NAMES)
             for hit in family_name_comparisons(name, ast.parse(path.read_text(encoding="utf-8")), names)]
    assert not found, "\n".join(found)
