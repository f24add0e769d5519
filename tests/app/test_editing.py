"""Mask editing driven by real QMouseEvents and keys on the canvas; every check is
pixel-exact against an independent reference rasterisation."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QAction, QKeyEvent, QMouseEvent, QTransform
from PySide6.QtWidgets import QApplication, QSpinBox

from model.data import masks as M
from model.data.coco import load_dataset, save_dataset
from tests.app.conftest import open_and_show
from tests.helpers import make_coco
from tests.model.test_mask_edit import brute_capsule, brute_polygon

H, W = 64, 80


def act(w, name) -> QAction:
    a = w.findChild(QAction, name)
    assert a is not None, name
    return a


@pytest.fixture
def win(qtbot, make_window, tmp_path):
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, make_coco(tmp_path))
    view = w.canvas
    view.setTransform(QTransform())  # 1:1, so viewport pixels map to whole image pixels
    view.centerOn(W / 2, H / 2)
    return w


def full(inst) -> np.ndarray:
    return inst.full_mask(H, W)


def by_id(w, ann_id):
    return next(i for i in w.doc.current.instances if i.id == ann_id)


def send_mouse(w, kind, scene_pt, button, buttons, mods=Qt.NoModifier) -> QPointF:
    vp = w.canvas.viewport()
    local = w.canvas.mapFromScene(QPointF(*scene_pt))
    ev = QMouseEvent(kind, QPointF(local), QPointF(vp.mapToGlobal(local)), button, buttons, mods)
    QApplication.sendEvent(vp, ev)
    return w.canvas.mapToScene(local)  # where the tool really was


def drag(w, points, mods=Qt.NoModifier) -> list[tuple[float, float]]:
    """Press, move through points, release; returns the image positions the tool got."""
    got = [send_mouse(w, QEvent.MouseButtonPress, points[0], Qt.LeftButton, Qt.LeftButton, mods)]
    for p in points[1:]:
        got.append(send_mouse(w, QEvent.MouseMove, p, Qt.NoButton, Qt.LeftButton, mods))
    send_mouse(w, QEvent.MouseButtonRelease, points[-1], Qt.LeftButton, Qt.NoButton, mods)
    return [(p.x(), p.y()) for p in got]


def click(w, p, mods=Qt.NoModifier):
    send_mouse(w, QEvent.MouseButtonPress, p, Qt.LeftButton, Qt.LeftButton, mods)
    send_mouse(w, QEvent.MouseButtonRelease, p, Qt.LeftButton, Qt.NoButton, mods)


def key(w, k, mods=Qt.NoModifier):
    QApplication.sendEvent(w.canvas, QKeyEvent(QEvent.KeyPress, k, mods))


def stroke_ref(points, diameter) -> np.ndarray:
    out = np.zeros((H, W), bool)
    for a, b in zip(points, points[1:] or points):
        out |= brute_capsule(a, b, diameter / 2, W, H)
    return out


def set_size(w, d):
    w.findChild(QSpinBox, "brushSize").setValue(d)


def test_brush_stroke_paints_exactly_the_disc_path(win):
    inst = win.doc.current.instances[0]  # the ring (made by a human)
    before = full(inst)
    win.doc.select(inst)
    act(win, "actionBrush").trigger()
    set_size(win, 7)
    got = drag(win, [(20, 8), (45, 12), (60, 40), (61, 41)])
    assert np.array_equal(full(inst), before | stroke_ref(got, 7))
    assert inst.bbox == M.bbox_of(*M.tight_crop(full(inst))) and inst.area == full(inst).sum()
    assert win.doc.current.status == "in_progress" and win.doc.dirty
    win.doc.undo_stack.undo()
    assert np.array_equal(full(inst), before) and not inst.edited  # original segmentation back
    win.doc.undo_stack.redo()
    assert np.array_equal(full(inst), before | stroke_ref(got, 7))


def test_eraser_and_shift_brush_erase_exactly(win):
    inst = win.doc.current.instances[0]
    before = full(inst)
    win.doc.select(inst)
    act(win, "actionEraser").trigger()
    set_size(win, 5)
    got = drag(win, [(10, 30), (50, 30)])
    after_eraser = before & ~stroke_ref(got, 5)
    assert np.array_equal(full(inst), after_eraser)
    act(win, "actionBrush").trigger()
    got2 = drag(win, [(30, 10), (30, 50)], Qt.ShiftModifier)
    assert np.array_equal(full(inst), after_eraser & ~stroke_ref(got2, 5))
    win.doc.undo_stack.undo()
    win.doc.undo_stack.undo()
    assert np.array_equal(full(inst), before)


def test_model_instance_becomes_edited(qtbot, win):
    win.doc.set_row(1)
    qtbot.waitUntil(lambda: win.canvas.image_id == win.doc.current.id, timeout=10_000)
    win.canvas.setTransform(QTransform())
    win.canvas.centerOn(W / 2, H / 2)
    inst = win.doc.current.instances[0]
    assert inst.source == "model"
    win.doc.select(inst)
    act(win, "actionBrush").trigger()
    drag(win, [(10, 50), (12, 52)])
    assert inst.source == "edited"
    win.doc.undo_stack.undo()
    assert inst.source == "model"


def test_polygon_add_subtract_backspace_escape(win):
    inst = win.doc.current.instances[1]  # two squares
    before = full(inst)
    win.doc.select(inst)
    act(win, "actionPolygon").trigger()
    pts = [(60, 5), (75, 8), (70, 30)]
    for p in pts + [(2, 60)]:
        click(win, p)
    key(win, Qt.Key_Backspace)  # drops (2, 60)
    key(win, Qt.Key_Return)
    added = before | brute_polygon(pts, W, H)
    assert np.array_equal(full(inst), added)
    hole = [(8, 7), (15, 7), (15, 12), (8, 12)]
    for p in hole:
        click(win, p)
    key(win, Qt.Key_Return, Qt.ShiftModifier)
    assert np.array_equal(full(inst), added & ~brute_polygon(hole, W, H))
    for p in [(1, 1), (5, 1), (3, 5)]:
        click(win, p)
    key(win, Qt.Key_Escape)
    assert np.array_equal(full(inst), added & ~brute_polygon(hole, W, H))
    assert win.doc.undo_stack.count() == 2
    win.doc.undo_stack.undo()
    win.doc.undo_stack.undo()
    assert np.array_equal(full(inst), before)


def test_new_instance_by_stroke_then_undo(win):
    n = len(win.doc.current.instances)
    act(win, "actionNewInstance").trigger()
    set_size(win, 9)
    got = drag(win, [(60, 50), (70, 55)])
    assert len(win.doc.current.instances) == n + 1
    new = win.doc.current.instances[-1]
    assert new.source == "human" and new.id == 24 and new.category_id == 0
    assert np.array_equal(full(new), stroke_ref(got, 9))
    assert win.doc.selected is new
    win.doc.undo_stack.undo()
    assert len(win.doc.current.instances) == n
    win.doc.undo_stack.redo()
    assert np.array_equal(full(win.doc.current.instances[-1]), stroke_ref(got, 9))


def test_delete_relabel_keys_and_undo(win):
    rec = win.doc.current
    inst = rec.instances[1]
    win.doc.select(inst)
    win.canvas.setFocus()
    act(win, "actionClass3").trigger()  # key 3: the third class
    assert inst.category_id == 7
    win.toolbox.picker.picked.emit(0)  # the class picker
    assert inst.category_id == 0
    act(win, "actionDeleteInstance").trigger()
    assert inst not in rec.instances
    win.doc.undo_stack.undo()
    assert rec.instances[1] is inst and inst.id == 9
    win.doc.undo_stack.undo()
    win.doc.undo_stack.undo()
    assert inst.category_id == 3


def test_merge_fill_holes_remove_islands(win):
    rec = win.doc.current
    ring_, squares = rec.instances[0], rec.instances[1]
    a, b = full(ring_), full(squares)
    act(win, "actionSelectTool").trigger()
    click(win, (30, 14))  # on the ring
    click(win, (12, 8), Qt.ControlModifier)  # Ctrl+click adds a square
    assert win.doc.selection == [ring_, squares]
    act(win, "actionMerge").trigger()
    assert squares not in rec.instances and np.array_equal(full(ring_), a | b)
    win.doc.undo_stack.undo()
    assert rec.instances[1] is squares and np.array_equal(full(ring_), a)
    win.doc.select(ring_)
    act(win, "actionFillHoles").trigger()
    from model.editing.pixel_ops import fill_holes
    assert np.array_equal(full(ring_), fill_holes(a)) and not M.has_hole(ring_.mask)
    win.doc.undo_stack.undo()
    assert M.has_hole(ring_.mask)
    win.doc.select(squares)
    win.toolbox.drawing.remove_islands(200)  # the squares are 150 and 225 px
    assert full(squares).sum() == 225
    win.doc.undo_stack.undo()
    assert np.array_equal(full(squares), b)


def test_erase_to_nothing_removes_in_one_step(win):
    rec = win.doc.current
    squares = rec.instances[1]
    win.doc.select(squares)
    act(win, "actionEraser").trigger()
    set_size(win, 60)
    drag(win, [(10, 10), (50, 40)])
    assert squares not in rec.instances
    win.doc.undo_stack.undo()
    assert rec.instances[1] is squares and full(squares).sum() == 375


def test_unoccupied_mode_never_steals_pixels(win):
    rec = win.doc.current
    ring_, squares = rec.instances[0], rec.instances[1]
    ring_px = full(ring_)
    win.doc.select(squares)
    act(win, "actionUnoccupied").setChecked(True)
    act(win, "actionBrush").trigger()
    set_size(win, 9)
    got = drag(win, [(15, 30), (45, 30)])
    assert np.array_equal(full(ring_), ring_px)
    expected = (stroke_ref(got, 9) & ~ring_px & ~full(rec.instances[2])) | M.paste(
        *M.decode_segmentation([[5, 5, 20, 5, 20, 15, 5, 15], [40, 30, 55, 30, 55, 45, 40, 45]], H, W), H, W)
    assert np.array_equal(full(squares), expected)


def test_hole_drawn_by_user_survives_save(win, tmp_path):
    act(win, "actionNewInstance").trigger()
    act(win, "actionPolygon").trigger()
    for p in [(55, 35), (78, 35), (78, 62), (55, 62)]:
        click(win, p)
    key(win, Qt.Key_Return)
    new = win.doc.selected
    for p in [(62, 42), (70, 42), (70, 54), (62, 54)]:
        click(win, p)
    key(win, Qt.Key_Return, Qt.ShiftModifier)
    assert M.has_hole(new.mask)
    out = tmp_path / "saved.json"
    win.files.ask_save_path = lambda default: out
    assert win.save(ask=True)
    back = load_dataset(out, tmp_path)
    for shown, saved in zip(win.doc.dataset.images, back.images):
        assert [i.id for i in shown.instances] == [i.id for i in saved.instances]
        for a, b in zip(shown.instances, saved.instances):
            assert np.array_equal(a.full_mask(H, W), b.full_mask(H, W))
    assert M.has_hole(back.images[0].instances[-1].mask)


def test_long_random_edit_sequence_then_full_undo_restores_bytes(win, tmp_path):
    first = tmp_path / "first.json"
    save_dataset(win.doc.data_view(), first)
    rng = random.Random(7)
    tools = ["actionBrush", "actionEraser"]
    for step in range(40):
        rec = win.doc.current
        kind = rng.random()
        if rec.instances and rng.random() < 0.7:
            win.doc.select(rng.choice(rec.instances))
        else:
            win.doc.select(None)
        if kind < 0.55:
            act(win, rng.choice(tools)).trigger()
            set_size(win, rng.randint(1, 15))
            pts = [(rng.uniform(0, W), rng.uniform(0, H)) for _ in range(rng.randint(1, 6))]
            drag(win, pts, Qt.ShiftModifier if rng.random() < 0.2 else Qt.NoModifier)
        elif kind < 0.7:
            act(win, "actionPolygon").trigger()
            for _ in range(rng.randint(3, 6)):
                click(win, (rng.uniform(0, W), rng.uniform(0, H)))
            key(win, Qt.Key_Return, Qt.ShiftModifier if rng.random() < 0.3 else Qt.NoModifier)
        elif kind < 0.8 and win.doc.selected is not None:
            act(win, "actionDeleteInstance").trigger()
        elif kind < 0.9 and win.doc.selected is not None:
            win.toolbox.class_key(rng.randint(1, 3))
        elif win.doc.selected is not None:
            act(win, "actionFillHoles").trigger()
    assert win.doc.undo_stack.count() > 20
    while win.doc.undo_stack.canUndo():
        win.doc.undo_stack.undo()
    again = tmp_path / "again.json"
    save_dataset(win.doc.data_view(), again)
    assert again.read_bytes() == first.read_bytes()
    assert not win.doc.dirty


def test_brush_size_keys_spinbox_and_ring(win):
    spin = win.findChild(QSpinBox, "brushSize")
    spin.setValue(20)
    act(win, "actionBrushLarger").trigger()
    assert spin.value() == 25 and win.toolbox.drawing.brush_size == 25
    act(win, "actionBrushSmaller").trigger()
    assert spin.value() == 20
    act(win, "actionBrush").trigger()
    send_mouse(win, QEvent.MouseMove, (40, 30), Qt.NoButton, Qt.NoButton)
    ring = win.toolbox.tools["actionBrush"].ring
    assert ring.isVisible() and ring.rect().width() == 20


def test_undo_memory_budget_drops_oldest(win):
    budget = win.budget
    budget.budget = 1  # bytes: every step but the newest is dropped
    inst = win.doc.current.instances[0]
    win.doc.select(inst)
    act(win, "actionBrush").trigger()
    for y in (10, 20, 30):
        drag(win, [(5, y), (70, y)])
    stack = win.doc.undo_stack
    assert budget.floor == 2
    stack.undo()  # the newest step is always kept
    assert stack.index() == 2
    stack.setIndex(0)  # older steps are gone: the index stops at the floor
    assert stack.index() == 2
    assert "dropped" in stack.command(0).text()


def test_category_manager_add_rename_recolour_delete(qtbot, win):
    from app.panels.categories import CategoryManager
    mgr = CategoryManager(win.doc, win)
    cat = mgr.add("tree", "#00ff00")
    assert win.doc.dataset.categories[-1] is cat and cat.id == 8
    mgr.change(cat, "rename", name="oak")
    assert win.doc.dataset.categories[-1].name == "oak"
    ring_cat = win.doc.dataset.categories[0]
    assert not mgr.delete(ring_cat)  # in use: refused without a target
    assert mgr.delete(ring_cat, reassign_to=3)
    assert all(i.category_id != 0 for _, i in win.doc.dataset.instances())
    assert mgr.table.rowCount() == 3
    win.doc.undo_stack.undo()
    assert win.doc.dataset.categories[0].id == 0
    assert win.doc.current.instances[0].category_id == 0
    win.doc.undo_stack.undo()
    win.doc.undo_stack.undo()
    assert [c.name for c in win.doc.dataset.categories] == ["ring", "box", "crowd"]
    out = json.dumps([c.to_json() for c in win.doc.dataset.categories])
    assert "oak" not in out


def test_history_view(win):
    act(win, "actionHistory").setChecked(True)
    assert win.history_dock.isVisible()
    win.doc.select(win.doc.current.instances[0])
    act(win, "actionAccept").trigger()
    from PySide6.QtWidgets import QUndoView
    view = win.findChild(QUndoView, "historyView")
    assert view.stack().count() == 1


def test_ctrl_wheel_resizes_brush_and_plain_wheel_zooms(win):
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent
    act(win, "actionBrush").trigger()
    set_size(win, 20)
    vp = win.canvas.viewport()

    def wheel(mods):
        pos = QPointF(vp.width() / 2, vp.height() / 2)
        ev = QWheelEvent(pos, QPointF(vp.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, 120),
                         Qt.NoButton, mods, Qt.NoScrollPhase, False)
        QApplication.sendEvent(vp, ev)
    zoom = win.canvas.zoom()
    wheel(Qt.ControlModifier)
    assert win.toolbox.drawing.brush_size == 23 and win.canvas.zoom() == zoom
    wheel(Qt.NoModifier)
    assert win.toolbox.drawing.brush_size == 23 and win.canvas.zoom() > zoom


def test_unoccupied_mode_applies_to_polygons(win):
    rec = win.doc.current
    ring_, squares = rec.instances[0], rec.instances[1]
    ring_px, sq_px = full(ring_), full(squares)
    win.doc.select(squares)
    act(win, "actionUnoccupied").setChecked(True)
    act(win, "actionPolygon").trigger()
    pts = [(2, 20), (60, 20), (60, 40), (2, 40)]
    for p in pts:
        click(win, p)
    key(win, Qt.Key_Return)
    assert np.array_equal(full(ring_), ring_px)
    others = ring_px | full(rec.instances[2])
    assert np.array_equal(full(squares), sq_px | (brute_polygon(pts, W, H) & ~others))
