"""Effort per model round in the window (issue 20, section 4), driven by real key and
mouse events: the actions recorded for accept (A), reject (R), a relabel (2), a brush
stroke and a box are what model/effort/action_costs.py counts for those gestures; undo takes
them back; the Rounds view shows them; saving writes `.maskloop/` and `main.py report`
prints the same table."""
from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QTransform
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from model.cli.entry import main
from model.data.coco import load_dataset
from model.effort.action_costs import ACCEPT, BOX, REJECT, REJECT_ALL, RELABEL, STROKE, Tally
from model.effort.store import effort_file
from tests.app.conftest import open_and_show, wait_model
from tests.helpers import write_image

H, W = 96, 128
MODEL = "fake:fake"


def coco(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    write_image(d / "img0.png", H, W, seed=0)
    path = d / "annotations.json"
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "img0.png", "width": W, "height": H}],
        "annotations": [], "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}))
    return path


def send(w, kind, p, button, buttons):
    vp = w.canvas.viewport()
    local = w.canvas.mapFromScene(QPointF(*p))
    QApplication.sendEvent(vp, QMouseEvent(kind, QPointF(local), QPointF(vp.mapToGlobal(local)),
                                           button, buttons, Qt.NoModifier))


def drag(w, a, b):
    send(w, QEvent.MouseButtonPress, a, Qt.LeftButton, Qt.LeftButton)
    send(w, QEvent.MouseMove, ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2), Qt.NoButton, Qt.LeftButton)
    send(w, QEvent.MouseMove, b, Qt.NoButton, Qt.LeftButton)
    send(w, QEvent.MouseButtonRelease, b, Qt.LeftButton, Qt.NoButton)


def press(w, k, mods=Qt.NoModifier):
    QTest.keyClick(w.canvas, k, mods)


def gestures(w) -> dict:
    img = w.doc.effort.images.get(1)
    return {} if img is None else {k: n for k, n in img.actions.get(MODEL, Tally())
                                   .gestures.items() if n}


@pytest.fixture
def win(qtbot, make_window, tmp_path):
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    wait_model(qtbot, w)
    w.path = coco(tmp_path)
    open_and_show(qtbot, w, w.path)
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)
    w.canvas.setTransform(QTransform())  # 1:1: scene pixels are viewport pixels
    w.canvas.centerOn(W / 2, H / 2)
    w.canvas.setFocus(Qt.OtherFocusReason)
    with qtbot.waitSignal(w.inference.predictionApplied, timeout=30_000):
        press(w, Qt.Key_P, Qt.ControlModifier)
    return w


def review_session(qtbot, w):
    """A, A (accept the first), R (reject the next), click + 2 (relabel), B + a stroke
    on it, X + a box in an empty corner. Returns the accepted-then-edited instance."""
    rec = w.doc.current
    assert [i.score > 0.5 for i in rec.instances].count(True) == 2  # two shown
    press(w, Qt.Key_A)  # nothing selected: goes to the first to review (no decision)
    assert gestures(w) == {}
    first = w.doc.selected
    press(w, Qt.Key_A)
    assert first.review == "accepted" and gestures(w) == {ACCEPT: 1}
    second = w.doc.selected
    press(w, Qt.Key_R)
    assert second.review == "rejected" and gestures(w) == {ACCEPT: 1, REJECT: 1}
    x, y = first.offset
    send(w, QEvent.MouseButtonPress, (x + 5, y + 5), Qt.LeftButton, Qt.LeftButton)
    send(w, QEvent.MouseButtonRelease, (x + 5, y + 5), Qt.LeftButton, Qt.NoButton)
    assert w.doc.selected is first
    press(w, Qt.Key_2)
    assert first.category_id == 2
    press(w, Qt.Key_B)
    drag(w, (x + 2, y + first.mask.shape[0] + 2), (x + 20, y + first.mask.shape[0] + 2))
    assert first.source == "edited"
    press(w, Qt.Key_X)
    with qtbot.waitSignal(w.toolbox.assist.answered, timeout=30_000):
        drag(w, (4, 60), (30, 90))
    return first


def test_recorded_actions_are_the_annotators_scheme_and_undo_takes_them_back(qtbot, win):
    w = win
    first = review_session(qtbot, w)
    expected = {ACCEPT: 1, REJECT: 1, RELABEL: 1, STROKE: 1, BOX: 1}
    assert gestures(w) == expected
    tally = w.doc.effort.images[1].actions[MODEL]
    assert tally.actions == 6  # model/effort/action_costs.py: a box drag is 2, the others 1
    (entry,) = w.doc.effort.outcomes(w.doc.dataset)
    outcomes = sorted(i["outcome"] for i in entry["instances"])
    assert outcomes == ["drawn", "edited", "rejected"]
    edited = next(i for i in entry["instances"] if i["outcome"] == "edited")
    assert edited["id"] == first.id and 0.5 < edited["iou"] < 1.0
    press(w, Qt.Key_Z, Qt.ControlModifier)  # the box
    press(w, Qt.Key_Z, Qt.ControlModifier)  # the stroke
    assert gestures(w) == {ACCEPT: 1, REJECT: 1, RELABEL: 1}
    press(w, Qt.Key_Z, Qt.ControlModifier)  # the relabel
    press(w, Qt.Key_Z, Qt.ControlModifier)  # the reject
    press(w, Qt.Key_Z, Qt.ControlModifier)  # the accept
    assert gestures(w) == {} and w.doc.effort.outcomes(w.doc.dataset) == []
    for _ in range(5):
        press(w, Qt.Key_Y, Qt.ControlModifier)
    assert gestures(w) == expected


