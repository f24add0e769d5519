"""A new user's walkthrough (issue 18, items 26 and 28), with real key events: Ctrl+K
opens a class picker that has the keyboard (typing a name fires no shortcut), every
toolbar control is reachable at 1280x800, and image navigation follows the filtered
list, whose highlighted row is always the image shown."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolBar, QToolButton

from model.data import masks as M
from model.data.annotations import Instance
from model.editing.actions import insert_edit
from tests.app.conftest import open_and_show
from tests.helpers import write_image

CLASSES = ["bowl", "broccoli", "orange", "carrot"]


def coco(tmp_path, n_images: int = 1):
    """Images with two hand-made squares each; the classes above (ids 1..4)."""
    d = tmp_path / "data"
    d.mkdir()
    images, anns = [], []
    for k in range(n_images):
        write_image(d / f"img{k}.png", 96, 128, seed=k)
        images.append({"id": k + 1, "file_name": f"img{k}.png", "width": 128, "height": 96})
        for j, (x, y) in enumerate(((10, 10), (60, 40))):
            m = np.zeros((96, 128), bool)
            m[y:y + 30, x:x + 30] = True
            anns.append({"id": 10 * k + j + 1, "image_id": k + 1, "category_id": 1,
                         "segmentation": M.encode_rle(*M.tight_crop(m), 96, 128),
                         "area": 900.0, "bbox": [x, y, 30.0, 30.0], "iscrowd": 0})
    cats = [{"id": k + 1, "name": n} for k, n in enumerate(CLASSES)]
    path = d / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


def activate(qtbot, w) -> None:
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)


@pytest.fixture
def win(qtbot, make_window, tmp_path):
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, coco(tmp_path))
    activate(qtbot, w)
    w.canvas.setFocus(Qt.OtherFocusReason)
    qtbot.waitUntil(w.canvas.hasFocus, timeout=5000)
    return w


def ctrl_k(qtbot, w):
    """Press Ctrl+K on the canvas; returns the widget that has the keyboard then."""
    QTest.keyClick(w.canvas, Qt.Key_K, Qt.ControlModifier)
    popup = QApplication.activePopupWidget()
    assert popup is not None and popup.objectName() == "classPopup", popup
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None
                    and popup.isAncestorOf(QApplication.focusWidget()), timeout=5000)
    return popup, QApplication.focusWidget()


def fired_log(w) -> list[str]:
    log: list[str] = []
    for a in w.findChildren(QAction):
        a.triggered.connect(lambda *_a, n=a.objectName(): log.append(n))
    return log


# ---------------------------------------------------------------------- 26
def test_ctrl_k_typing_a_name_and_enter_relabels_and_fires_no_shortcut(qtbot, win):
    w = win
    inst = w.doc.current.instances[0]
    w.doc.select(inst)
    steps = w.doc.undo_stack.count()
    log = fired_log(w)
    popup, field = ctrl_k(qtbot, w)
    QTest.keyClicks(field, "brocc")
    names = [popup.list.item(r).text() for r in range(popup.list.count())]
    assert names == ["broccoli"]
    QTest.keyClick(field, Qt.Key_Return)
    assert inst.category_id == 2 and not popup.isVisible()
    assert log == ["actionPickClass"]  # b, r, o, c: no Brush, Reject, Unoccupied, Colour
    assert w.canvas.tool is None and w.actions_["actionSelectTool"].isChecked()
    assert inst.review == "unreviewed" and not w.actions_["actionUnoccupied"].isChecked()
    assert w.doc.undo_stack.count() == steps + 1  # one relabel step
    assert w.toolbox.picker.currentText() == "broccoli"
    qtbot.waitUntil(w.canvas.hasFocus, timeout=5000)  # the keys go to the canvas again
    QTest.keyClick(w.canvas, Qt.Key_A)
    assert inst.review == "accepted"


def test_ctrl_k_escape_cancels_and_gives_the_canvas_the_keys_back(qtbot, win):
    w = win
    inst = w.doc.current.instances[1]
    w.doc.select(inst)
    steps = w.doc.undo_stack.count()
    popup, field = ctrl_k(qtbot, w)
    QTest.keyClicks(field, "or")
    QTest.keyClick(field, Qt.Key_Escape)
    assert not popup.isVisible() and inst.category_id == 1
    assert w.doc.undo_stack.count() == steps
    qtbot.waitUntil(w.canvas.hasFocus, timeout=5000)


def test_ctrl_k_arrows_choose_among_matches_and_no_match_stays_open(qtbot, win):
    w = win
    popup, field = ctrl_k(qtbot, w)  # nothing selected: the class for new instances
    assert popup.title.text() == "Class for new instances"
    QTest.keyClicks(field, "zz")
    assert popup.list.count() == 0 and popup.empty.isVisible()
    QTest.keyClick(field, Qt.Key_Return)
    assert popup.isVisible()  # nothing to pick: the text can be changed
    field.clear()
    QTest.keyClicks(field, "o")  # orange starts with it; bowl, broccoli, carrot hold it
    names = [popup.list.item(r).text() for r in range(popup.list.count())]
    assert names == ["orange", "bowl", "broccoli", "carrot"]
    QTest.keyClick(field, Qt.Key_Down)
    QTest.keyClick(field, Qt.Key_Down)
    QTest.keyClick(field, Qt.Key_Return)
    assert w.toolbox.drawing.category_id == 2 and w.toolbox.drawing.chosen_category() == 2
    assert w.toolbox.picker.currentText() == "broccoli"


def test_every_toolbar_control_is_reachable_at_1280_by_800(qtbot, win):
    w = win
    w.resize(1280, 800)
    w.training_dock.show()
    qtbot.waitUntil(lambda: w.width() == 1280, timeout=5000)
    QApplication.processEvents()
    window = w.rect()
    bars = w.findChildren(QToolBar)
    for bar in bars:
        ext = bar.findChild(QToolButton, "qt_toolbar_ext_button")
        assert ext is None or not ext.isVisible(), f"{bar.objectName()} overflows"
        for a in bar.actions():
            if a.isSeparator():
                continue
            widget = bar.widgetForAction(a)
            assert widget is not None and widget.isVisible(), (bar.objectName(), a.text())
            r = widget.geometry().translated(bar.mapTo(w, widget.geometry().topLeft())
                                             - widget.geometry().topLeft())
            assert window.contains(r), (bar.objectName(), a.text(), r)
    assert {b.objectName() for b in bars} >= {"mainToolBar", "toolsToolBar", "optionsToolBar",
                                              "modelToolBar"}
    for name in ("classPicker", "brushSize", "vertexTolerance", "weightsChooser"):
        assert w.findChild(object, name).isVisible(), name
    assert w.findChild(QAction, "actionUnoccupied") in \
        w.findChild(QToolBar, "optionsToolBar").actions()


def test_no_single_key_shortcut_fires_while_a_text_field_has_focus(qtbot, win):
    w = win
    w.resize(1280, 800)
    log = fired_log(w)
    single = sorted({s.toString(QKeySequence.PortableText)
                     for a in w.findChildren(QAction) for s in a.shortcuts()
                     if not s[0].keyboardModifiers() & ~Qt.ShiftModifier
                     and len(s.toString(QKeySequence.PortableText)) == 1})
    assert {"A", "R", "B", "O", "D", "1", "+", "-", "[", "."} <= set(single)
    fields = [w.image_panel.filter_edit, w.toolbox.picker.lineEdit(),
              w.toolbox.size_spin, w.toolbox.tolerance_spin]
    for field in fields:
        field.setFocus(Qt.OtherFocusReason)
        qtbot.waitUntil(field.hasFocus, timeout=5000)
        for text in single:
            QTest.keyClick(field, QKeySequence(text)[0].key())
        assert log == [], (field.objectName(), log)
    popup, field = ctrl_k(qtbot, w)
    log.clear()
    for text in single:
        QTest.keyClick(field, QKeySequence(text)[0].key())
    assert log == [] and popup.isVisible()
    QTest.keyClick(field, Qt.Key_Escape)


# ---------------------------------------------------------------------- 28
def highlighted(w) -> int:
    """The dataset row of the image list's highlighted row (-1: none)."""
    p = w.image_panel
    idx = p.view.currentIndex()
    return p.proxy.mapToSource(idx).row() if idx.isValid() else -1


