"""model/ must stay usable without Qt: from scripts, from torchrun, on a headless server."""
import ast
import subprocess
import sys
from pathlib import Path

MODEL = Path(__file__).resolve().parents[2] / "model"
QT = ("PySide6", "PyQt5", "PyQt6", "PySide2", "qtpy", "shiboken6")


def test_no_qt_import_statements():
    offenders = []
    for path in MODEL.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in QT]
    assert not offenders


def test_importing_every_model_module_loads_no_qt():
    mods = sorted(".".join(p.relative_to(MODEL.parent).with_suffix("").parts)
                  for p in MODEL.rglob("*.py") if p.stem != "__init__")
    assert "model.data.masks" in mods  # the walk reaches the subpackages
    code = ("import sys\n" + "".join(f"import {m}\n" for m in mods) +
            f"bad = [m for m in sys.modules if m.split('.')[0] in {QT!r}]\n"
            "assert not bad, bad\nprint(len(sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=MODEL.parent, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
