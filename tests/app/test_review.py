"""Review GUI behaviour, driven the way a user drives it, with a fake predictor."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QListView, QSlider, QTableView

from tests.app.conftest import Answers, open_and_show, wait_model
from tests.helpers import make_coco, write_image


def find(w, cls, name):
    obj = w.findChild(cls, name)
    assert obj is not None, name
    return obj


def action(w, name):
    from PySide6.QtGui import QAction
    return find(w, QAction, name)


def wait_prediction(qtbot, w, timeout=30_000):
    with qtbot.waitSignal(w.inference.predictionApplied, timeout=timeout) as blocker:
        pass
    return blocker.args


def canvas_pixel(w, x, y) -> QColor:
    """Screen colour of image pixel (x, y) as the canvas shows it."""
    view = w.canvas
    pt = view.mapFromScene(QPointF(x + 0.5, y + 0.5))
    return view.viewport().grab().toImage().pixelColor(pt)


def test_object_names_and_actions_exist(make_window):
    w = make_window()
    assert w.objectName() == "MainWindow"
    find(w, QListView, "imageList")
    find(w, QTableView, "instanceList")
    find(w, QSlider, "scoreThreshold")
    assert w.canvas.objectName() == "canvas"
    for name in ["actionOpen", "actionSave", "actionPredict", "actionPredictAll", "actionCancel",
                 "actionAccept", "actionReject", "actionNextImage", "actionPrevImage",
                 "actionNextUnreviewed", "actionMarkDone"]:
        action(w, name)


def test_open_folder_lists_images_without_decoding(qtbot, make_window, folder, fake):
    reads = []

    def reader(path):
        from model.data.images import read_image
        reads.append(path.name)
        return read_image(path)

    from app.window.main_window import MainWindow  # noqa: F401  (reader goes through the window)
    w = make_window(reader=reader)
    wait_model(qtbot, w)
    open_and_show(qtbot, w, folder)
    view = find(w, QListView, "imageList")
    assert view.model().rowCount() == 4
    assert reads[0] == "img0.png"
    assert set(reads) <= {"img0.png", "img1.png", "img2.png"}  # current + prefetch only
    text = view.model().index(0, 0).data()
    assert "img0.png" in text and "unreviewed" in text


def test_open_coco_shows_its_instances(qtbot, make_window, tmp_path):
    coco = make_coco(tmp_path)
    w = make_window()
    open_and_show(qtbot, w, coco)
    table = find(w, QTableView, "instanceList")
    assert table.rowCount() == 3  # image 0: ring, two squares, crowd
    assert table.model().index(0, 1).data() == "ring"
    assert not w.doc.dirty


def test_predictions_arrive_and_render(qtbot, make_window, folder, fake):
    w = make_window()
    wait_model(qtbot, w)
    open_and_show(qtbot, w, folder)
    before = canvas_pixel(w, 30, 25)  # inside the 0.9 square: x 12..50, y 9..37
    outside = canvas_pixel(w, 5, 90)  # below every square
    image_id, added = wait_prediction(qtbot, w)
    assert image_id == w.doc.current.id and added == 3
    assert len(w.doc.listed(w.doc.current)) == 2  # 0.3 is under the 0.5 threshold
    after = canvas_pixel(w, 30, 25)
    assert after != before
    assert canvas_pixel(w, 5, 90) == outside  # no prediction there: the image as it was
    assert not w.doc.dirty and w.windowTitle().startswith("imgs —")  # predictions are a cache


def test_click_selects_topmost_instance(qtbot, make_window, folder):
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    pt = w.canvas.mapFromScene(QPointF(80.5, 65.5))  # inside the 0.6 square (70..108, 52..80)
    qtbot.mouseClick(w.canvas.viewport(), Qt.LeftButton, pos=pt)
    assert w.doc.selected is not None and w.doc.selected.score == pytest.approx(0.6, abs=0.01)
    table = find(w, QTableView, "instanceList")
    assert table.currentRow() == 1
    table.selectRow(0)
    assert w.doc.selected.score == pytest.approx(0.9, abs=0.01)


def test_accept_reject_keys_and_rejected_not_drawn(qtbot, make_window, folder, tmp_path):
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    insts = w.doc.listed(w.doc.current)
    w.doc.select(insts[0])
    action(w, "actionAccept").trigger()
    assert insts[0].review == "accepted"
    assert w.doc.selected is insts[1]  # moved on to the next unreviewed one
    shown = canvas_pixel(w, 80, 65)
    action(w, "actionReject").trigger()
    assert insts[1].review == "rejected"
    assert canvas_pixel(w, 80, 65) != shown  # a rejected mask is no longer drawn
    assert w.doc.current.status == "in_progress"
    w.doc.undo_stack.undo()
    assert insts[1].review == "unreviewed"
    w.doc.undo_stack.redo()
    out = tmp_path / "out.json"
    w.files.ask_save_path = lambda default: out
    action(w, "actionSave").trigger()
    anns = [a for a in json.loads(out.read_text())["annotations"] if a["image_id"] == w.doc.current.id]
    assert [(a["review"], a["source"]) for a in anns] == [("accepted", "model"), ("rejected", "model")]


def test_threshold_slider_hides_without_new_prediction(qtbot, make_window, folder, fake):
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    calls = fake.calls
    slider = find(w, QSlider, "scoreThreshold")
    table = find(w, QTableView, "instanceList")
    assert table.rowCount() == 2
    low = canvas_pixel(w, 100, 20)  # the 0.3 square: x 76..101, y 9..28
    slider.setValue(20)
    assert table.rowCount() == 3
    assert canvas_pixel(w, 100, 20) != low
    slider.setValue(70)
    assert table.rowCount() == 1
    assert fake.calls == calls  # no new prediction was run


def test_mark_done_accepts_shown_and_moves_on(qtbot, make_window, folder):
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    rec = w.doc.current
    with qtbot.waitSignal(w.inference.pixelsReady, timeout=30_000):
        action(w, "actionMarkDone").trigger()
    assert rec.status == "done"
    assert [i.review for i in w.doc.listed(rec)] == ["accepted", "accepted"]
    assert w.doc.row == 1
    action(w, "actionPrevImage").trigger()
    assert w.doc.row == 0
    action(w, "actionNextUnreviewed").trigger()
    assert w.doc.row == 1


def test_predict_all_progress_and_cancel(qtbot, make_window, tmp_path, fake):
    d = tmp_path / "many"
    d.mkdir()
    for k in range(8):
        write_image(d / f"{k:02d}.png", 64, 64, seed=k)
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    wait_model(qtbot, w)
    open_and_show(qtbot, w, d)
    fake.delay = 0.5
    with qtbot.waitSignal(w.inference.batchProgress, timeout=30_000,
                          check_params_cb=lambda done, total, eta: done >= 1):
        action(w, "actionPredictAll").trigger()
    assert w.progress.isVisible()
    with qtbot.waitSignal(w.inference.batchRunning, timeout=30_000) as blocker:
        action(w, "actionCancel").trigger()
    assert blocker.args == [False]
    predicted = sum(1 for r in w.doc.dataset.images if r.instances)
    assert 1 <= predicted < 8
    assert not w.progress.isVisible()


def test_predict_all_never_overwrites_reviewed(qtbot, make_window, tmp_path, fake):
    coco = make_coco(tmp_path)
    w = make_window()
    wait_model(qtbot, w)
    open_and_show(qtbot, w, coco)
    rec = w.doc.current
    before = [(i.id, i.review, i.source) for i in rec.instances]
    with qtbot.waitSignal(w.inference.batchRunning, timeout=30_000,
                          check_params_cb=lambda running: not running):
        action(w, "actionPredictAllImages").trigger()
    kept = [(i.id, i.review, i.source) for i in rec.instances if i.id in {b[0] for b in before}]
    assert kept == before  # the file's human annotations are all still there, unchanged


def test_save_reload_equality(qtbot, make_window, folder):
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    w.doc.select(w.doc.listed(w.doc.current)[0])
    action(w, "actionAccept").trigger()
    w.files.ask_save_path = lambda default: default
    assert w.save()
    assert (folder / "annotations.json").is_file() and not w.doc.dirty
    assert not w.windowTitle().split(" — ")[0].endswith("*")
    shown = [(i.id, i.category_id, i.review, i.offset, i.mask.copy())
             for i in w.doc.listed(w.doc.current)]
    w2 = make_window()
    open_and_show(qtbot, w2, folder)  # the folder's annotations.json opens
    assert w2.session.coco_path == folder / "annotations.json"
    again = [(i.id, i.category_id, i.review, i.offset, i.mask)
             for i in w2.doc.listed(w2.doc.current)]
    assert len(again) == len(shown)
    for a, b in zip(shown, again):
        assert a[:4] == b[:4] and np.array_equal(a[4], b[4])
    names = {c.id: c.name for c in w2.doc.dataset.categories}
    assert names[shown[0][1]] == "cat"


def test_autosave_recovery_after_crash(qtbot, make_window, folder):
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    w.doc.select(w.doc.listed(w.doc.current)[0])
    action(w, "actionReject").trigger()
    path = w.session.autosave(wait=True)
    assert path is not None and path.is_file() and path.parent.name == ".maskloop"
    # a crash: the process dies without the quit dialog
    w.files.maybe_save = lambda: True
    w.close()
    assert path.is_file()
    answers = Answers({"Recover unsaved work?": "Restore"})
    w2 = make_window(answers=answers)
    open_and_show(qtbot, w2, folder)
    assert "Recover unsaved work?" in answers.asked
    reviews = [i.review for i in w2.doc.dataset.images[0].instances]
    assert "rejected" in reviews and w2.doc.dirty


def test_close_while_predicting_joins_threads(qtbot, make_window, folder, fake):
    fake.delay = 5.0
    w = make_window()
    wait_model(qtbot, w)
    open_and_show(qtbot, w, folder)
    assert fake.started.wait(30)
    w.close()  # must cancel, stop and join; the autouse fixture checks no thread is left
    assert not w.inference.worker.thread.isRunning()


def test_worker_error_shown_and_app_keeps_working(qtbot, make_window, folder, fake):
    fake.error = RuntimeError("boom in the model")
    w = make_window()
    with qtbot.waitSignal(w.notifier.shown, timeout=30_000,
                          check_params_cb=lambda level, text: "boom" in text):
        open_and_show(qtbot, w, folder)
    fake.error = None
    with qtbot.waitSignal(w.inference.predictionApplied, timeout=30_000):
        action(w, "actionPredict").trigger()
    assert w.doc.current.instances


def test_out_of_memory_offers_cpu_retry(qtbot, make_window, folder, fake):
    fake.error = RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    answers = Answers({"Out of memory": "Retry on CPU"})
    w = make_window(device="cuda:0", answers=answers)
    wait_model(qtbot, w)
    with qtbot.waitSignal(w.inference.modelReady, timeout=30_000) as blocker:
        open_and_show(qtbot, w, folder)
    assert "Out of memory" in answers.asked
    assert blocker.args[0].spec.device == "cpu"


def test_stale_results_are_dropped(qtbot, make_window, folder, fake):
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    wait_model(qtbot, w)
    open_and_show(qtbot, w, folder)
    fake.delay = 0.3
    applied, arrived = [], []
    w.inference.predictionApplied.connect(lambda i, n: applied.append(i))
    w.inference.worker.predicted.connect(lambda req, inst, hw: arrived.append(req.request_id))
    fake.started.clear()
    action(w, "actionPredict").trigger()  # request 1 starts on the worker
    assert fake.started.wait(30)
    with qtbot.waitSignal(w.inference.predictionApplied, timeout=30_000):
        action(w, "actionPredict").trigger()  # request 2 supersedes it
    assert len(arrived) == 2  # request 1's result did arrive...
    assert applied == [w.doc.current.id]  # ...but only request 2's was applied
    assert fake.calls == 2
    scores = sorted(i.score for i in w.doc.current.instances)
    assert scores[-1] == pytest.approx(0.9 - 2e-4)  # made by the second call


def test_model_failure_offers_choices_and_review_goes_on(qtbot, make_window, tmp_path):
    coco = make_coco(tmp_path)
    answers = Answers({"Model not available": "Review without a model"})
    w = make_window(weights="broken", answers=answers)
    with qtbot.waitSignal(w.inference.modelFailed, timeout=30_000):
        pass
    assert "Model not available" in answers.asked and w.model_label.text() == "no model"
    open_and_show(qtbot, w, coco)
    w.doc.select(w.doc.listed(w.doc.current)[0])
    action(w, "actionAccept").trigger()
    assert w.doc.listed(w.doc.current)[0].review == "accepted"


def test_bad_file_gets_a_message_and_app_keeps_running(qtbot, make_window, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": []}')
    w = make_window()
    assert not w.open_path(bad)
    level, title, text = w.notifier.history[-1]
    assert level == "error" and "bad.json" in text and "categories" in text


def test_display_controls_change_view_not_pixels(qtbot, make_window, folder):
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, folder)
    rgb = w.canvas.rgb.copy()
    before = canvas_pixel(w, 60, 60)
    w.display.gamma.setValue(300)
    w.canvas.set_display_adjust(w.display.adjust())
    assert canvas_pixel(w, 60, 60) != before
    assert np.array_equal(w.canvas.rgb, rgb)  # what the model sees is untouched


def test_settings_persist(qtbot, make_window, settings, folder):
    w = make_window()
    open_and_show(qtbot, w, folder)
    w.display.opacity.setValue(70)
    w.close()
    w2 = make_window()
    assert w2.display.opacity.value() == 70
    assert w2.prefs.recent[0] == str(folder.resolve())
    assert settings.value("device") == "cpu"


def test_image_list_filter_and_10k_rows(qtbot, make_window):
    from model.data.annotations import Dataset
    w = make_window()
    ds = Dataset(image_root="/nonexistent")
    for k in range(10_000):
        ds.add_image(f"dir/img_{k:05d}.jpg")
    w.canvas.clear_image()
    w.doc.set_dataset(ds)  # nothing is read: the files do not even exist
    view = find(w, QListView, "imageList")
    assert view.model().rowCount() == 10_000
    w.image_panel.filter_edit.setText("img_0999")
    assert view.model().rowCount() == 10  # img_09990 .. img_09999


def test_shortcuts_dialog_lists_keys(make_window):
    from app.window.action_table import shortcuts_html
    html = shortcuts_html()
    for key in ("Ctrl+S", "<b>A</b>", "<b>R</b>", "<b>D, PgDown</b>", "<b>M</b>"):
        assert key in html
    w = make_window()
    action(w, "actionShortcuts").trigger()


def test_download_progress_dialog_then_model_ready(qtbot, make_window, fake):
    from PySide6.QtWidgets import QProgressDialog
    from tests.app.conftest import FakePredictor

    def downloading(progress=None, **kw):
        for done in (0, 50_000_000, 170_000_000):
            progress(done, 170_000_000)
        return FakePredictor(fake, **kw)

    w = make_window(factory=downloading)
    with qtbot.waitSignal(w.inference.downloadProgress, timeout=30_000):
        pass
    dlg = w.findChild(QProgressDialog, "downloadDialog")
    assert dlg is not None and dlg.maximum() == 170_000_000
    wait_model(qtbot, w)
    assert w.model_controls.download_dialog is None  # closed once the model is ready


def test_drop_a_folder_opens_it(qtbot, make_window, folder):
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDropEvent
    w = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(w.inference.pixelsReady, timeout=30_000):
        w.dropEvent(event)
    assert len(w.doc.dataset.images) == 4


def test_autosave_timer_writes_recovery(qtbot, make_window, folder):
    w = make_window()
    open_and_show(qtbot, w, folder)
    wait_prediction(qtbot, w)
    w.doc.select(w.doc.listed(w.doc.current)[0])
    action(w, "actionAccept").trigger()  # a decision: now there is something to recover
    w.files.set_autosave_interval(1)
    with qtbot.waitSignal(w.session.autosaved, timeout=10_000) as blocker:
        pass
    assert blocker.args[0].endswith("recovery.json")
