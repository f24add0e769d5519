"""Issue 9: one writer for the document. One test per symptom of the old design,
each driven through the window's actions as a user drives it."""
from __future__ import annotations

import json
import threading

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QAction, QMouseEvent, QTransform
from PySide6.QtWidgets import QApplication, QFileDialog

from model.data import masks as M
from tests.app.conftest import Answers, FakePredictor, open_and_show, wait_model
from tests.helpers import write_image


def act(w, name) -> QAction:
    a = w.findChild(QAction, name)
    assert a is not None, name
    return a


def wait_prediction(qtbot, w, timeout=30_000):
    with qtbot.waitSignal(w.inference.predictionApplied, timeout=timeout) as blocker:
        pass
    return blocker.args


def iou(a, b) -> float:
    h = max(a.offset[1] + a.mask.shape[0], b.offset[1] + b.mask.shape[0])
    w = max(a.offset[0] + a.mask.shape[1], b.offset[0] + b.mask.shape[1])
    fa, fb = a.full_mask(h, w), b.full_mask(h, w)
    return (fa & fb).sum() / max(1, (fa | fb).sum())


def duplicates(instances) -> list:
    """Pairs that are the same object twice: the same object, the same id, or two
    instances of one class whose masks overlap at IoU >= 0.5."""
    out = []
    for k, a in enumerate(instances):
        for b in instances[k + 1:]:
            if a is b or a.id == b.id or (a.category_id == b.category_id and iou(a, b) >= 0.5):
                out.append((a, b))
    return out


def coco_with_predictions(tmp_path, n_pred=2, n_human=2):
    """One 96x128 image: hand-made annotations first, then model predictions from a file."""
    (tmp_path / "imgs").mkdir(exist_ok=True)
    write_image(tmp_path / "imgs" / "a.png", 96, 128, 1)
    anns = []
    for k in range(n_human):
        m = np.zeros((96, 128), bool)
        m[5 + 20 * k:20 + 20 * k, 5:20] = True
        anns.append({"id": k + 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                     "segmentation": M.encode_rle(*M.tight_crop(m), 96, 128),
                     "area": float(m.sum()), "bbox": M.bbox_of(*M.tight_crop(m))})
    for k in range(n_pred):
        m = np.zeros((96, 128), bool)
        m[10 + 15 * k:22 + 15 * k, 60 + 12 * k:75 + 12 * k] = True
        anns.append({"id": 100 + k, "image_id": 1, "category_id": 2, "iscrowd": 0,
                     "segmentation": M.encode_rle(*M.tight_crop(m), 96, 128),
                     "area": float(m.sum()), "bbox": M.bbox_of(*M.tight_crop(m)),
                     "score": 0.9 - 0.1 * k, "source": "model", "review": "unreviewed"})
    data = {"images": [{"id": 1, "file_name": "imgs/a.png", "width": 128, "height": 96}],
            "annotations": anns,
            "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    path = tmp_path / "preds.json"
    path.write_text(json.dumps(data))
    return path


# ----------------------------------------------------------------------------- 1
def test_undo_after_repredict_never_duplicates_a_prediction(qtbot, make_window, folder):
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    rec = w.doc.current
    before = len(rec.instances)
    w.doc.select(w.doc.listed(rec)[0])
    act(w, "actionDeleteInstance").trigger()
    assert len(rec.instances) == before - 1
    with qtbot.waitSignal(w.inference.predictionApplied, timeout=30_000):
        act(w, "actionPredict").trigger()
    assert not duplicates(w.doc.current.instances)
    act(w, "actionUndo").trigger()
    assert not duplicates(w.doc.current.instances)
    assert len(w.doc.current.instances) <= before
    act(w, "actionUndo").trigger()
    assert not duplicates(w.doc.current.instances)
    assert len(w.doc.current.instances) == before


# ----------------------------------------------------------------------------- 2
def test_undo_first_shows_the_image_it_changes(qtbot, make_window, folder):
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    first = w.doc.current
    act(w, "actionMarkDone").trigger()
    assert first.status == "done" and w.doc.row == 1
    act(w, "actionNextImage").trigger()
    act(w, "actionNextImage").trigger()
    assert w.doc.row == 3
    act(w, "actionUndo").trigger()
    assert w.doc.current is first  # the canvas moved to the image the undo changed
    assert first.status != "done"
    act(w, "actionNextImage").trigger()
    act(w, "actionRedo").trigger()
    assert w.doc.current is first and first.status == "done"


# ----------------------------------------------------------------------------- 3
def test_accept_moves_forward_to_the_next_unreviewed(qtbot, make_window, folder):
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    w.display.threshold.setValue(20)  # all three predictions listed
    rec = w.doc.current
    listed = w.doc.listed(rec)
    assert len(listed) == 3
    w.doc.select(listed[1])
    act(w, "actionAccept").trigger()
    assert w.doc.selected is listed[2]  # forwards, not back to the first
    act(w, "actionAccept").trigger()
    assert w.doc.selected is listed[0]  # wraps around
    act(w, "actionReject").trigger()
    assert [i.review for i in listed] == ["rejected", "accepted", "accepted"]
    assert w.doc.selected is None  # nothing left to review


def test_review_keys_never_land_on_reviewed_or_hand_made(qtbot, make_window, tmp_path):
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, coco_with_predictions(tmp_path))
    rec = w.doc.current
    humans = [i for i in rec.instances if i.source == "human"]
    preds = [i for i in rec.instances if i.source == "model"]
    w.doc.select(preds[1])
    act(w, "actionReject").trigger()
    assert w.doc.selected is preds[0]
    act(w, "actionReject").trigger()
    assert w.doc.selected not in humans
    act(w, "actionReject").trigger()  # a quick extra press
    act(w, "actionReject").trigger()
    assert [i.review for i in humans] == ["unreviewed", "unreviewed"]
    assert [i.review for i in preds] == ["rejected", "rejected"]


