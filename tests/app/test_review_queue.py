"""The review queue (issue 20, section 3): each prediction carries its image's attention;
the image list, ordered by it, lists the images the model is least sure of first, and
D and U walk that order, with real key events; the attention survives the cache."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
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
