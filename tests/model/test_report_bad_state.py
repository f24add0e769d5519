"""`main.py report` on a `.maskloop/` folder a person or a tool damaged: every file that
cannot be used (the effort record, models.json) is one warning naming it, and the report
goes on with the rest (exit 0), never a traceback or an error without a file name."""
from __future__ import annotations

import json

import pytest

from model.cli.entry import main
from model.effort import store
from model.training.versions import VersionRegistry
from tests.model.test_effort_rounds import saved_session

DEEP = "[" * 200_000 + "]" * 200_000  # deeper than any recursion limit


def _run(coco, capsys, *extra) -> tuple[str, list[str]]:
    assert main(["report", str(coco), *extra]) == 0
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err and "error:" not in cap.err
    return cap.out, cap.err.splitlines()


def test_a_deeply_nested_effort_record_is_one_warning(tmp_path, capsys):
    coco = saved_session(tmp_path)
    path = store.effort_file(coco)
    path.write_text(DEEP)
    out, err = _run(coco, capsys)
    assert err == [f"warning: {path}: the effort record is nested too deeply; it is ignored"]
    assert out == f"No effort could be read from {path} (see the warning).\n"


@pytest.mark.parametrize("damage, why", [
    (lambda p: p.write_bytes(b'\xff\xfe{"versions": []}'),
     "the model versions are not UTF-8 text; they are ignored"),
    (lambda p: p.mkdir(), "the model versions cannot be read (Is a directory); they are "
                          "ignored"),
    (lambda p: p.write_text('{"versions": ' + DEEP + "}"),
     "the model versions are nested too deeply; they are ignored"),
    (lambda p: p.write_text('{"versions": 3}'),
     'not a list of model versions ({"versions": [...]}); it is ignored'),
    (lambda p: p.write_text('{"versions": [{"name": "v1-test"}, 7]}'),
     "1 of its 2 model versions have no name; they are skipped"),
])
def test_a_damaged_models_json_is_one_warning_and_the_rounds_are_reported(
        tmp_path, capsys, damage, why):
    coco = saved_session(tmp_path)
    models = tmp_path / ".maskloop" / "models.json"
    models.unlink()
    damage(models)
    out, err = _run(coco, capsys, "--json")
    assert err == [f"warning: {models}: {why}"]
    (r,) = json.loads(out)["rounds"]  # the effort record is still reported
    assert (r["version"], r["instances"]) == ("v1-test", 4)


def test_both_files_damaged_give_one_warning_each(tmp_path, capsys):
    coco = saved_session(tmp_path)
    effort = store.effort_file(coco)
    effort.write_bytes(b"\xff")
    models = tmp_path / ".maskloop" / "models.json"
    models.write_text(DEEP)
    _out, err = _run(coco, capsys)
    assert len(err) == 2 and err[0].startswith(f"warning: {effort}: ") \
        and err[1].startswith(f"warning: {models}: ")


def test_the_registry_reads_a_good_file_without_a_warning(tmp_path):
    reg = VersionRegistry(tmp_path)
    assert reg.read() == ([], None)  # no file yet
    reg.add("v1", tmp_path / "v1.pt", {"status": "done"}, {}, [])
    versions, warning = reg.read()
    assert [v["name"] for v in versions] == ["v1"] and warning is None


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8", b'{"versions": [{"x": 1}]}'])
def test_a_new_version_never_overwrites_a_models_json_it_cannot_read(tmp_path, content):
    """Adding a version used to replace an unreadable models.json with the new version
    alone: the file a person might still repair is kept aside, byte for byte."""
    reg = VersionRegistry(tmp_path)
    reg.path.write_bytes(content)
    reg.add("model-2", tmp_path / "m.pt", {"status": "finished"}, {}, [])
    assert (tmp_path / "models.json.unreadable-1").read_bytes() == content
    assert [v["name"] for v in reg.load()] == ["model-2"]
    reg.add("model-3", tmp_path / "m.pt", {"status": "finished"}, {}, [])
    assert not (tmp_path / "models.json.unreadable-2").exists()  # a good file is updated
    assert [v["name"] for v in reg.load()][-2:] == ["model-2", "model-3"]
