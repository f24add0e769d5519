"""The benchmarks are a package run as `python -m bench.x` from the checkout: none edits
sys.path to find model/ (a script that does imports whichever checkout it sits in, not
the one the command runs from), and bench/README.md lists every script that way."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p for p in (ROOT / "bench").glob("*.py")
                 if not p.name.startswith("_") and p.name != "memory_probe.py")


def test_no_benchmark_edits_sys_path():
    found = []
    for path in (ROOT / "bench").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            f = getattr(node, "func", None)
            if isinstance(f, ast.Attribute) and f.attr in ("insert", "append") and \
                    ast.unparse(f.value) == "sys.path":
                found.append(f"{path.name}:{node.lineno}")
        if "sys.path.insert(" in path.read_text():  # in a child process's source text
            found.append(f"{path.name}: sys.path.insert in a string")
    assert found == []


def test_the_readme_runs_every_script_as_a_module():
    readme = (ROOT / "bench" / "README.md").read_text()
    assert SCRIPTS and [p.stem for p in SCRIPTS if f"python -m bench.{p.stem}" not in readme] == []
    assert "python bench/" not in readme


def test_every_script_that_records_figures_can_leave_the_results_alone():
    """A run on another machine, or a try of an option, must not replace the recorded
    figures the README quotes: --no-write prints them only."""
    writers = [p for p in SCRIPTS if "write_section(" in p.read_text()]
    assert len(writers) >= 10
    assert [p.name for p in writers if "no_write" not in p.read_text()] == []
