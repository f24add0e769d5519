"""The package as a user installs it: a wheel with every module and the demo images, and
the demo found (and copied where the user may write) from the installed package data."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from model.about import version

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def source_copy(dest: Path) -> Path:
    """What the wheel is built from, copied: setuptools leaves build/lib in the folder it
    builds, and a stale copy there (a module since moved or deleted) would ship as if it
    were the checkout's."""
    import shutil
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("app", "model", "resources"):
        shutil.copytree(ROOT / name, dest / name, ignore=skip)
    for name in ("main.py", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, dest / name)
    return dest


def test_a_built_wheel_carries_every_module_and_the_demo_and_finds_it(tmp_path):
    out = tmp_path / "wheel"
    src = source_copy(tmp_path / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(out)], check=True, cwd=tmp_path,
                   env={**os.environ, "PIP_NO_INDEX": "1"})
    wheel = next(out.glob("maskloop-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {p.relative_to(ROOT).as_posix() for pkg in ("app", "model")
               for p in (ROOT / pkg).rglob("*.py")}
    assert sources - names == set()  # a subpackage missing from pyproject's list fails here
    demo = {p.name for p in (ROOT / "resources" / "demo").iterdir() if p.is_file()}
    assert {f"maskloop_resources/demo/{n}" for n in demo} <= names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    meta = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "License-Expression: MIT" in text and "Classifier:" in text and "Keywords:" in text
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # installed, outside the clone: the demo comes from the package data, the version
    # from the package metadata
    probe = ("import json, app.gui as g, main, contextlib, io\n"
             "buf = io.StringIO()\n"
             "with contextlib.redirect_stdout(buf):\n"
             "    try: main.main(['--version'])\n"
             "    except SystemExit: pass\n"
             "print(json.dumps([str(g.demo_folder()), buf.getvalue()]))\n")
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONSAFEPATH": "1"}
    got = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True).stdout
    folder, shown = json.loads(got.strip().splitlines()[-1])
    assert Path(folder) == site / "maskloop_resources" / "demo"
    assert shown.strip() == f"maskloop {version()}"


def test_an_installed_demo_is_copied_where_the_user_may_write(tmp_path):
    from app.gui import writable_demo
    shipped = tmp_path / "site-packages" / "maskloop_resources" / "demo"
    shipped.mkdir(parents=True)
    (shipped / "a.png").write_bytes(b"png")
    got = writable_demo(shipped, tmp_path / "user")
    assert got == tmp_path / "user" / "demo" and (got / "a.png").read_bytes() == b"png"
    (got / "annotations.json").write_text("{}")  # the user's work there is kept next time
    assert writable_demo(shipped, tmp_path / "user") == got
    assert (got / "annotations.json").exists()
    clone = tmp_path / "clone" / "resources" / "demo"
    clone.mkdir(parents=True)
    assert writable_demo(clone, tmp_path / "user2") == clone


def test_gui_sizes_have_the_bounds_a_checkpoint_can_hold(capsys):
    """--min-size / --max-size of `gui` are refused outside 32..4096 before Qt starts,
    as predict's and train's are."""
    import main
    for bad in ("5", "5000"):
        with pytest.raises(SystemExit) as e:
            main.main(["gui", "--min-size", bad])
        assert e.value.code == 2 and "--min-size" in capsys.readouterr().err
