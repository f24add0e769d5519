"""Model -> Learn while I work (app/training/learn.py), with a fake training process whose
held-out figures the test scripts (the real `main.py train --continuous` is tested in
tests/model/test_learn.py): the toggle through the real menu, the swap rule, the swap
(a version in models.json, the model in use, the unreviewed images predicted again, the
reviewed one left alone), the Training dock's held-out table and the Rounds view."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Qt, QTimer, Signal

import app.training.learn as learn_module
from app.training.process import cpu_threads_for_training
from tests.app.conftest import open_and_show, wait_model
from tests.app.test_window_layout import activate, click_menu_item
from tests.helpers import write_image


class FakeProcess(QObject):
    """Stands in for TrainingProcess: records the command; the test speaks for it."""

    event = Signal(dict)
    finished = Signal(dict)
    made: list["FakeProcess"] = []

    def __init__(self, parent=None):
        super().__init__(parent)
        self.running, self.args, self.cwd = False, None, None
        FakeProcess.made.append(self)

    def start(self, args, stop_file, cwd=None):
        self.args, self.cwd, self.running = list(args), cwd, True

    def cancel(self):
        if self.running:
            self.running = False
            QTimer.singleShot(0, lambda: self.finished.emit(
                {"event": "done", "status": "cancelled", "iterations": 300}))

    def stop_and_wait(self, timeout_ms=0):
        self.running = False


@pytest.fixture
def learning(qtbot, make_window, tmp_path, monkeypatch):
    """A window on 4 images with the fake process; image 0 reviewed (M), the rest not."""
    FakeProcess.made.clear()
    monkeypatch.setattr(learn_module, "TrainingProcess", FakeProcess)
    d = tmp_path / "imgs"
    d.mkdir()
    for k in range(4):
        write_image(d / f"{k}.png", 64, 64, seed=k)
    w = make_window()
    wait_model(qtbot, w)
    open_and_show(qtbot, w, d)
    qtbot.waitUntil(lambda: len(w.doc.current.instances) == 3, timeout=30_000)
    w.activateWindow()
    w.canvas.setFocus(Qt.OtherFocusReason)
    qtbot.waitUntil(w.canvas.hasFocus, timeout=5000)
    qtbot.keyClick(w.canvas, Qt.Key_M)  # done: its predictions accepted
    images = w.doc.dataset.images
    assert images[0].status == "done" and images[1].status == "unreviewed"
    qtbot.waitUntil(lambda: len(images[1].instances) == 3, timeout=30_000)
    return w


def toggle(qtbot, w) -> None:
    activate(qtbot, w)
    click_menu_item(qtbot, w, "Model", w.actions_["actionLearn"])


def heldout(it, ap, in_use_ap, in_use="fake", checkpoint=None, model_id=None) -> dict:
    return {"event": "heldout", "iteration": it, "images": 1, "ap": ap, "bbox_ap": ap,
            "in_use": in_use, "in_use_model": None, "in_use_ap": in_use_ap,
            "beats": checkpoint is not None, "checkpoint": checkpoint, "model_id": model_id}


def candidate(run_dir: Path, it: int) -> str:
    path = run_dir / f"model.cand{it}.pt"
    path.write_bytes(b"a model")  # the fake predictor never reads it
    return str(path)


def test_learning_toggled_from_the_menu_swaps_in_a_better_model_and_repredicts_unreviewed(
        qtbot, learning):
    w = learning
    images = w.doc.dataset.images
    done = [(i.id, i.review, i.model) for i in images[0].instances]
    with qtbot.waitSignal(w.learn.runningChanged, timeout=5000):
        toggle(qtbot, w)
    assert w.actions_["actionLearn"].isChecked() and w.training_dock.isVisible()
    proc = FakeProcess.made[-1]
    args = proc.args
    assert "--continuous" in args and args[args.index("--anchors") + 1] == "auto"
    assert args[args.index("--threads") + 1] == str(cpu_threads_for_training())
    assert args[args.index("--min-size") + 1] == "64"  # the images' own size
    run_dir = Path(proc.cwd)
    snap = json.loads((run_dir / "train.json").read_text())
    assert [im["file_name"] for im in snap["images"]] == ["0.png"]  # the done image only
    assert json.loads((run_dir / "in_use.json").read_text())["weights"] == "fake"
    # the person finishes another image: the snapshot follows
    qtbot.keyClick(w.canvas, Qt.Key_M)
    qtbot.waitUntil(lambda: len(json.loads((run_dir / "train.json").read_text())["images"]) == 2,
                    timeout=10_000)
    proc.event.emit({"event": "start", "train_images": 1, "val_images": 1, "iterations": None,
                     "device": "cpu", "weights": "fake", "continuous": True})
    for it in (1, 2):
        proc.event.emit({"event": "iter", "iteration": it, "total": None, "loss": 2.0 / it,
                         "losses": {"loss_mask": 1.0 / it}, "images_per_s": 1.0, "eta_s": None})
    assert set(w.training_panel.curves) >= {"loss", "loss_mask"}
    proc.event.emit(heldout(100, 0.10, 0.20))  # worse than the version in use: no swap
    assert w.selection.weights == "fake"
    name = f"{run_dir.name}-it200"
    with qtbot.waitSignal(w.inference.batchRunning, timeout=30_000,
                          check_params_cb=lambda running: not running):
        proc.event.emit(heldout(200, 0.30, 0.20, checkpoint=candidate(run_dir, 200),
                                model_id=name))
    ckpt = w.session.state_dir() / "runs" / name / "model.pt"
    assert w.selection.weights == str(ckpt) and ckpt.read_bytes() == b"a model"
    assert w.inference.info.spec.weights == str(ckpt)
    version = json.loads((w.session.state_dir() / "models.json").read_text())["versions"][-1]
    assert version["name"] == name and version["held_out_ap"] == 0.30
    assert version["replaced"] == "fake" and version["learn_run"] == run_dir.name
    assert json.loads((run_dir / "in_use.json").read_text()) == {"weights": str(ckpt),
                                                                 "model_id": name}
    # the images nobody reviewed are the new model's now; the reviewed one kept its own
    for rec in images[2:]:
        assert rec.status == "unreviewed" and rec.instances
        assert all(i.model == f"fake:{ckpt}" for i in rec.instances)
    assert [(i.id, i.review, i.model) for i in images[0].instances] == done
    table = w.training_panel.heldout
    assert table.rowCount() == 2 and table.item(1, 4).text() == name
    assert table.item(0, 4).text() == "" and table.item(1, 2).text() == "0.300"
    w.rounds_dock.show()
    w.rounds_panel.refresh()
    assert name in [w.rounds_panel.table.item(r, 0).text()
                    for r in range(w.rounds_panel.table.rowCount())]
    with qtbot.waitSignal(w.learn.runningChanged, timeout=5000,
                          check_params_cb=lambda running: not running):
        toggle(qtbot, w)
    assert not w.actions_["actionLearn"].isChecked() and not proc.running


def test_the_swap_rule_against_scripted_held_out_figures(qtbot, learning):
    """Equal is not better; a measurement against a model no longer in use swaps nothing,
    drops its file and tells the process what is in use now; better swaps."""
    w = learning
    with qtbot.waitSignal(w.learn.runningChanged, timeout=5000):
        w.actions_["actionLearn"].trigger()
    proc = FakeProcess.made[-1]
    run_dir = Path(proc.cwd)
    learn = w.learn
    equal = candidate(run_dir, 100)
    assert not learn.judge(heldout(100, 0.25, 0.25, checkpoint=equal, model_id="x-it100"))
    assert not Path(equal).exists() and w.selection.weights == "fake"
    assert not learn.judge(heldout(150, None, 0.0))  # no figure: never a swap
    with qtbot.waitSignal(w.inference.modelReady, timeout=30_000):
        w.selection.choose("none")  # the person picks another model meanwhile
    stale = candidate(run_dir, 200)
    assert not learn.judge(heldout(200, 0.9, 0.1, checkpoint=stale, model_id="x-it200"))
    assert not Path(stale).exists() and w.selection.weights == "none"
    assert json.loads((run_dir / "in_use.json").read_text())["weights"] == "none"
    better = candidate(run_dir, 300)
    with qtbot.waitSignal(w.inference.modelReady, timeout=30_000):
        assert learn.judge(heldout(300, 0.05, None, in_use="none", checkpoint=better,
                                   model_id="x-it300"))
    assert w.selection.weights.endswith("x-it300/model.pt")
    with qtbot.waitSignal(w.learn.runningChanged, timeout=5000):
        w.actions_["actionLearn"].trigger()
    assert not (run_dir / "model.cand200.pt").exists()


def test_learning_that_fails_or_is_cancelled_in_the_dock_turns_the_toggle_off(qtbot, learning):
    w = learning
    action = w.actions_["actionLearn"]
    with qtbot.waitSignal(w.learn.runningChanged, timeout=5000):
        action.trigger()
    proc = FakeProcess.made[-1]
    with qtbot.waitSignal(w.learn.runningChanged, timeout=5000,
                          check_params_cb=lambda running: not running):
        qtbot.mouseClick(w.training_panel.cancel, Qt.LeftButton)
    assert not action.isChecked() and not proc.running
    with qtbot.waitSignal(w.learn.runningChanged, timeout=5000):
        action.trigger()
    proc = FakeProcess.made[-1]
    assert proc.running and action.isChecked()
    with qtbot.waitSignal(w.notifier.shown, timeout=5000) as said:
        proc.running = False
        proc.finished.emit({"status": "error", "message": "the dataset's categories changed"})
    assert said.args == ["error", "the dataset's categories changed"]
    assert not action.isChecked() and not w.learn.running
