"""The audit's Suspects in the app, driven with real key events: the image list's
Suspects filter (ranked), A keeps the annotation, R takes the model's version, each one
undo step through the Document's undo stack."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from model.audit.suspects import find_suspects, write_suspects
from model.data.annotations import Category, Dataset, Instance
from model.data.coco import save_dataset
from model.editing.user_actions import insert_edit
from tests.app.conftest import open_and_show
from tests.helpers import write_image

H, W = 64, 80


def disc(cx, cy, r):
    yy, xx = np.mgrid[:H, :W]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def dataset(tmp_path):
    """Three done images: a.png (a disc labelled square: the model says disc; a disc
    nobody labelled), b.png (a square the model does not see: spurious), c.png (fine)."""
    ds = Dataset([Category(1, "disc"), Category(2, "square")], image_root=tmp_path)
    preds = {}
    for k, name in enumerate("abc"):
        write_image(tmp_path / f"{name}.png", H, W, seed=k)
        rec = ds.add_image(f"{name}.png", W, H)
        rec.status = "done"
    a, b, c = ds.images
    ds.add_instance(a, Instance(2, disc(20, 20, 8)))
    ds.add_instance(b, Instance(2, disc(40, 30, 9)))
    ds.add_instance(c, Instance(1, disc(30, 30, 9)))
    preds[a.id] = [Instance(1, disc(20, 20, 8), score=0.9, source="model"),
                   Instance(1, disc(60, 40, 7), score=0.8, source="model")]
    preds[b.id] = []
    preds[c.id] = [Instance(1, disc(30, 30, 9), score=0.95, source="model")]
    save_dataset(ds, tmp_path / "gt.json")
    write_suspects(tmp_path / "suspects.json", ds, find_suspects(ds, preds))
    return tmp_path / "gt.json", tmp_path / "suspects.json"


def listed(w) -> list[str]:
    p = w.image_panel.proxy
    return [p.index(r, 0).data(Qt.UserRole) for r in range(p.rowCount())]


def key(w, k) -> None:
    QTest.keyClick(w.canvas, k)


def test_suspects_filter_keep_and_take_each_one_undo_step(qtbot, make_window, tmp_path):
    gt, suspects = dataset(tmp_path)
    w = make_window()
    open_and_show(qtbot, w, gt)
    last = w.instance_table.model().columnCount() - 1
    assert w.instance_table.isColumnHidden(last)  # no Suspect column before an audit
    assert w.suspects.load(suspects)
    assert not w.instance_table.isColumnHidden(last)
    doc, stack = w.doc, w.doc.undo_stack
    # ranked: b's spurious square (score 1.0) first, then a (wrong class 0.9, missing 0.8)
    assert listed(w) == ["b.png", "a.png"]
    qtbot.waitUntil(lambda: doc.current is not None and doc.current.file_name == "b.png")
    b = doc.current
    assert doc.selected is b.instances[0]  # the suspect's annotation is selected
    # R takes the model's version: no instance. One step; the next suspect image is shown
    key(w, Qt.Key_R)
    assert b.instances == [] and stack.count() == 1, (b.instances, stack.count())
    qtbot.waitUntil(lambda: doc.current.file_name == "a.png")
    # undo: one step brings the annotation and the suspect back
    QTest.keyClick(w.canvas, Qt.Key_Z, Qt.ControlModifier)
    assert len(b.instances) == 1 and doc.suspects.open_on(b.id)
    qtbot.waitUntil(lambda: doc.current is b)
    # A keeps it: accepted, the suspect decided, one more step
    key(w, Qt.Key_A)
    assert len(b.instances) == 1 and b.instances[0].review == "accepted"
    assert not doc.suspects.open_on(b.id) and stack.count() == 1
    qtbot.waitUntil(lambda: doc.current.file_name == "a.png")
    a = doc.current
    assert listed(w)[0] == "a.png"
    # the instance list: the suspect annotations only, with their reason
    table = w.instance_table
    assert table.rows == [a.instances[0]]
    assert table.model().index(0, 5).data().startswith("wrong class")
    # selecting another instance gives A and R back to reviewing it; the suspect stays
    other = Instance(1, disc(60, 10, 3), score=0.9, source="model")
    doc.push(insert_edit(a, other, "add"))
    doc.select(other)
    key(w, Qt.Key_A)
    assert other.review == "accepted" and a.instances[0].category_id == 2
    QTest.keyClick(w.canvas, Qt.Key_Z, Qt.ControlModifier)
    QTest.keyClick(w.canvas, Qt.Key_Z, Qt.ControlModifier)
    assert stack.index() == 1 and other not in a.instances
    doc.select(a.instances[0])
    # a: the wrong class first; its alternative drawn on the canvas in the dashed style
    assert w.suspects.outline is not None and w.suspects.outline.scene() is w.canvas.scene()
    key(w, Qt.Key_R)
    assert a.instances[0].category_id == 1 and stack.count() == 2
    # then the missing disc: A keeps the labels as they are (nothing added)...
    key(w, Qt.Key_A)
    assert len(a.instances) == 1 and stack.count() == 3
    QTest.keyClick(w.canvas, Qt.Key_Z, Qt.ControlModifier)
    qtbot.waitUntil(lambda: doc.current is a)
    assert stack.index() == 2 and doc.suspects.open_on(a.id)
    # ...or R adds the model's disc as a decided instance, in one step
    key(w, Qt.Key_R)
    assert len(a.instances) == 2 and stack.count() == 3
    new = a.instances[1]
    assert new.category_id == 1 and new.review == "accepted" and new.id not in (None, 1, 2, 3)
    assert np.array_equal(new.full_mask(H, W), disc(60, 40, 7))
    QTest.keyClick(w.canvas, Qt.Key_Z, Qt.ControlModifier)
    assert len(a.instances) == 1 and doc.suspects.open_on(a.id)


def test_a_bad_suspects_file_is_one_error_and_changes_nothing(qtbot, make_window, tmp_path):
    gt, suspects = dataset(tmp_path)
    suspects.write_text('[{"image_id": 99, "reason": "missing", "score": 1}]')
    w = make_window()
    open_and_show(qtbot, w, gt)
    with qtbot.waitSignal(w.suspects.message) as blocker:
        assert not w.suspects.load(suspects)
    assert blocker.args[0].startswith("error:") and "suspects.json" in blocker.args[0]
    assert w.doc.suspects.items == [] and not w.image_panel.suspects_on
    # A and R stay the review keys
    key(w, Qt.Key_A)
