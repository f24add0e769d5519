"""The app opens other tools' annotations (and says which format it read), asks about
CVAT's crowd masks once, and exports what the document holds now."""
from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

import main
from app.window.export_dialog import ExportDialog
from model.editing.user_actions import delete_edit
from tests.app.conftest import Answers, open_and_show
from tests.helpers import make_coco
from tests.model.formats.rects_format import CSV, RECTS, registered
from tests.model.formats.test_convert import datumaro_file


def test_a_labelme_folder_opens_with_its_instances_and_is_named(qtbot, make_window, tmp_path):
    coco = make_coco(tmp_path)
    out = tmp_path / "lm"
    assert main.main(["export", str(coco), "--out", str(out), "--format", "labelme"]) == 0
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    said = []
    w.files.message.connect(lambda text, _ms: said.append(text))
    open_and_show(qtbot, w, out)
    assert w.doc.dataset.source_format == "labelme"
    assert sum(len(r.instances) for r in w.doc.dataset.images) == 5
    assert any("as labelme" in s and "5 instance" in s for s in said)
    assert not w.doc.dirty  # opening is not changing


def test_cvat_crowd_masks_are_asked_about_once_and_become_instances_in_one_step(
        qtbot, make_window, tmp_path):
    answers = Answers({"Crowd masks": "Treat as instances"})
    w = make_window(answers=answers)
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, datumaro_file(tmp_path))
    assert answers.asked.count("Crowd masks") == 1 and "1 annotation" in answers.texts[0]
    rec = w.doc.current
    assert not any(i.iscrowd for i in rec.instances) and w.doc.dirty
    w.actions_["actionUndo"].trigger()
    assert [i.iscrowd for i in rec.instances] == [True, False] and not w.doc.dirty
    w.actions_["actionRedo"].trigger()
    assert w.save()
    anns = json.loads(w.session.coco_path.read_text())["annotations"]
    assert [a["iscrowd"] for a in anns] == [0, 0]
    assert anns[0]["attributes"] == {"occluded": False}


def test_export_writes_what_the_document_holds_now(qtbot, make_window, tmp_path, monkeypatch):
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, make_coco(tmp_path))
    rec = w.doc.current
    two_parts = next(i for i in rec.instances if i.id == 9)  # two separate squares
    w.doc.push(delete_edit(rec, [two_parts]))  # unsaved: the export must not have it
    lines_expected = sum(1 for r in w.doc.dataset.images for i in r.instances
                         if not i.iscrowd)  # YOLO-seg: a line per instance, parts bridged
    chosen = {}

    def fake_exec(dialog):
        dialog.format.setCurrentIndex(dialog.format.findData("yolo-seg"))
        assert dialog.tolerance.isEnabled()
        dialog.path.setText(str(tmp_path / "yolo"))
        chosen["fmt"] = dialog.chosen()
        return QDialog.Accepted
    monkeypatch.setattr(ExportDialog, "exec", fake_exec)
    with qtbot.waitSignal(w.exporter.exported, timeout=10_000) as got:
        w.actions_["actionExport"].trigger()
    assert "yolo-seg" in got.args[0] and chosen["fmt"][0] == "yolo-seg"
    assert (tmp_path / "yolo" / "data.yaml").is_file()
    labels = sorted((tmp_path / "yolo" / "labels").rglob("*.txt"))
    lines = [ln for p in labels for ln in p.read_text().splitlines() if ln.strip()]
    assert len(lines) == lines_expected
    assert w.doc.dirty  # exporting is not saving


def test_export_to_a_file_where_a_folder_is_needed_says_so(qtbot, make_window, tmp_path):
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, make_coco(tmp_path))
    errors = []
    w.notifier.error = lambda title, text: errors.append(text)
    f = tmp_path / "taken.txt"
    f.write_text("x")
    assert not w.exporter.export_to("labelme", f)
    assert errors and str(f) in errors[0] and f.read_text() == "x"


def test_file_export_stays_inside_its_folder_and_never_replaces_others_files(
        qtbot, make_window, tmp_path):
    """File > Export goes through the same model code as `main.py export`: an absolute
    file_name writes nothing beside it, and a folder holding other files is refused."""
    from tests.model.formats.test_export_confinement import coco, snapshot
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "photo.png").write_bytes(b"the user's photo")
    data = coco(tmp_path / "data", ["a.png", str(victim / "photo.png"), "frame.001.png",
                                    "frame.002.png"])
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, data)
    errors = []
    w.notifier.error = lambda title, text: errors.append(text)
    out = tmp_path / "yolo"
    before = snapshot(tmp_path, skip=out)
    with qtbot.waitSignal(w.exporter.exported, timeout=10_000) as got:
        assert w.exporter.export_to("yolo-seg", out)
    assert snapshot(tmp_path, skip=out) == before and not errors
    assert "photo.png" in got.args[0] and "warning:" in got.args[0]  # not copied, said so
    assert sorted(p.name for p in (out / "labels").iterdir()) == [
        "a.txt", "frame.001.txt", "frame.002.txt", "photo.txt"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    before = snapshot(tmp_path)
    assert not w.exporter.export_to("masks", mine)
    assert errors and "notes.txt" in errors[0] and "MaskLoop did not write" in errors[0]
    assert snapshot(tmp_path) == before


def test_a_format_registered_alone_is_offered_and_written_by_file_export(
        qtbot, make_window, tmp_path, monkeypatch):
    """The export dialog lists the registry's writers: a format one test module registers
    (tests/model/formats/rects_format.py) is offered, described and written by Ctrl+E like the
    built-in ones, and is gone from a dialog made after it is unregistered."""
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, make_coco(tmp_path))
    seen = {}

    def fake_exec(dialog):
        names = [dialog.format.itemData(k) for k in range(dialog.format.count())]
        seen["names"] = names
        if "rects" not in names:
            return QDialog.Rejected
        k = dialog.format.findData("rects")
        seen["tip"] = dialog.format.itemData(k, Qt.ToolTipRole)
        dialog.format.setCurrentIndex(k)
        seen["about"], seen["tolerance"] = dialog.about.text(), dialog.tolerance.isEnabled()
        seen["default"] = dialog.path.text()
        dialog.path.setText(str(tmp_path / "rects_out"))
        return QDialog.Accepted
    monkeypatch.setattr(ExportDialog, "exec", fake_exec)
    with registered():
        with qtbot.waitSignal(w.exporter.exported, timeout=10_000) as got:
            qtbot.keyClick(w.canvas, Qt.Key_E, Qt.ControlModifier)
    names = seen["names"]
    assert names.index("rects") == names.index("masks") + 1  # its order, 65, after masks' 60
    assert seen["tip"] == seen["about"] == RECTS.description
    assert not seen["tolerance"]  # no polygons: nothing to simplify
    assert seen["default"].endswith("export-rects")  # a folder format
    assert "(rects): 4 rectangle(s)" in got.args[0]
    rows = (tmp_path / "rects_out" / CSV).read_text().splitlines()
    assert rows[0] == "imgs/a.png,10,10,41,41,ring" and len(rows) == 4  # the crowd left out
    seen.clear()
    qtbot.keyClick(w.canvas, Qt.Key_E, Qt.ControlModifier)
    assert "rects" not in seen["names"] and "coco-rle" in seen["names"]
