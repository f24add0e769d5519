"""The package as a user installs it: a wheel with every module and the demo images,
one version, the program's name in its usage line, and conventional exit codes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import main
from model.about import program_name, version

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_built_wheel_carries_every_module_and_the_demo_and_finds_it(tmp_path):
    out = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
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


def test_version_and_usage_name(capsys):
    with open(ROOT / "pyproject.toml", "rb") as f:
        import tomllib
        assert version() == tomllib.load(f)["project"]["version"]
    with pytest.raises(SystemExit) as e:
        main.main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"maskloop {version()}"
    assert program_name("/usr/local/bin/maskloop") == "maskloop"
    assert program_name("maskloop.exe") == "maskloop"
    assert program_name("main.py") == "main.py"


def test_exit_codes_are_conventional(tmp_path, capsys, monkeypatch):
    # 2: usage (argparse) and bad input
    with pytest.raises(SystemExit) as e:
        main.main(["export"])
    assert e.value.code == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main.main(["export", str(bad), "--out", str(tmp_path / "o.json")]) == 2
    assert main.main(["export", str(tmp_path / "missing.json"),
                      "--out", str(tmp_path / "o.json")]) == 2
    assert main.main(["train", str(bad), "--out", str(tmp_path / "m.pt")]) == 2
    # 1: a runtime failure (the input is fine; writing the output fails)
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    import model.formats.export as export

    def full_disk(*_a, **_k):
        raise OSError(28, "No space left on device")
    with monkeypatch.context() as m:
        m.setattr(export, "save_dataset", full_disk)
        assert main.main(["export", str(good), "--out", str(tmp_path / "o.json")]) == 1
    err = capsys.readouterr().err
    assert "No space left" in err and "Traceback" not in err
    # 0
    assert main.main(["export", str(good), "--out", str(tmp_path / "o.json")]) == 0