# ----------------------------------------------------------------------------- 4
def _send(w, kind, p, button, buttons):
    vp = w.canvas.viewport()
    local = w.canvas.mapFromScene(QPointF(*p))
    QApplication.sendEvent(vp, QMouseEvent(kind, QPointF(local), QPointF(vp.mapToGlobal(local)),
                                           button, buttons, Qt.NoModifier))


def _click(w, p):
    _send(w, QEvent.MouseButtonPress, p, Qt.LeftButton, Qt.LeftButton)
    _send(w, QEvent.MouseButtonRelease, p, Qt.LeftButton, Qt.NoButton)


def test_corrections_count_for_fine_tuning(qtbot, make_window, tmp_path, monkeypatch):
    path = coco_with_predictions(tmp_path, n_pred=0, n_human=2)
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, path)
    w.canvas.setTransform(QTransform())
    w.canvas.centerOn(64, 48)
    rec = w.doc.current
    original = rec.instances[0]
    w.doc.select(original)
    act(w, "actionBrush").trigger()
    _send(w, QEvent.MouseButtonPress, (12, 12), Qt.LeftButton, Qt.LeftButton)
    _send(w, QEvent.MouseMove, (30, 14), Qt.NoButton, Qt.LeftButton)
    _send(w, QEvent.MouseButtonRelease, (30, 14), Qt.LeftButton, Qt.NoButton)
    assert original.source == "edited"  # editing any instance marks it edited
    act(w, "actionNewInstance").trigger()
    act(w, "actionPolygon").trigger()
    for p in [(80, 60), (110, 60), (100, 85)]:
        _click(w, p)
    QApplication.sendEvent(w.canvas, __import__("PySide6.QtGui", fromlist=["QKeyEvent"]).QKeyEvent(
        QEvent.KeyPress, Qt.Key_Return, Qt.NoModifier))
    new = rec.instances[-1]
    assert new.source == "human" and new.mask.any()
    assert rec.status == "in_progress"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(tmp_path / "saved.json"), ""))
    seen = []
    w.finetune.confirm = lambda dlg: seen.append(dlg) or False
    act(w, "actionFineTune").trigger()
    assert seen, w.notifier.history
    assert seen[0].summary.used == 1  # the corrected image is in the training set


