"""GUI test fixtures: an isolated QSettings file, a deterministic fake predictor, and a
guard that fails any test leaving a QThread running."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from app.inference.workers import running_threads
from model.data.annotations import Category, Instance
from model.errors import Cancelled
from tests.helpers import write_image


@pytest.fixture(autouse=True)
def no_thread_left_running(qapp):
    yield
    alive = running_threads()
    for t in alive:  # stop them so one leak does not poison the next tests
        t.quit()
        t.wait(10_000)
    assert not alive, f"test left QThreads running: {[t.objectName() for t in alive]}"


@pytest.fixture(autouse=True)
def no_modal_dialogs(monkeypatch):
    """A file or input dialog would block the offscreen test forever: fail instead.
    A test that expects one patches it itself."""
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    def refuse(*_a, **_k):
        raise AssertionError("a modal dialog was opened during a test")

    for cls, names in ((QFileDialog, ("getSaveFileName", "getOpenFileName",
                                      "getExistingDirectory")),
                       (QInputDialog, ("getInt", "getText", "getItem", "getDouble"))):
        for name in names:
            monkeypatch.setattr(cls, name, refuse)


class FakeConfig:
    """Shared knobs the test turns while the worker thread runs."""

    def __init__(self):
        self.delay = 0.0
        self.error: Exception | None = None
        self.calls = 0
        self.candidate_calls = 0
        self.lock = threading.Lock()
        self.started = threading.Event()


class FakePredictor:
    """Three square instances per image, scores 0.9 / 0.6 / 0.3, deterministic."""

    categories = [Category(1, "cat"), Category(2, "dog")]
    arch = "fake"
    trained_on: frozenset = frozenset()  # image files it learnt from (none: COCO-like)

    def __init__(self, config: FakeConfig, weights="fake", device="cpu", **_):
        if weights == "broken":
            raise RuntimeError("broken.pt: not a readable PyTorch weights file")
        self.config = config
        self.model_id = f"fake:{weights}"
        self.device = device

    def predict(self, img: np.ndarray, cancel: threading.Event | None = None):
        cfg = self.config
        with cfg.lock:
            cfg.calls += 1
            call = cfg.calls
        cfg.started.set()
        if cfg.delay and cancel is not None and cancel.wait(cfg.delay):
            raise Cancelled()
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        if cfg.error is not None:
            raise cfg.error
        h, w = img.shape[:2]
        out = []
        for k, (fx, fy, fs, score, cat) in enumerate([(0.1, 0.1, 0.3, 0.9, 1), (0.55, 0.55, 0.3, 0.6, 2),
                                                      (0.6, 0.1, 0.2, 0.3, 1)]):
            m = np.zeros((int(h * fs), int(w * fs)), bool)
            m[...] = True
            out.append(Instance(cat, m, (int(w * fx), int(h * fy)), score=score - call * 1e-4,
                                source="model", model=self.model_id))
        return out

    # the model-assist interface of model.net.predictor.Predictor: a disc inscribed in
    # each box; every square as a candidate; no class of the dataset is the model's own
    supports_assist = True

    def knows_class(self, category_id):
        return False

    def assist_boxes(self, img, image_id, boxes, category_ids, cache):
        from model.net.assist import BoxMask, ellipse
        out = []
        for box, cat in zip(boxes, category_ids):
            mask, offset = ellipse(box, img.shape[1], img.shape[0])
            out.append(BoxMask(mask, offset, cat if cat is not None else 2, 0.8))
        return out

    def assist_candidates(self, img, image_id, cache):
        with self.config.lock:
            self.config.candidate_calls += 1
        return self.predict(img) + [Instance(2, np.ones((10, 10), bool), (5, 5), score=0.02,
                                             source="model", model=self.model_id)]


@pytest.fixture
def fake():
    return FakeConfig()


@pytest.fixture
def settings(tmp_path):
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    s.setValue("autosave_seconds", 0)
    s.setValue("auto_threshold", False)  # the person's threshold; tests of Auto turn it on
    return s


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "imgs"
    d.mkdir()
    for k in range(4):
        write_image(d / f"img{k}.png", 96, 128, seed=k)
    return d


class Answers:
    """Stands in for Notifier.ask: answers by dialog title, records what was asked."""

    def __init__(self, defaults=None):
        self.by_title = {"Unsaved changes": "Discard"} | dict(defaults or {})
        self.asked: list[str] = []
        self.texts: list[str] = []

    def __call__(self, title, text, buttons, default=None):
        self.asked.append(title)
        self.texts.append(text)
        return self.by_title.get(title)


@pytest.fixture
def make_window(qtbot, settings, fake):
    from app.window.main_window import MainWindow
    made = []

    def make(weights="fake", device="cpu", factory=None, answers=None, **kw):
        w = MainWindow(settings=settings, weights=weights, device=device,
                       factory=factory or (lambda **k: FakePredictor(fake, **k)), **kw)
        w.notifier.ask = answers or Answers()
        qtbot.addWidget(w)
        w.resize(1000, 700)
        w.show()
        made.append(w)
        return w

    yield make
    for w in made:
        w.notifier.ask = Answers()
        w.close()


def wait_model(qtbot, w, timeout=30_000):
    if w.inference.info is None:
        with qtbot.waitSignal(w.inference.modelReady, timeout=timeout):
            pass


def open_and_show(qtbot, w, path, timeout=30_000):
    """Open a path and wait until the current image's pixels are on the canvas."""
    with qtbot.waitSignal(w.inference.pixelsReady, timeout=timeout):
        assert w.open_path(path)
