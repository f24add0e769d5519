"""Every third-party module the code imports is declared in pyproject.toml.

A module that happens to be installed on the developer's machine (hypothesis once was) makes the
tests pass here and fail for a user who followed the README. The runtime code (app/, model/,
main.py) may use only `dependencies`; the tests and benchmarks may also use the `test` extra.
A declared distribution's own hard requirements count as declared (shiboken6 comes with
PySide6 and cannot be missing while PySide6 is installed).
"""
from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OWN = {"app", "model", "main", "tests", "bench", "maskloop_resources", "conftest"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _req_name(req: str) -> str:
    return _norm(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req).group(1))


def _closure(names: set[str]) -> set[str]:
    """The named distributions and, recursively, their unconditional requirements."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        todo += [_req_name(r) for r in reqs if "extra ==" not in r.replace("'", '"')
                 and "extra==" not in r]
    return seen


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_req_name(r) for r in project["dependencies"]}
    test = {_req_name(r) for r in project["optional-dependencies"]["test"]}
    return _closure(runtime), _closure(runtime | test)


def _imports(paths: list[Path]) -> dict[str, str]:
    """Top-level module -> the first file importing it (absolute imports only)."""
    found: dict[str, str] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                found.setdefault(n.split(".")[0], path.name if not path.is_relative_to(ROOT)
                                else str(path.relative_to(ROOT)))
    return found


def _undeclared(paths: list[Path], allowed: set[str]) -> list[str]:
    providers = md.packages_distributions()
    bad = []
    for mod, where in sorted(_imports(paths).items()):
        if mod in OWN or mod in sys.stdlib_module_names or mod == "__future__":
            continue
        dists = {_norm(d) for d in providers.get(mod, [])}
        if not dists:
            bad.append(f"{where}: '{mod}' is not installed and no declared package provides it")
        elif not dists & allowed:
            bad.append(f"{where}: '{mod}' comes from {sorted(dists)}, not declared")
    return bad


def _py(*parts: str) -> list[Path]:
    out: list[Path] = []
    for p in parts:
        path = ROOT / p
        out += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return out


def test_runtime_code_imports_only_declared_dependencies():
    runtime, _ = _declared()
    assert _undeclared(_py("app", "model", "main.py"), runtime) == []


def test_tests_and_benchmarks_import_only_declared_dependencies():
    _, with_test = _declared()
    assert _undeclared(_py("tests", "bench"), with_test) == []


def test_the_check_catches_an_undeclared_module(tmp_path):
    # pluggy is installed (pytest needs it) but the runtime code may not import it
    probe = tmp_path / "probe.py"
    probe.write_text("import pluggy\nimport json\nimport model\nimport no_such_module_x\n")
    runtime, _ = _declared()
    bad = _undeclared([probe], runtime)
    assert len(bad) == 2
    assert "'no_such_module_x' is not installed" in bad[0]
    assert "'pluggy' comes from ['pluggy'], not declared" in bad[1]
