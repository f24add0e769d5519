"""The review queue (issue 20, section 3): each prediction carries its image's attention;
the image list, ordered by it, lists the images the model is least sure of first, and
D and U walk that order, with real key events; the attention survives the cache."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from model.net.predictor import Predictions
from tests.app.conftest import FakePredictor, open_and_show, wait_model
from tests.helpers import write_image

# the mask head's confidence the fake reports per image: attention is 1 - it
CONFIDENCE = {"a.png": 0.9, "b.png": 0.2, "c.png": 0.6, "d.png": 0.4, "e.png": 0.8}


class UnsureFake(FakePredictor):
    """FakePredictor's squares, with a mask confidence read from the image's brightness."""

    def predict(self, img, cancel=None):
        out = super().predict(img, cancel)
        conf = next(c for c in CONFIDENCE.values() if abs(img[0, 0, 0] - c * 200) < 1)
        return Predictions(out, [conf] * len(out))


def folder(tmp_path):
    d = tmp_path / "queue"
    d.mkdir()
    for k, (name, conf) in enumerate(CONFIDENCE.items()):
        write_image(d / name, 64, 64, seed=k)
        from model.data.images import read_image
        from PIL import Image
        img = read_image(d / name).copy()
        img[0, 0] = int(round(conf * 200))  # the fake's key
        Image.fromarray(img).save(d / name)
    return d


def listed_names(w) -> list[str]:
    p = w.image_panel
    return [w.doc.dataset.images[p.proxy.mapToSource(p.proxy.index(r, 0)).row()].file_name
            for r in range(p.proxy.rowCount())]


def predict_all(qtbot, w) -> None:
    with qtbot.waitSignal(w.inference.batchRunning, timeout=30_000,
                          check_params_cb=lambda running: not running):
        w.actions_["actionPredictAllImages"].trigger()
    qtbot.waitUntil(lambda: all(r.attention is not None for r in w.doc.dataset.images),
                    timeout=30_000)


def test_u_follows_the_attention_queue(qtbot, make_window, tmp_path, fake):
    w = make_window(factory=lambda **k: UnsureFake(fake, **k))
    w.actions_["actionAutoPredict"].setChecked(False)
    wait_model(qtbot, w)
    open_and_show(qtbot, w, folder(tmp_path))
    predict_all(qtbot, w)
    got = {r.file_name: r.attention for r in w.doc.dataset.images}
    assert got == {n: round(1 - c, 4) for n, c in CONFIDENCE.items()}
    assert listed_names(w) == ["a.png", "b.png", "c.png", "d.png", "e.png"]  # file order
    w.image_panel.order_combo.setCurrentIndex(w.image_panel.order_combo.findData("attention"))
    queue = ["b.png", "d.png", "c.png", "e.png", "a.png"]
    assert listed_names(w) == queue
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)
    w.canvas.setFocus(Qt.OtherFocusReason)
    qtbot.waitUntil(w.canvas.hasFocus, timeout=5000)
    w.doc.set_row([r.file_name for r in w.doc.dataset.images].index("b.png"))
    QTest.keyClick(w.canvas, Qt.Key_U)  # the next in the queue, not the next file (c)
    assert w.doc.current.file_name == "d.png"
    QTest.keyClick(w.canvas, Qt.Key_M)  # d done: M jumps on along the queue
    assert w.doc.current.file_name == "c.png"
    QTest.keyClick(w.canvas, Qt.Key_D)
    assert w.doc.current.file_name == "e.png"
    QTest.keyClick(w.canvas, Qt.Key_U)
    assert w.doc.current.file_name == "a.png"
    QTest.keyClick(w.canvas, Qt.Key_U)  # wraps to the top of the queue, skipping d (done)
    assert w.doc.current.file_name == "b.png"
    assert "0.80 · " in w.image_panel.model.data(
        w.image_panel.model.index(1), Qt.UserRole + 2)  # b's detail shows its attention
    w.image_panel.order_combo.setCurrentIndex(0)
    assert listed_names(w) == ["a.png", "b.png", "c.png", "d.png", "e.png"]


def test_the_attention_comes_back_from_the_prediction_cache(qtbot, make_window, tmp_path,
                                                            fake):
    d = folder(tmp_path)
    w = make_window(factory=lambda **k: UnsureFake(fake, **k))
    w.actions_["actionAutoPredict"].setChecked(False)
    wait_model(qtbot, w)
    open_and_show(qtbot, w, d)
    predict_all(qtbot, w)
    w.session.write_predictions(force=True)
    w.session.writer.wait()
    w2 = make_window(factory=lambda **k: UnsureFake(fake, **k))
    w2.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w2, d)
    assert {r.file_name: r.attention for r in w2.doc.dataset.images} == \
        {n: round(1 - c, 4) for n, c in CONFIDENCE.items()}
    np.testing.assert_equal(len(w2.doc.dataset.images), 5)


def test_the_image_list_shows_the_queue_row_by_row(qtbot, qtmodeltester, qtlog):
    """The view's model follows every change of the review queue (model/editing/queue.py)
    as Qt's model tester checks it: attention arriving, images marked done under a filter,
    another image shown, a new filter, another dataset; the highlighted row stays on the
    image shown while rows move around it."""
    from app.document.document import Document
    from app.panels.image_list import ImageListPanel
    from model.data.annotations import Dataset, ImageRecord
    from model.editing.actions import status_edit

    doc = Document()
    panel = ImageListPanel(doc)
    qtbot.addWidget(panel)
    panel.rowActivated.connect(doc.set_row)
    panel.noneListed.connect(doc.show_none)
    panel.show()
    qtmodeltester.check(panel.proxy)
    doc.set_dataset(Dataset([], [ImageRecord(k + 1, f"img{k:02d}.png", 64, 64)
                                 for k in range(20)]))
    p = panel.proxy

    def shown() -> list[int]:
        return [p.mapToSource(p.index(r, 0)).row() for r in range(p.rowCount())]

    def highlighted() -> int:
        idx = panel.view.currentIndex()
        return p.mapToSource(idx).row() if idx.isValid() else -1

    def pinned_indexes():
        """A persistent index on every listed row, as a view's selection holds them."""
        return [(QPersistentModelIndex(p.index(r, 0)), row) for r, row in enumerate(shown())]

    def still_right(held) -> None:
        """Each still points at its image, or is invalid when its image left the list."""
        for idx, row in held:
            assert (p.mapToSource(QModelIndex(idx)).row() == row) if idx.isValid() \
                else row not in shown()

    panel.set_order("attention")
    panel.state_combo.setCurrentIndex(panel.state_combo.findData("unreviewed"))
    doc.set_row(7)
    for k, rec in enumerate(doc.dataset.images):  # predictions arrive, one by one
        held = pinned_indexes()
        doc.apply_predictions(rec, [], [], "m", attention=round((k * 7 % 20) / 20, 2))
        assert shown() == doc.queue.visible() and highlighted() == 7
        still_right(held)
    assert shown() == sorted(range(20), key=lambda r: -doc.dataset.images[r].attention)
    for row in (7, 3, 12):  # marked done: the image shown stays, the others leave
        held = pinned_indexes()
        doc.push(status_edit(doc.dataset.images[row], True, []))
        assert shown() == doc.queue.visible() and highlighted() == 7
        still_right(held)
    assert 7 in shown() and 3 not in shown() and 12 not in shown()
    held = pinned_indexes()
    doc.set_row(3)  # a done image shown (an undo does that): listed while shown
    assert 3 in shown() and 7 not in shown() and highlighted() == 3
    still_right(held)
    doc.set_row(0)  # another image shown: the done one leaves
    assert 3 not in shown() and highlighted() == 0 and shown() == doc.queue.visible()
    held = pinned_indexes()
    panel.filter_edit.setText("img1")
    assert shown() == doc.queue.visible() and set(shown()) == set(range(10, 20)) - {12}
    still_right(held)
    assert highlighted() == doc.row == shown()[0]
    doc.set_dataset(Dataset([], [ImageRecord(1, "x.png", 64, 64)]))
    assert shown() == [0] and panel.filter_edit.text() == "" and highlighted() == 0
    assert not [r for r in qtlog.records if "FAIL" in r.message]
