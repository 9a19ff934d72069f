"""The layering holds: no import circles in regkit, and imports point down the layers (one named exception).

Every import counts: top level, inside functions, and under ``TYPE_CHECKING`` (a type-only import
still ties the modules together for a reader).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "regkit"

# Low to high; a module may import its own layer and those below. Keep the README's Layout in step.
LAYERS: dict[str, int] = {
    "regkit._version": 0,
    "regkit._repr": 0,
    "regkit._public": 0,
    "regkit.errors": 0,
    "regkit.oci": 1,
    "regkit.http": 2,
    "regkit.storage": 2,  # beside http: neither imports the other
    "regkit.steps": 3,
    "regkit.analysis": 4,
    "regkit.diagnosis": 4,
    "regkit.display": 5,
    "regkit.lab": 6,
    "regkit": 7,  # the package itself: the public API, re-exported from the layers below
    "regkit.__main__": 8,
    "regkit.cli": 8,
}
# The single upward import: `_repr.display_layer()`, through which results reach their renderers
# (`_repr_html_`) and a transcript its sequence diagram, deferred, at call time.
ALLOWED_UPWARD = {("regkit._repr", "regkit.display.render")}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module → the regkit modules it imports anywhere in its source."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base_parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                for alias in node.names:  # `from . import x` imports the module x when there is one
                    targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def layer_of(module: str) -> int:
    parts = module.split(".")
    for length in range(len(parts), 0, -1):
        if ".".join(parts[:length]) in LAYERS:
            return LAYERS[".".join(parts[:length])]
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS (and to the README's Layout)")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_imports_point_down_the_layers_but_one():
    graph = import_graph()
    upward = {
        (module, target)
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(module)
    }
    assert upward == ALLOWED_UPWARD, sorted(upward - ALLOWED_UPWARD)


def test_no_import_circles():
    graph = import_graph()
    for module, target in ALLOWED_UPWARD:  # the one upward import closes a loop by design; nothing else may
        graph[module].discard(target)
    assert cycles(graph) == []


def test_the_check_sees_deferred_and_type_only_imports(tmp_path: Path):
    """The walk counts imports inside functions and under TYPE_CHECKING, and finds a circle made of them."""
    graph = import_graph()
    assert "regkit.display.render" in graph["regkit._repr"]  # a function-level import
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
