"""The package's modules import one another one way: no import cycles inside ``src/ganaug``.

The graph has one node per module of ``src/ganaug`` (a package is its
``__init__``) and an edge ``a -> b`` for every import of ``b`` anywhere in
``a``: at module level, in ``if TYPE_CHECKING:`` blocks and inside function
bodies alike. Function-level (lazy) imports are in the graph on purpose: they
keep heavy modules (torch, matplotlib, the metrics from the GAN code) out of
an import until needed, which is what they are for, but a lazy import cannot
make two modules that need each other independent - it only hides the cycle
from the interpreter until the one call that closes it. Every import of the
package points one way today, so the test asks for that: a new cycle is fixed
by moving what both modules need into one below them, not by deferring an
import.

``from pkg import name`` points at the submodule ``pkg.name`` when there is
one, else at ``pkg``. A module does not depend on its parent package merely by
living in it (Python runs the parent's ``__init__`` first, but that is the
package importing its parts, not a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import REPO

SRC = REPO / "src"
PACKAGE = "ganaug"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(tree: ast.Module):
    """Every import statement of a module, wherever it stands (module level, ``if`` blocks, functions)."""
    return (node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)))


def import_graph() -> dict[str, set[str]]:
    """``module -> the modules of the package it imports`` for every module under src/ganaug."""
    paths = {module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        is_package = path.name == "__init__.py"
        for node in imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:  # relative: from the module's package, up level - 1 more
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                subs = [f"{target}.{alias.name}" for alias in node.names]
                targets = [s if s in paths else target for s in subs]
            for target in targets:
                while target and target not in paths:  # `import ganaug.metrics.fid` names the module itself
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle ``[a, b, ..., a]`` of ``graph``, or None when it is acyclic (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_graph_sees_the_package():
    graph = import_graph()
    assert {"ganaug.gan.models", "ganaug.gan.resgan", "ganaug.gan.state", "ganaug.metrics.matched"} <= set(graph)
    assert "ganaug.gan.common" in graph["ganaug.gan.resgan"] and "ganaug.gan.resgan" in graph["ganaug.gan.models"]
    assert "ganaug.gan.state" in graph["ganaug.gan.checkpoint"] and "ganaug.gan.state" in graph["ganaug.gan.steps"]
    assert "ganaug.gan.models" in graph["ganaug.gan"]  # `from .models import ...` in the package's __init__
    assert "ganaug.metrics.features" in graph["ganaug.gan.selection"]  # a function-level import


def test_find_cycle_names_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, (
        "import cycle in src/ganaug: " + " -> ".join(cycle) + " (move what both need into a module below them)"
    )


def test_the_two_former_cycles_point_one_way():
    """checkpoint <-> steps (TrainingState / BatchSampler, EMA) and models <-> resgan (_geometry, _need_labels)."""
    graph = import_graph()
    for a, b in (("checkpoint", "steps"), ("models", "resgan")):
        a, b = f"ganaug.gan.{a}", f"ganaug.gan.{b}"
        assert not (b in graph[a] and a in graph[b]), f"{a} and {b} import each other"
    assert "ganaug.gan.models" not in graph["ganaug.gan.resgan"]
    assert not graph["ganaug.gan.state"] & {"ganaug.gan.steps", "ganaug.gan.checkpoint"}
