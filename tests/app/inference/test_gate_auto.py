"""The offer gate in the window (issue 29): Display's Auto mode shows the model
version's offers at the threshold the person's own decisions say pays, hides them
when none does (one status line, one-click Show anyway), and the box tool asks the
model only once its masks from boxes beat the classical route on done images. Driven
with the tests' fake predictor (its predictions arrive through the worker's signal),
the real M and R keys and real clicks."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QTransform
from PySide6.QtWidgets import QCheckBox, QLabel, QPushButton, QSlider

from model.net.assist import BoxMask, box_fill, ellipse
from tests.app.conftest import FakePredictor, open_and_show, wait_model
from tests.app.canvas.test_assist_tools import act, drag
from tests.helpers import write_image

H, W = 96, 128


def images(tmp_path, n):
    d = tmp_path / "imgs"
    d.mkdir()
    for k in range(n):
        write_image(d / f"img{k:02d}.png", H, W, seed=k)
    return d


def press(qtbot, w, key) -> None:
    qtbot.keyClick(w.canvas, key)


def predicted(qtbot, w):
    """The current image once the worker's predictions reached it."""
    rec = w.doc.current
    qtbot.waitUntil(lambda: len(rec.instances) == 3, timeout=30_000)
    return rec


def click_auto(qtbot, w) -> QCheckBox:
    box = w.display.findChild(QCheckBox, "autoThreshold")
    w.display.parentWidget().raise_()
    qtbot.mouseClick(box, Qt.LeftButton, pos=QPoint(4, box.height() // 2))
    return box


def gate_line(w) -> str:
    return w.gate_status.findChild(QLabel, "gateLine").text()


def test_auto_hides_a_useless_versions_offers_and_show_anyway_brings_them_back(
        qtbot, make_window, tmp_path):
    w = make_window()
    wait_model(qtbot, w)
    auto = click_auto(qtbot, w)
    assert auto.isChecked() and w.doc.auto
    open_and_show(qtbot, w, images(tmp_path, 11))
    gate = w.inference.gate
    qtbot.waitUntil(lambda: w.doc.gate is not None, timeout=10_000)
    assert w.doc.threshold == 0.7
    assert gate_line(w) == "Auto 0.70, the default until 30 judged offers (0 so far; no " \
                           "estimate yet)"
    for k in range(10):
        rec = predicted(qtbot, w)
        assert w.instance_table.rowCount() == 1  # at the default 0.7 only the 0.9 square
        w.canvas.setFocus()
        press(qtbot, w, Qt.Key_R)  # to the offer
        press(qtbot, w, Qt.Key_R)  # rejected: it was wrong
        with qtbot.waitSignal(gate.fitted, timeout=30_000):
            press(qtbot, w, Qt.Key_M)  # done: its other two stay set aside
        assert rec.status == "done" and w.doc.gate.count == 3 * (k + 1)
        if k == 0:  # one offer shown at 0.7, a reject
            assert gate_line(w) == "Auto 0.70, the default until 30 judged offers (3 so " \
                                   "far; -1.6 s an offer)"
    d = w.doc.gate
    assert d.fitted and d.hidden and d.count == 30
    assert gate_line(w) == "Offers hidden: none pays (30 judged offers; at best -1.6 s an offer)"
    assert w.gate_status.findChild(QLabel, "gateLine").toolTip().startswith(
        "Offers hidden: no threshold pays on 30 judged offers")
    show = w.gate_status.findChild(QPushButton, "showAnyway")
    assert show.isVisible()
    rec = predicted(qtbot, w)  # the eleventh image: predicted, nothing offered
    assert rec.status == "unreviewed" and w.instance_table.rowCount() == 0
    assert w.doc.drawn(rec) == [] and w.display.threshold_label.text() == "hidden"
    qtbot.mouseClick(show, Qt.LeftButton)
    assert w.doc.threshold == 0.5  # the slider's: 0.9 and 0.6 shown
    assert w.instance_table.rowCount() == 2 and not show.isVisible()
    assert gate_line(w) == "Offers shown anyway at 0.50: none pays (30 judged offers)"
    # the slider is the person's own threshold: moving it turns Auto off
    w.findChild(QSlider, "scoreThreshold").setValue(20)
    assert not auto.isChecked() and not w.doc.auto and w.doc.threshold == 0.2
    assert w.instance_table.rowCount() == 3 and not w.gate_status.isVisible()
    press(qtbot, w, Qt.Key_Z)  # nothing about the threshold is an undo step
    assert w.doc.undo_stack.index() == w.doc.undo_stack.count()


def test_undoing_a_done_image_takes_its_records_out_of_the_fit(qtbot, make_window, tmp_path):
    w = make_window()
    wait_model(qtbot, w)
    click_auto(qtbot, w)
    open_and_show(qtbot, w, images(tmp_path, 3))
    gate = w.inference.gate
    predicted(qtbot, w)
    w.canvas.setFocus()
    with qtbot.waitSignal(gate.fitted, timeout=30_000):
        press(qtbot, w, Qt.Key_M)  # the 0.9 square accepted, two set aside
    assert w.doc.gate.count == 3 and w.doc.gate.per_offer_seconds > 0
    with qtbot.waitSignal(gate.fitted, timeout=30_000):
        act(w, "actionUndo").trigger()
    assert w.doc.gate.count == 0


class BoxPredictor(FakePredictor):
    """The fake, whose mask from a box is the box filled: exact on its own squares."""

    def assist_boxes(self, img, image_id, boxes, category_ids, cache):
        return [BoxMask(*box_fill(b, img.shape[1], img.shape[0]), c or 2, 0.8)
                for b, c in zip(boxes, category_ids)]


def test_the_box_tool_asks_the_model_once_it_beats_the_ellipse_on_done_images(
        qtbot, make_window, fake, tmp_path):
    w = make_window(factory=lambda **k: BoxPredictor(fake, **k))
    wait_model(qtbot, w)
    open_and_show(qtbot, w, images(tmp_path, 4))
    gate = w.inference.gate
    w.canvas.setTransform(QTransform())  # 1:1: viewport pixels are image pixels
    w.canvas.centerOn(W / 2, H / 2)
    box = (60, 40, 90, 80)

    def box_mask():
        act(w, "actionBoxToMask").trigger()
        with qtbot.waitSignal(w.toolbox.assist.answered, timeout=30_000):
            drag(w, box[:2], box[2:])
        return w.doc.selected

    predicted(qtbot, w)  # first: an image edited before its auto-prediction lands skips it
    first = box_mask()  # no image done with this version: the classical route
    assert np.array_equal(first.mask, ellipse(box, W, H)[0])
    act(w, "actionUndo").trigger()
    for _ in range(3):  # at 0.5 the 0.9 and 0.6 squares are accepted: 6 objects
        predicted(qtbot, w)
        w.canvas.setFocus()
        with qtbot.waitSignal(gate.fitted, timeout=30_000):
            press(qtbot, w, Qt.Key_M)
    qtbot.waitUntil(gate.box_uses_model, timeout=30_000)  # scored on the inference thread
    s = gate.route_score()
    assert s.objects == 6 and s.mean_model == 1.0 and s.mean_classical < 0.85
    predicted(qtbot, w)
    w.canvas.setTransform(QTransform())
    w.canvas.centerOn(W / 2, H / 2)
    second = box_mask()
    assert second.mask.all() and second.mask.shape == (40, 30)  # the model's filled box
    names = {c.id: c.name for c in w.doc.dataset.categories}
    assert names[second.category_id] == "dog"  # and its class, adopted into the dataset


def test_a_versions_evaluation_on_done_images_it_did_not_train_on_feeds_its_gate(
        qtbot, make_window, fake, tmp_path):
    from model.data.synthetic import shapes_dataset

    class Trained(FakePredictor):
        trained_on = frozenset({"s0.png"})

    gt = shapes_dataset(tmp_path / "set", n=6, size=96)  # done, labelled without a model
    w = make_window(factory=lambda **k: Trained(fake, **k))
    wait_model(qtbot, w)
    click_auto(qtbot, w)
    open_and_show(qtbot, w, gt)
    qtbot.waitUntil(lambda: w.doc.gate is not None, timeout=10_000)
    assert w.doc.gate.count == 0  # no image was reviewed with this version's offers
    w.actions_["actionEvaluateDone"].trigger()
    # five images it did not train on, three predictions each, none on a disc or square
    qtbot.waitUntil(lambda: w.doc.gate.count == 15, timeout=30_000)
    assert w.doc.gate.version == "fake:fake" and w.doc.gate.per_offer_seconds < 0