# ----------------------------------------------------------------------------- 5
def test_opening_another_dataset_resets_the_filters(qtbot, make_window, folder, tmp_path):
    w = make_window()
    open_and_show(qtbot, w, folder)
    w.image_panel.filter_edit.setText("img3")
    w.image_panel.state_combo.setCurrentIndex(w.image_panel.state_combo.findData("unreviewed"))
    assert w.image_panel.view.model().rowCount() == 1
    other = tmp_path / "other"
    other.mkdir()
    for k in range(3):
        write_image(other / f"x{k}.png", 64, 64, seed=k)
    open_and_show(qtbot, w, other)
    assert w.image_panel.filter_edit.text() == ""
    assert w.image_panel.state_combo.currentData() == ""
    assert w.image_panel.view.model().rowCount() == 3


# ----------------------------------------------------------------------------- 6
def test_looking_is_not_changing(qtbot, make_window, folder):
    answers = Answers()
    w = make_window(answers=answers)
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    assert w.doc.current.instances
    assert not w.doc.dirty
    assert "*" not in w.windowTitle()
    w.close()
    assert "Unsaved changes" not in answers.asked


# ----------------------------------------------------------------------------- 7
def test_fine_tune_dialog_writes_nothing_until_start(qtbot, make_window, folder, monkeypatch):
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    act(w, "actionMarkDone").trigger()
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: asked.append(a) or (str(folder / "annotations.json"), ""))
    before = sorted(p.name for p in folder.rglob("*"))
    shown = []
    w.finetune.confirm = lambda dlg: shown.append(dlg) or False  # the user presses Cancel
    act(w, "actionFineTune").trigger()
    assert not asked
    assert sorted(p.name for p in folder.rglob("*")) == before
    assert w.doc.dirty


# ----------------------------------------------------------------------------- 8
class SlowFactory:
    """Model loading that waits until the test lets it finish."""

    def __init__(self, fake, fail: bool = False):
        self.fake, self.fail = fake, fail
        self.go = threading.Event()

    def __call__(self, **kw):
        self.go.wait(30)
        if self.fail:
            raise RuntimeError("broken.pt: not a readable PyTorch weights file")
        return FakePredictor(self.fake, **kw)


def test_predict_while_loading_is_queued_without_a_dialog(qtbot, make_window, folder, fake):
    factory = SlowFactory(fake)
    w = make_window(factory=factory)
    w.actions_["actionAutoPredict"].setChecked(False)
    try:
        open_and_show(qtbot, w, folder)
        act(w, "actionPredict").trigger()
        assert not w.notifier.history
        assert "queued" in w.statusBar().currentMessage().lower()
    finally:
        factory.go.set()
    image_id, added = wait_prediction(qtbot, w)
    assert image_id == w.doc.current.id and added == 3
    assert not w.notifier.history


def test_a_model_that_fails_to_load_gets_one_dialog(qtbot, make_window, folder, fake):
    factory = SlowFactory(fake, fail=True)
    answers = Answers({"Model not available": "Review without a model"})
    w = make_window(factory=factory, answers=answers)
    try:
        open_and_show(qtbot, w, folder)
        act(w, "actionPredict").trigger()
    finally:
        factory.go.set()
    with qtbot.waitSignal(w.inference.modelFailed, timeout=30_000):
        pass
    dialogs = answers.texts + [text for _level, _title, text in w.notifier.history]
    assert len(dialogs) == 1, dialogs
    assert "broken.pt" in dialogs[0]


# ----------------------------------------------------------------------------- 9
def test_a_new_prediction_duplicating_an_accepted_one_is_dropped(qtbot, make_window, folder):
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    rec = w.doc.current
    first = w.doc.listed(rec)[0]
    w.doc.select(first)
    act(w, "actionAccept").trigger()
    with qtbot.waitSignal(w.inference.predictionApplied, timeout=30_000) as blocker:
        act(w, "actionPredict").trigger()
    assert blocker.args[1] == 2  # the fresh copy of the accepted square was not added
    assert first in rec.instances and first.review == "accepted"
    assert not duplicates(rec.instances)


