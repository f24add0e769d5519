"""A new user's walkthrough (issue 18, items 27 and 29-32): a checkpoint that fails to
load keeps the working model, another dataset gets its own Training dock, decided
instances say so everywhere, broken images are marked in the list, and the small
things (fit on open, hints that end with their action, names in the weights box)."""
from __future__ import annotations

import pytest

from tests.app.conftest import Answers, open_and_show, wait_model
from tests.helpers import write_image


# ---------------------------------------------------------------------- 27
def test_a_checkpoint_that_fails_to_load_keeps_the_working_model(qtbot, make_window, folder):
    answers = Answers()
    w = make_window(answers=answers)
    wait_model(qtbot, w)
    open_and_show(qtbot, w, folder)
    before = w.inference.info
    with qtbot.waitSignal(w.inference.modelFailed, timeout=30_000):
        w.selection.choose(weights="broken")
    assert w.inference.info is before and w.inference.worker.predictor is not None
    assert w.selection.weights == "fake" and w.prefs.weights == "fake"
    assert w.model_panel.weights_combo.currentData() == "fake"
    assert w.model_label.text() == "fake:fake · cpu"
    assert "Model not available" not in answers.asked  # nothing to choose: the old one works
    level, title, text = w.notifier.history[-1]
    assert level == "warning" and "broken" in text and "still" in text.lower() \
        and "fake:fake" in text
    w.doc.current.instances.clear()
    with qtbot.waitSignal(w.inference.predictionApplied, timeout=30_000):
        w.actions_["actionPredict"].trigger()  # the kept model still predicts


@pytest.mark.slow
def test_a_corrupt_checkpoint_file_keeps_the_real_model(qtbot, make_window, tmp_path):
    from app.inference.workers import default_factory
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    w = make_window(weights="none", factory=default_factory, min_size=64, max_size=96)
    wait_model(qtbot, w, timeout=120_000)
    kept = w.inference.worker.predictor
    with qtbot.waitSignal(w.inference.modelFailed, timeout=120_000):
        w.selection.choose(weights=str(bad))
    assert w.inference.worker.predictor is kept and w.inference.info is not None
    assert w.selection.weights == "none" and not w.inference.loading
    level, _title, text = w.notifier.history[-1]
    assert level == "warning" and "model.pt" in text


# ---------------------------------------------------------------------- 32
def test_the_weights_box_names_the_version_and_says_when_there_is_no_model(
        qtbot, make_window, folder):
    from model.versions import VersionRegistry
    w = make_window()
    wait_model(qtbot, w)
    open_and_show(qtbot, w, folder)
    state = w.session.state_dir()
    state.mkdir(parents=True, exist_ok=True)
    ckpt = state / "runs" / "v1-20250102-0930" / "model.pt"
    VersionRegistry(state).add("v1-20250102-0930", ckpt, {"status": "finished"}, {}, [])
    combo = w.model_panel.weights_combo
    with qtbot.waitSignal(w.inference.modelReady, timeout=30_000):
        w.selection.choose(weights=str(ckpt))
    assert combo.currentText() == "v1-20250102-0930" and combo.currentData() == str(ckpt)


def test_review_without_a_model_leaves_no_weights_shown(qtbot, make_window):
    answers = Answers({"Model not available": "Review without a model"})
    w = make_window(weights="broken", answers=answers)
    with qtbot.waitSignal(w.inference.modelFailed, timeout=30_000):
        pass
    qtbot.waitUntil(lambda: "Model not available" in answers.asked, timeout=5000)
    combo = w.model_panel.weights_combo
    assert combo.currentIndex() == -1 and combo.placeholderText() == "No model"