def listed(w) -> list[int]:
    p = w.image_panel
    return [p.proxy.mapToSource(p.proxy.index(r, 0)).row() for r in range(p.proxy.rowCount())]


@pytest.fixture
def six(qtbot, make_window, tmp_path):
    """Six images a0 b0 a1 b1 a2 b2 (natural order: a0 a1 a2 b0 b1 b2); b0 and a2 done."""
    d = tmp_path / "six"
    d.mkdir()
    for k in range(3):
        for p in "ab":
            write_image(d / f"{p}{k}.png", 64, 64, seed=k)
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, d)
    names = [r.file_name for r in w.doc.dataset.images]
    assert names == ["a0.png", "a1.png", "a2.png", "b0.png", "b1.png", "b2.png"]
    for row in (2, 3):
        w.doc.set_row(row)
        w.actions_["actionMarkDone"].trigger()
    w.doc.set_row(0)
    activate(qtbot, w)
    w.canvas.setFocus(Qt.OtherFocusReason)
    return w


def test_the_state_filter_shows_what_it_highlights_and_d_stays_inside_it(qtbot, six):
    w = six
    combo = w.image_panel.state_combo
    combo.setCurrentIndex(combo.findData("done"))
    assert listed(w) == [2, 3]
    assert w.doc.row == 2 and highlighted(w) == 2  # the first done image is shown
    qtbot.waitUntil(lambda: w.canvas.image_id == w.doc.current.id, timeout=5000)
    QTest.keyClick(w.canvas, Qt.Key_D)
    assert w.doc.row == 3 and highlighted(w) == 3
    QTest.keyClick(w.canvas, Qt.Key_D)  # the last one listed: D stays
    assert w.doc.row == 3
    QTest.keyClick(w.canvas, Qt.Key_Q)
    assert w.doc.row == 2 and highlighted(w) == 2
    combo.setCurrentIndex(combo.findData(""))  # All: the image shown stays
    assert w.doc.row == 2 and highlighted(w) == 2 and len(listed(w)) == 6


