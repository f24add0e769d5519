"""Effort per model round (issue 20, section 4), Qt-free: the record kept in step with
applied and reverted edits, its file in `.maskloop/` (atomic, validated on reading),
the per-round table, and `main.py report` on a saved session."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.cli.entry import main
from model.data.annotations import Category, Dataset, ImageRecord, Instance
from model.editing import user_actions as E
from model.editing.ops import Edit, PatchOp
from model.effort.action_costs import ACCEPT, BOX, REJECT, REJECT_ALL, STROKE, cost
from model.effort.record import NO_MODEL, EffortRecord
from model.effort.rounds import format_table, rounds
from model.effort import store
from model.training.versions import VersionRegistry

H, W = 40, 48


def square(x, y, s=10) -> tuple[np.ndarray, tuple[int, int]]:
    return np.ones((s, s), bool), (x, y)


def dataset(tmp_path: Path, model="v1-test") -> Dataset:
    ds = Dataset([Category(1, "cell")], [], tmp_path, tmp_path / "data.json")
    for k in range(2):
        rec = ImageRecord(k + 1, f"im{k}.png", W, H, prediction_model=model)
        for j, (x, y) in enumerate([(2, 2), (20, 2), (2, 20)]):
            rec.instances.append(Instance(1, *square(x, y), score=0.9, source="model",
                                          review="unreviewed", model=model,
                                          id=10 * (k + 1) + j))
        ds.images.append(rec)
    ds._next_ann_id = 100
    return ds


class Session:
    """What the Document does: apply each edit, noting it, and undo in LIFO order."""

    def __init__(self, ds):
        self.ds, self.record, self.done = ds, EffortRecord(), []

    def push(self, edit: Edit, **gestures) -> Edit:
        edit.gestures = dict(gestures)
        self.record.note(edit, True)
        edit.apply()
        self.done.append(edit)
        return edit

    def undo(self):
        edit = self.done.pop()
        edit.revert()
        self.record.note(edit, False)


def session_of_one_round(tmp_path):
    """Image 1: accept one, reject one, edit one with a stroke, draw one with a box."""
    ds = dataset(tmp_path)
    s = Session(ds)
    rec = ds.images[0]
    a, r, e = rec.instances
    s.push(E.review_edit(rec, [a], "accepted"), accept=1)
    s.push(E.review_edit(rec, [r], "rejected"), reject=1)
    grown = np.ones((10, 15), bool)  # the stroke adds 5 columns: IoU 100/150
    s.push(Edit("Brush stroke", [PatchOp.build(rec, e, (grown, (2, 20)))]), stroke=1)
    drawn = Instance(1, *square(30, 25, 8), source="human", id=ds.new_annotation_id())
    s.push(E.insert_edit(rec, drawn, "Box to mask"), box=1)
    return ds, s


def test_the_record_follows_apply_and_undo(tmp_path):
    ds, s = session_of_one_round(tmp_path)
    img = s.record.images[1]
    assert dict(img.actions["v1-test"].gestures) == {ACCEPT: 1, REJECT: 1, STROKE: 1, BOX: 1}
    assert img.actions["v1-test"].actions == 5  # a box drag costs 2
    s.undo()  # the box
    s.undo()  # the stroke
    assert dict(img.actions["v1-test"].gestures) == {ACCEPT: 1, REJECT: 1}
    entry = s.record.outcomes(ds)[0]
    assert sorted(i["outcome"] for i in entry["instances"]) == ["accepted", "rejected"]
    s.undo()
    s.undo()
    assert s.record.outcomes(ds) == []  # everything undone: nothing recorded


def test_outcomes_measure_the_iou_from_the_models_mask_to_the_final_one(tmp_path):
    ds, s = session_of_one_round(tmp_path)
    entry = s.record.outcomes(ds)[0]
    by = {i["outcome"]: i for i in entry["instances"]}
    assert set(by) == {"accepted", "rejected", "edited", "drawn"}
    assert by["edited"]["iou"] == pytest.approx(100 / 150)
    assert all(i["version"] == "v1-test" for i in entry["instances"])


def test_an_image_without_a_models_predictions_is_round_zero(tmp_path):
    ds = dataset(tmp_path)
    rec = ds.images[1]
    rec.instances, rec.prediction_model = [], None
    s = Session(ds)
    s.push(E.insert_edit(rec, Instance(1, *square(5, 5), source="human", id=77), "Brush"),
           stroke=1)
    (row,) = rounds(s.record.outcomes(ds))
    assert row.version == NO_MODEL and row.name == "no model"
    assert (row.drawn, row.actions, row.actions_per_instance) == (1, 1, 1.0)


def test_the_table_from_a_synthetic_record():
    entries = [
        {"id": 1, "file_name": "a.png", "width": W, "height": H,
         "actions": {"": {"box": 3, "stroke": 2}},
         "instances": [{"id": k, "version": "", "origin": "drawn", "outcome": "drawn"}
                       for k in range(3)]},
        {"id": 2, "file_name": "b.png", "width": W, "height": H,
         "actions": {"v2": {"accept": 4, "stroke": 1}, "v1": {"accept": 1, "reject": 1}},
         "instances": [{"id": 10 + k, "version": "v2", "origin": "model", "outcome": "accepted"}
                       for k in range(4)]
                      + [{"id": 20, "version": "v2", "origin": "model", "outcome": "edited",
                          "iou": 0.8},
                         {"id": 21, "version": "v1", "origin": "model", "outcome": "accepted"},
                         {"id": 22, "version": "v1", "origin": "model", "outcome": "rejected"}]},
    ]
    rows = rounds(entries, order=["v1", "v2"])
    assert [r.version for r in rows] == ["", "v1", "v2"]
    zero, v1, v2 = rows
    assert (zero.images, zero.drawn, zero.actions, zero.actions_per_instance) == (1, 3, 8, 8 / 3)
    assert (v1.accepted, v1.rejected, v1.actions, v1.actions_per_instance) == (1, 1, 2, 1.0)
    assert (v2.accepted, v2.edited, v2.mean_iou, v2.actions) == (4, 1, 0.8, 5)
    assert v2.actions_per_instance == pytest.approx(1.0)
    text = format_table(rows)
    assert "no model" in text.splitlines()[1] and "0.800" in text


def test_the_record_round_trips_through_its_file_and_goes_on(tmp_path):
    ds, s = session_of_one_round(tmp_path)
    path = store.effort_file(ds.path)
    assert path == tmp_path / ".maskloop" / "data.effort.json"
    written = store.write(path, s.record, ds)
    entries, warning = store.read(path)
    assert warning is None and len(entries) == 1
    assert store.to_json(entries) == written
    # the next session goes on from the file: its own undo never takes the saved work away
    s2 = Session(ds)
    s2.record = store.record_from(entries, ds)
    rec = ds.images[0]
    edited = next(i for i in rec.instances if i.source == "edited")
    s2.push(Edit("Erase stroke", [PatchOp.build(rec, edited, square(2, 20))]), stroke=1)
    entry = s2.record.outcomes(ds)[0]
    iou = next(i["iou"] for i in entry["instances"] if i["outcome"] == "edited")
    assert iou == 1.0  # measured against the model's mask the file kept
    assert entry["actions"]["v1-test"]["stroke"] == 2
    s2.undo()
    assert s2.record.outcomes(ds)[0]["actions"]["v1-test"]["stroke"] == 1
    assert not list(path.parent.glob("*.tmp"))  # written atomically


@pytest.mark.parametrize("bad, why", [
    ({"format": "maskloop-effort/1", "images": [{"id": 1, "file_name": "a", "width": 4,
                                                  "height": 4, "actions": {"": {"box": -1}}}]},
     "non-negative"),
    ({"format": "maskloop-effort/1", "images": [{"id": 1, "file_name": "a", "width": 4,
                                                  "height": 4, "actions": {"": {"box": True}}}]},
     "non-negative"),
    ({"format": "maskloop-effort/1", "images": [
        {"id": 1, "file_name": "a", "width": 4, "height": 4, "actions": {},
         "instances": [{"id": 3, "version": "", "origin": "model", "outcome": "edited",
                        "iou": 1.5}]}]}, "iou"),
    ({"format": "something else", "images": []}, "not a MaskLoop effort record"),
])
def test_a_malformed_record_is_one_warning_naming_the_file_never_fatal(tmp_path, bad, why):
    path = tmp_path / "x.effort.json"
    path.write_text(json.dumps(bad))
    entries, warning = store.read(path)
    assert entries == [] and str(path) in warning and why in warning


def test_a_kind_this_version_does_not_know_is_left_out_and_its_entry_kept(tmp_path):
    # a newer MaskLoop may record gestures this one does not know: the image's other
    # counts still read (issue 29), and the warning names the file and the kind
    path = tmp_path / "x.effort.json"
    path.write_text(json.dumps({"format": "maskloop-effort/1", "images": [
        {"id": 1, "file_name": "a", "width": 4, "height": 4,
         "actions": {"": {"wave": 1, "reject_all": 1, "box": 1}}, "instances": []}]}))
    entries, warning = store.read(path)
    assert [e["actions"] for e in entries] == [{"": {"reject_all": 1, "box": 1}}]
    assert str(path) in warning and "unknown action kind 'wave' left out" in warning
    (row,) = rounds(entries)
    assert row.actions == cost(REJECT_ALL) + cost(BOX) == 3


def test_nan_and_broken_json_are_warnings_and_good_entries_survive(tmp_path):
    path = tmp_path / "x.effort.json"
    good = {"id": 2, "file_name": "b", "width": 4, "height": 4, "actions": {"v1": {"accept": 2}},
            "instances": []}
    path.write_text('{"format": "maskloop-effort/1", "images": [{"id": 1, "file_name": "a", '
                    '"width": 4, "height": 4, "actions": {}, "instances": [{"id": 1, '
                    '"version": "", "origin": "model", "outcome": "edited", "iou": NaN}]}]}')
    entries, warning = store.read(path)
    assert entries == [] and "not valid JSON" in warning
    doc = {"format": "maskloop-effort/1", "images": [good, {"id": -1}]}
    path.write_text(json.dumps(doc))
    entries, warning = store.read(path)
    assert [e["id"] for e in entries] == [2] and "1 entry" in warning
    path.write_bytes(b"\xff\xfe")
    assert store.read(path)[1].startswith(str(path))
    assert store.read(tmp_path / "none.json") == ([], None)  # no record yet: no warning


def saved_session(tmp_path) -> Path:
    ds, s = session_of_one_round(tmp_path)
    ds.path.write_text("{}")  # the report reads the state beside it, not the COCO content
    store.write(store.effort_file(ds.path), s.record, ds)
    VersionRegistry(tmp_path / ".maskloop").add("v1-test", tmp_path / "v1.pt",
                                                 {"status": "done"}, {}, [])
    return ds.path


def test_report_prints_the_rounds_table_of_a_saved_session(tmp_path, capsys):
    coco = saved_session(tmp_path)
    assert main(["report", str(coco)]) == 0
    out = capsys.readouterr().out
    header, row = out.splitlines()[:2]
    assert header.split()[:3] == ["round", "images", "accepted"]
    assert row.split() == ["v1-test", "1", "1", "1", "0.667", "1", "1", "4", "5", "1.25"]
    assert "5 action(s), 1.25 per instance" in out


def test_report_json_on_a_saved_session(tmp_path, capsys):
    coco = saved_session(tmp_path)
    assert main(["report", str(coco), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (r,) = doc["rounds"]
    assert (r["version"], r["images"], r["accepted"], r["edited"], r["rejected"],
            r["drawn"]) == ("v1-test", 1, 1, 1, 1, 1)
    assert r["edited_mean_iou"] == pytest.approx(2 / 3)
    assert r["actions"] == cost(ACCEPT) + cost(REJECT) + cost(STROKE) + cost(BOX) == 5
    assert r["actions_per_instance"] == 1.25 and r["by_kind"]["box"] == 2
    assert doc["total"]["instances"] == 4


def test_report_without_a_record_and_with_a_bad_one(tmp_path, capsys):
    coco = tmp_path / "d.json"
    coco.write_text("{}")
    assert main(["report", str(coco)]) == 0
    assert "No effort recorded" in capsys.readouterr().out
    bad = store.effort_file(coco)
    bad.parent.mkdir()
    bad.write_text("[1, 2")
    assert main(["report", str(coco), "--json"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["rounds"] == []
    assert cap.err.startswith("warning: ") and str(bad) in cap.err
    assert main(["report", str(tmp_path / "missing.json")]) == 2
    assert "error: " in capsys.readouterr().err
