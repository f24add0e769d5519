"""No two of the project's modules import each other, directly or round a longer loop.

import-linter's layers only see imports between layers; a circle inside one package, or
one hidden by an import inside a function, slips past them. This reads every import
statement (module level and inside functions) of model/, app/ and bench/ with ast and
asserts the import graph has no strongly connected component of more than one module.
Imports under `if TYPE_CHECKING:` are left out: they name types for annotations and never
run, so they cannot make a module half-initialised."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("model", "app", "bench")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
        or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST):
    """Every node, less the bodies of `if TYPE_CHECKING:` (their else branch is kept)."""
    yield node
    for child in ast.iter_child_nodes(node):
        if _type_checking(child):
            for other in child.orelse:
                yield from _walk(other)
        else:
            yield from _walk(child)


def _base(node: ast.ImportFrom, package: str) -> str:
    """The absolute module a `from ... import` reads from (relative ones resolved)."""
    base = node.module or ""
    if node.level:
        anchor = package.split(".")
        base = ".".join(anchor[:len(anchor) - (node.level - 1)] + ([base] if base else []))
    return base


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _base(node, package)
            # `from pkg import mod` imports the module pkg.mod; `from mod import f`, mod
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in modules:  # `import a.b.c` of a name inside a module
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
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
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    component.append(m)
                    if m == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_finder_sees_a_circle_hidden_in_a_function():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_imports_inside_functions_and_relative_ones():
    graph = import_graph()
    assert "model.net.postprocess" in graph["model.net.predictor"]
    assert "app.inference.assist_jobs" in graph["app.inference.workers"]  # in a function
    assert "model.training.loop" not in graph["model.training.hooks"]  # for annotations only


def test_no_module_of_the_project_is_part_of_an_import_circle():
    found = circles(import_graph())
    assert found == [], "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_no_module_imports_another_modules_private_name():
    """A name with a leading underscore is its module's own: one another module needs is
    made public (or moved), not reached into. Private modules (bench/_memory.py) are fine."""
    modules = _modules()
    found = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = _base(node, package)
            if base not in modules:
                continue  # a library's
            found += [f"{name} imports {base}.{a.name}" for a in node.names
                      if a.name.startswith("_") and not a.name.startswith("__")
                      and f"{base}.{a.name}" not in modules]
    assert found == []