def test_the_image_shown_stays_listed_until_another_is_shown(qtbot, six):
    w = six
    combo = w.image_panel.state_combo
    combo.setCurrentIndex(combo.findData("unreviewed"))
    assert listed(w) == [0, 1, 4, 5] and w.doc.row == 0 and highlighted(w) == 0
    QTest.keyClick(w.canvas, Qt.Key_D)
    assert w.doc.row == 1
    w.doc.select(None)
    QTest.keyClick(w.canvas, Qt.Key_M)  # done now, and on to the next unreviewed listed
    assert w.doc.dataset.images[1].status == "done"
    assert w.doc.row == 4 and highlighted(w) == 4 and listed(w) == [0, 4, 5]
    inst = Instance(1, np.ones((8, 8), bool), (4, 4), id=w.doc.dataset.new_annotation_id())
    w.doc.push(insert_edit(w.doc.current, inst, "Draw"))  # an edit: the image is in progress
    assert w.doc.current.status == "in_progress"
    assert 4 in listed(w) and highlighted(w) == 4  # ...and it stays listed while shown
    QTest.keyClick(w.canvas, Qt.Key_U)
    assert w.doc.row == 5 and listed(w) == [0, 5]


def test_u_and_the_prefetch_follow_a_name_filter(qtbot, six):
    w = six
    w.image_panel.filter_edit.setText("b")
    assert listed(w) == [3, 4, 5] and w.doc.row == 3 and highlighted(w) == 3
    assert [r.file_name for r in w.inference.pixels.neighbours(3)] == ["b1.png", "b2.png"]
    QTest.keyClick(w.canvas, Qt.Key_U)  # b0 is done: U goes to b1, never to an a
    assert w.doc.row == 4
    QTest.keyClick(w.canvas, Qt.Key_U)
    assert w.doc.row == 5
    QTest.keyClick(w.canvas, Qt.Key_U)  # wraps around inside the list
    assert w.doc.row == 4


def test_the_prefetch_asks_after_the_image_undo_shows_outside_the_filter(qtbot, six):
    """Undo shows the image of its step, listed while shown though the filter leaves it
    out; the prefetch asked the list before that image was listed, and found nothing
    after it (D from it shows b0, which was then not prefetched)."""
    w = six
    inst = Instance(1, np.ones((8, 8), bool), (4, 4), id=w.doc.dataset.new_annotation_id())
    w.doc.push(insert_edit(w.doc.current, inst, "Draw"))  # a step on a0
    w.image_panel.filter_edit.setText("b")
    assert listed(w) == [3, 4, 5] and w.doc.row == 3
    pixels, asked = w.inference.pixels, []
    real = pixels.neighbours
    pixels.neighbours = lambda row: asked.append((row, [r.file_name for r in real(row)])) \
        or real(row)
    QTest.keyClick(w.canvas, Qt.Key_Z, Qt.ControlModifier)
    assert w.doc.row == 0 and listed(w) == [0, 3, 4, 5] and highlighted(w) == 0
    assert asked and asked[0] == (0, ["b0.png", "b1.png"])
    QTest.keyClick(w.canvas, Qt.Key_D)
    assert w.doc.row == 3 and listed(w) == [3, 4, 5]


def test_a_filter_that_lists_nothing_shows_nothing_until_it_lists_again(qtbot, six):
    w = six
    w.doc.set_row(4)
    qtbot.waitUntil(lambda: w.canvas.image_id == w.doc.current.id, timeout=5000)
    w.image_panel.filter_edit.setText("zzz")
    assert listed(w) == [] and w.doc.current is None and w.canvas.image_id is None
    assert w.image_panel.empty_label.isVisible() and w.instance_table.rowCount() == 0
    QTest.keyClick(w.canvas, Qt.Key_D)
    assert w.doc.current is None
    w.image_panel.filter_edit.setText("")  # the image shown before comes back
    assert w.doc.row == 4 and highlighted(w) == 4
    assert not w.image_panel.empty_label.isVisible()
    qtbot.waitUntil(lambda: w.canvas.image_id == w.doc.current.id, timeout=5000)
