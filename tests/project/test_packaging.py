"""One version, the program's name in its usage line, and conventional exit codes, for every
command (tests/app/window/test_installed_package.py builds the wheel and checks the demo it ships)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import main
from model.about import program_name, version

ROOT = Path(__file__).resolve().parents[2]


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
    import model.formats.coco_export as coco_export

    def full_disk(*_a, **_k):
        raise OSError(28, "No space left on device")
    with monkeypatch.context() as m:
        m.setattr(coco_export, "save_dataset", full_disk)
        assert main.main(["export", str(good), "--out", str(tmp_path / "o.json")]) == 1
    err = capsys.readouterr().err
    assert "No space left" in err and "Traceback" not in err
    # 0
    assert main.main(["export", str(good), "--out", str(tmp_path / "o.json")]) == 0


def test_the_test_run_keeps_only_failed_tests_temp_folders():
    """A full run writes ~20 GB of checkpoints into tmp_path; CI's disk ran out once (stop 32)."""
    import tomllib
    with open(ROOT / "pyproject.toml", "rb") as f:
        ini = tomllib.load(f)["tool"]["pytest"]["ini_options"]
    assert ini["tmp_path_retention_policy"] == "failed"
    assert int(ini["tmp_path_retention_count"]) <= 1