def test_shift_r_rejects_the_images_unreviewed_offers_as_one_gesture_and_one_undo(qtbot, win):
    # issue 29: the simulated annotator's reject_all is a gesture the app has
    w = win
    rec = w.doc.current
    shown = [i for i in rec.instances if i.score > 0.5]
    low = [i for i in rec.instances if i.score <= 0.5]
    assert len(shown) == 2 and len(low) == 1  # the 0.3 one is under the threshold
    press(w, Qt.Key_A)
    press(w, Qt.Key_A)  # the first accepted: reject-all leaves a decision alone
    assert shown[0].review == "accepted" and gestures(w) == {ACCEPT: 1}
    press(w, Qt.Key_R, Qt.ShiftModifier)
    assert shown[1].review == "rejected" and low[0].review == "unreviewed"
    assert shown[0].review == "accepted" and w.doc.selected is None
    assert gestures(w) == {ACCEPT: 1, REJECT_ALL: 1}
    assert w.doc.effort.images[1].actions[MODEL].actions == 2
    (entry,) = w.doc.effort.outcomes(w.doc.dataset)
    assert sorted(i["outcome"] for i in entry["instances"]) == ["accepted", "rejected"]
    press(w, Qt.Key_Z, Qt.ControlModifier)  # one undo step takes all of it back
    assert shown[1].review == "unreviewed" and shown[0].review == "accepted"
    assert gestures(w) == {ACCEPT: 1}
    press(w, Qt.Key_R, Qt.ShiftModifier)
    press(w, Qt.Key_R, Qt.ShiftModifier)  # nothing left: no step, no gesture
    assert gestures(w) == {ACCEPT: 1, REJECT_ALL: 1}
    assert w.doc.undo_stack.count() == 2


def test_the_rounds_view_and_report_show_the_saved_session(qtbot, win, capsys):
    w = win
    review_session(qtbot, w)
    w.actions_["actionRounds"].setChecked(True)
    qtbot.waitUntil(w.rounds_panel.isVisible, timeout=5000)
    table = w.rounds_panel.table
    assert table.rowCount() == 1
    row = [table.item(0, c).text() for c in range(table.columnCount())]
    assert row == [MODEL, "1", "0", "1", row[4], "1", "1", "3", "6", "2.00"]
    assert 0.5 < float(row[4]) < 1.0
    xs, ys = w.rounds_panel.curve.getData()
    assert list(ys) == [2.0]
    press(w, Qt.Key_Z, Qt.ControlModifier)  # the box: the view follows the history
    qtbot.waitUntil(lambda: table.item(0, 8).text() == "4", timeout=5000)
    press(w, Qt.Key_Y, Qt.ControlModifier)
    press(w, Qt.Key_S, Qt.ControlModifier)
    qtbot.waitUntil(lambda: not w.doc.dirty, timeout=10_000)
    saved = json.loads(effort_file(w.path).read_text())
    assert "effort" not in w.path.read_text()  # kept in .maskloop/, not in the COCO file
    assert [e["file_name"] for e in saved["images"]] == ["img0.png"]
    assert load_dataset(w.path).num_instances() == 3  # edited, rejected, drawn
    assert main(["report", str(w.path), "--json"]) == 0
    (r,) = json.loads(capsys.readouterr().out)["rounds"]
    assert (r["version"], r["images"], r["edited"], r["rejected"], r["drawn"], r["actions"]) \
        == (MODEL, 1, 1, 1, 1, 6)
    assert r["edited_mean_iou"] == pytest.approx(float(row[4]), abs=1e-3)
    assert main(["report", str(w.path)]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[-2:] == ["6", "2.00"]


def test_a_reopened_session_goes_on_from_the_saved_record(qtbot, win, make_window):
    w = win
    review_session(qtbot, w)
    press(w, Qt.Key_S, Qt.ControlModifier)
    qtbot.waitUntil(lambda: not w.doc.dirty, timeout=10_000)
    w2 = make_window()
    w2.actions_["actionAutoPredict"].setChecked(False)
    messages = []
    w2.session.message.connect(messages.append)
    open_and_show(qtbot, w2, w.path)
    assert dict(w2.doc.effort.images[1].actions[MODEL].gestures) == \
        {ACCEPT: 1, REJECT: 1, RELABEL: 1, STROKE: 1, BOX: 1}
    assert not w2.doc.undo_stack.canUndo()  # nothing this session can undo
    effort_file(w.path).write_text("[")
    open_and_show(qtbot, w2, w.path)
    assert any(m.startswith("warning: ") and str(effort_file(w.path)) in m for m in messages)
    assert w2.doc.effort.images == {}  # a bad record is ignored, never fatal
    assert len(w2.doc.dataset.images) == 1
