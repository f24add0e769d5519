"""The architecture is checked, not only drawn: import-linter's contracts in pyproject.toml
(model/ free of Qt and of the app, layers inside model/ and app/, benchmarks on the library,
tests/model Qt-free) hold for the tree, and the check really fails on a wrong import."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"


def lint(cwd: Path, config: Path | None = None) -> subprocess.CompletedProcess:
    args = [str(LINT)] + (["--config", str(config)] if config else [])
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_tree_keeps_every_contract():
    r = lint(ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def _model_config(path: Path) -> Path:
    """The project's contracts about model/ alone, as an INI file for a copy of model/."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = ["[importlinter]", "root_packages =", "    model",
             "include_external_packages = True"]
    for k, c in enumerate(cfg["contracts"]):
        if "model" not in c.get("containers", []) + c.get("source_modules", []):
            continue
        lines += ["", f"[importlinter:contract:{k}]", f"name = {c['name']}", f"type = {c['type']}"]
        for key in ("containers", "layers", "source_modules", "forbidden_modules"):
            if key in c:
                lines += [f"{key} ="] + [f"    {v}" for v in c[key]]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_wrong_import_breaks_the_check(tmp_path):
    shutil.copytree(ROOT / "model", tmp_path / "model",
                    ignore=shutil.ignore_patterns("__pycache__"))
    config = _model_config(tmp_path / "contracts.ini")
    assert lint(tmp_path, config).returncode == 0  # the copy is as clean as the tree
    with open(tmp_path / "model" / "data" / "masks.py", "a") as f:
        f.write("\nfrom model.net import predictor  # the data layer reaching up\n")
    with open(tmp_path / "model" / "editing" / "ops.py", "a") as f:
        f.write("\nimport PySide6  # Qt in the model\n")
    r = lint(tmp_path, config)
    assert r.returncode != 0
    assert "model.data.masks -> model.net.predictor" in r.stdout
    assert "model.editing.ops -> PySide6" in r.stdout
