"""One-click fine-tune: a tiny real training run through QProcess updates the dock,
registers the version, switches the model and re-predicts; cancel keeps a checkpoint."""
from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from model.net import checkpoint_file as C
from tests.app.conftest import Answers, open_and_show, wait_model
from tests.helpers import write_image

TINY = ["--iterations", "2", "--workers", "0", "--rois-per-image", "64", "--val-fraction", "0"]


@pytest.fixture
def reviewed(qtbot, make_window, tmp_path, fake):
    d = tmp_path / "imgs"
    d.mkdir()
    for k in range(4):
        write_image(d / f"{k}.png", 64, 64, seed=k)
    answers = Answers({"Fine-tune finished": "Switch and re-predict"})
    w = make_window(weights="none", min_size=64, max_size=64, answers=answers)
    wait_model(qtbot, w)
    open_and_show(qtbot, w, d)
    for _ in range(2):  # review two images: the fake model's squares are accepted
        qtbot.waitUntil(lambda: bool(w.doc.current.instances), timeout=30_000)
        w.actions_["actionMarkDone"].trigger()
        qtbot.waitUntil(lambda: w.canvas.image_id == w.doc.current.id, timeout=30_000)
    assert sum(r.status == "done" for r in w.doc.dataset.images) == 2
    w.files.ask_save_path = lambda default: default
    w.finetune.confirm = lambda dlg: dlg.start.isDefault()  # press Start
    return w, answers


@pytest.mark.slow
def test_fine_tune_runs_updates_dock_registers_and_switches(qtbot, reviewed):
    w, answers = reviewed
    w.finetune.extra_args = TINY
    accepted = {(r.id, i.id) for r in w.doc.dataset.images for i in r.instances
                if i.review == "accepted"}
    with qtbot.waitSignal(w.finetune.process.finished, timeout=300_000) as blocker:
        w.actions_["actionFineTune"].trigger()
        assert w.training_dock.isVisible()
    summary = blocker.args[0]
    assert summary["status"] == "finished", summary
    panel = w.training_panel
    assert panel.progress.maximum() == 2 and panel.progress.value() == 2
    assert set(panel.curves) >= {"loss", "loss_mask", "loss_classifier"}
    reg = json.loads((w.session.state_dir() / "models.json").read_text())
    version = reg["versions"][-1]
    assert version["status"] == "finished" and version["train_images"] >= 1
    ckpt = version["checkpoint"]
    assert C.load(ckpt)["model_id"] == version["name"]
    assert "Fine-tune finished" in answers.asked
    # switched: the worker loads the new version, then re-predicts unreviewed images only
    with qtbot.waitSignal(w.inference.batchRunning, timeout=60_000,
                          check_params_cb=lambda running: not running):
        pass
    assert w.inference.info.spec.weights == ckpt
    assert w.versions_menu.actions() and version["name"] in w.versions_menu.actions()[0].text()
    still = {(r.id, i.id) for r in w.doc.dataset.images for i in r.instances
             if i.review == "accepted"}
    assert accepted and still == accepted  # reviewed instances were never overwritten
    unreviewed = [r for r in w.doc.dataset.images if r.status == "unreviewed"]
    assert unreviewed and all(i.model == f"fake:{ckpt}" for r in unreviewed for i in r.instances)


@pytest.mark.slow
def test_fine_tune_cancel_keeps_the_checkpoint(qtbot, reviewed):
    w, answers = reviewed
    answers.by_title["Fine-tune finished"] = "Keep the current model"
    w.finetune.extra_args = ["--iterations", "500", "--workers", "0", "--rois-per-image", "64",
                             "--val-fraction", "0"]
    with qtbot.waitSignal(w.finetune.process.event, timeout=300_000,
                          check_params_cb=lambda e: e.get("event") == "iter"):
        w.actions_["actionFineTune"].trigger()
    with qtbot.waitSignal(w.finetune.process.finished, timeout=300_000) as blocker:
        qtbot.mouseClick(w.training_panel.cancel, Qt.LeftButton)
    summary = blocker.args[0]
    assert summary["status"] == "cancelled" and summary["iterations"] < 500
    ckpt = w.session.state_dir() / "runs"
    run = next(ckpt.iterdir())
    assert (run / "model.pt").is_file() and (run / "model.last.pt").is_file()
    reg = json.loads((w.session.state_dir() / "models.json").read_text())
    assert reg["versions"][-1]["status"] == "cancelled"
    assert w.inference.info.spec.weights == "none"  # kept the current model, as answered