# ------------------------------------------------------------ the invariant
def test_random_sequences_never_duplicate_and_undo_all_restores_the_file(qtbot, make_window,
                                                                          tmp_path):
    """Delete, edit, accept, reject, re-predict, undo and redo in random order: no
    instance ever appears twice, and undoing everything gives back the opened file."""
    import random

    from model.data.coco import save_dataset

    path = coco_with_predictions(tmp_path, n_pred=2, n_human=1)
    data = json.loads(path.read_text())
    write_image(tmp_path / "imgs" / "b.png", 96, 128, 2)
    data["images"].append({"id": 2, "file_name": "imgs/b.png", "width": 128, "height": 96})
    path.write_text(json.dumps(data))
    w = make_window()
    open_and_show(qtbot, w, path)
    wait_model(qtbot, w)
    first = tmp_path / "first.json"
    save_dataset(w.doc.data_view(), first)
    rng = random.Random(11)
    edit = w.toolbox.drawing
    for step in range(70):
        rec = w.doc.current
        insts = w.doc.listed(rec)
        k = rng.random()
        if k < 0.12:
            with qtbot.waitSignal(w.inference.predictionApplied, timeout=30_000):
                act(w, "actionPredict").trigger()
        elif k < 0.22 and insts:
            w.doc.select(rng.choice(insts))
            act(w, "actionDeleteInstance").trigger()
        elif k < 0.37 and insts:
            w.doc.select(rng.choice(insts))
            act(w, rng.choice(["actionAccept", "actionReject"])).trigger()
        elif k < 0.52:
            w.doc.select(rng.choice(insts) if insts and rng.random() < 0.8 else None)
            pts = [(rng.uniform(0, 128), rng.uniform(0, 96)) for _ in range(rng.randint(1, 4))]
            edit.set_brush_size(rng.randint(2, 12))
            edit.begin_stroke(*pts[0], erase=rng.random() < 0.3)
            for p in pts[1:]:
                edit.extend_stroke(*p)
            edit.end_stroke()
        elif k < 0.62:
            act(w, "actionMarkDone").trigger()
        elif k < 0.7:
            row = 1 - w.doc.row  # the other image
            with qtbot.waitSignal(w.inference.pixelsReady, timeout=30_000):
                act(w, "actionNextImage" if row else "actionPrevImage").trigger()
        elif k < 0.88:
            act(w, "actionUndo").trigger()
        else:
            act(w, "actionRedo").trigger()
        for r in w.doc.dataset.images:
            assert not duplicates(r.instances), (step, r.file_name)
    assert w.doc.undo_stack.count() > 15
    while w.doc.undo_stack.canUndo():
        act(w, "actionUndo").trigger()
        for r in w.doc.dataset.images:
            assert not duplicates(r.instances)
    again = tmp_path / "again.json"
    save_dataset(w.doc.data_view(), again)
    assert again.read_bytes() == first.read_bytes()
    assert not w.doc.dirty


def test_background_results_never_enter_the_history(qtbot, make_window, folder):
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    rec = w.doc.current
    w.doc.select(w.doc.listed(rec)[0])
    act(w, "actionAccept").trigger()
    steps = w.doc.undo_stack.count()
    with qtbot.waitSignal(w.inference.predictionSkipped, timeout=30_000) as blocker:
        w.inference.predict_current(explicit=False)  # as a prefetch would
    assert blocker.args[0] == rec.id and w.doc.undo_stack.count() == steps
    with qtbot.waitSignal(w.inference.predictionApplied, timeout=30_000):
        act(w, "actionPredict").trigger()  # asked for: an undoable step of its own
    assert w.doc.undo_stack.count() == steps + 1
    assert w.doc.undo_stack.command(steps).text() == f"Predictions · {rec.file_name}"
    assert not w.doc.dirty or w.doc.undo_stack.cleanIndex() == 0
    act(w, "actionUndo").trigger()
    assert w.doc.undo_stack.index() == steps


def test_predictions_persist_and_reopening_does_not_predict_again(qtbot, make_window, folder,
                                                                   fake):
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    qtbot.waitUntil(lambda: all(r.prediction_model for r in w.doc.dataset.images[:3]),
                    timeout=30_000)  # the current image and two prefetched
    shown = [(i.category_id, i.score, i.offset, i.mask.copy())
             for i in w.doc.dataset.images[0].instances]
    w.close()
    cache = folder / ".maskloop" / "predictions.json"
    assert cache.is_file()
    assert not (folder / "annotations.json").exists()  # looking wrote no COCO file
    calls = fake.calls
    w2 = make_window()
    wait_model(qtbot, w2)
    open_and_show(qtbot, w2, folder)
    again = [(i.category_id, i.score, i.offset, i.mask) for i in w2.doc.dataset.images[0].instances]
    assert len(again) == len(shown)
    for a, b in zip(shown, again):
        assert a[:3] == b[:3] and np.array_equal(a[3], b[3])
    assert not w2.doc.dirty
    assert not w2.inference._latest  # no prediction was even requested
    assert fake.calls == calls


def test_start_trains_on_a_snapshot_of_exactly_the_chosen_images(qtbot, make_window, folder,
                                                                 monkeypatch):
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    rec0 = w.doc.current
    act(w, "actionMarkDone").trigger()  # image 0: done
    qtbot.waitUntil(lambda: bool(w.doc.current.instances), timeout=30_000)
    rec1 = w.doc.current
    w.doc.select(w.doc.listed(rec1)[0])
    act(w, "actionAccept").trigger()  # image 1: corrected, one prediction left
    started = []
    monkeypatch.setattr(w.finetune.process, "start", lambda args, stop, cwd=None:
                        started.append(args))

    def press_start(dlg):
        assert dlg.summary.used == 1 and dlg.start.isEnabled()
        dlg.include_corrected.setChecked(True)
        assert dlg.summary.used == 2
        return True

    w.finetune.confirm = press_start
    act(w, "actionFineTune").trigger()
    args = started[0]
    snap = json.loads(open(args[0]).read())
    assert [i["id"] for i in snap["images"]] == [rec0.id, rec1.id]
    assert "--all-images" in args
    reviews = sorted(a["review"] for a in snap["annotations"] if a["image_id"] == rec1.id)
    assert reviews == ["accepted"]  # the cached prediction is not in the snapshot
    assert not (folder / "annotations.json").exists()  # the user's file is not written
    w.finetune.run = None


def test_adopted_classes_are_written_only_once_used(qtbot, make_window, tmp_path, folder):
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    assert [c.name for c in w.doc.dataset.categories] == ["cat", "dog"]
    assert all(c.adopted for c in w.doc.dataset.categories)
    assert w.doc.data_view().categories == []
    w.doc.select(next(i for i in w.doc.listed(w.doc.current) if i.category_id == 2))
    act(w, "actionAccept").trigger()
    assert [c.name for c in w.doc.data_view().categories] == ["dog"]
    out = tmp_path / "out.json"
    w.files.ask_save_path = lambda default: out
    assert w.save()
    saved = json.loads(out.read_text())
    assert [c["name"] for c in saved["categories"]] == ["dog"]
    assert [a["review"] for a in saved["annotations"]] == ["accepted"]  # the cache stays out


def test_switching_datasets_keeps_the_cache_and_the_filter_shows_what_it_lists(
        qtbot, make_window, folder, tmp_path):
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    w.image_panel.filter_edit.setText("img3")  # only img3 is listed now...
    assert w.doc.row == 3  # ...and shown: what is shown is what is highlighted (issue 18)
    w.image_panel.filter_edit.clear()
    assert w.doc.row == 3  # listed again: it stays
    other = tmp_path / "other"
    other.mkdir()
    write_image(other / "x.png", 64, 64)
    open_and_show(qtbot, w, other)  # another dataset: the first one's cache is written
    cache = json.loads((folder / ".maskloop" / "predictions.json").read_text())
    assert any(e["file_name"] == "img0.png" and e["predictions"] for e in cache["images"])


def test_save_refuses_a_read_only_file_and_moves_the_cache_beside_the_first_save(
        qtbot, make_window, folder, tmp_path):
    import os
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    w.doc.select(w.doc.listed(w.doc.current)[0])
    act(w, "actionAccept").trigger()
    locked = tmp_path / "locked.json"
    locked.write_text("{}")
    os.chmod(locked, 0o444)
    w.files.ask_save_path = lambda default: locked
    assert not w.save()
    assert "read-only" in w.notifier.history[-1][2] and locked.read_text() == "{}"
    assert w.doc.dirty
    w.files.ask_save_path = lambda default: default
    assert w.save()
    state = folder / ".maskloop"
    assert (state / "annotations.predictions.json").is_file()
    assert not (state / "predictions.json").exists()
