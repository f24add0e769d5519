"""A new user's walkthrough (issue 18, items 27 and 29-32): a checkpoint that fails to
load keeps the working model, another dataset gets its own Training dock, decided
instances say so everywhere, broken images are marked in the list, and the small
things (fit on open, hints that end with their action, names in the weights box)."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QApplication, QLabel

from tests.app.conftest import Answers, open_and_show, wait_model
from tests.helpers import write_ckpt, write_image


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
    assert w.model_controls.weights_combo.currentData() == "fake"
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
    from model.training.versions import VersionRegistry
    w = make_window()
    wait_model(qtbot, w)
    open_and_show(qtbot, w, folder)
    state = w.session.state_dir()
    state.mkdir(parents=True, exist_ok=True)
    ckpt = state / "runs" / "v1-20250102-0930" / "model.pt"
    VersionRegistry(state).add("v1-20250102-0930", ckpt, {"status": "finished"}, {}, [])
    combo = w.model_controls.weights_combo
    with qtbot.waitSignal(w.inference.modelReady, timeout=30_000):
        w.selection.choose(weights=str(ckpt))
    assert combo.currentText() == "v1-20250102-0930" and combo.currentData() == str(ckpt)


def test_review_without_a_model_leaves_no_weights_shown(qtbot, make_window):
    answers = Answers({"Model not available": "Review without a model"})
    w = make_window(weights="broken", answers=answers)
    with qtbot.waitSignal(w.inference.modelFailed, timeout=30_000):
        pass
    qtbot.waitUntil(lambda: "Model not available" in answers.asked, timeout=5000)
    combo = w.model_controls.weights_combo
    assert combo.currentIndex() == -1 and combo.placeholderText() == "No model"


def _image_in_view(w) -> tuple[float, float, float, float]:
    """The image's rectangle in viewport pixels."""
    h, wd = w.canvas.rgb.shape[:2]
    r = w.canvas.mapFromScene(QRectF(0, 0, wd, h)).boundingRect()
    return r.left(), r.top(), r.right(), r.bottom()


def test_the_first_image_is_fitted_on_open_without_scroll_bars(qtbot, make_window, tmp_path):
    d = tmp_path / "wide"
    d.mkdir()
    write_image(d / "a.png", 120, 256)
    w = make_window()
    w.resize(1280, 800)  # the window lays its docks out after the image arrived
    w.training_dock.show()
    open_and_show(qtbot, w, d)
    vp = w.canvas.viewport()

    def fitted() -> bool:
        x0, y0, x1, y1 = _image_in_view(w)
        fills = x1 - x0 >= vp.width() - 4 or y1 - y0 >= vp.height() - 4
        return fills and x0 >= -1 and y0 >= -1 and x1 <= vp.width() + 1 \
            and y1 <= vp.height() + 1
    qtbot.waitUntil(fitted, timeout=5000)
    assert not w.canvas.horizontalScrollBar().isVisible()
    assert not w.canvas.verticalScrollBar().isVisible()
    w.training_dock.hide()  # the canvas grows: still the whole image, larger
    qtbot.waitUntil(fitted, timeout=5000)
    w.canvas.zoom_step(2)  # zoomed in by the user: scroll bars, and a resize keeps the zoom
    z = w.canvas.zoom()
    qtbot.waitUntil(w.canvas.horizontalScrollBar().isVisible, timeout=5000)
    before = w.canvas.viewport().size()
    w.resize(w.width() + 80, w.height() + 40)
    qtbot.waitUntil(lambda: w.canvas.viewport().size() != before, timeout=5000)
    assert w.canvas.zoom() == pytest.approx(z)
    w.actions_["actionFit"].trigger()
    qtbot.waitUntil(fitted, timeout=5000)
    assert not w.canvas.horizontalScrollBar().isVisible()


def test_status_hints_end_with_their_action(qtbot, make_window, tmp_path):
    from PySide6.QtGui import QTransform

    from tests.app.test_assist_tools import click, drag, key
    from tests.helpers import make_coco
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    wait_model(qtbot, w)
    open_and_show(qtbot, w, make_coco(tmp_path))
    w.canvas.setTransform(QTransform())  # 1:1: viewport pixels are image pixels
    w.canvas.centerOn(40, 32)
    bar = w.statusBar()
    w.actions_["actionNewInstance"].trigger()
    assert bar.currentMessage().startswith("Draw the new instance")
    drag(w, (60, 40), (70, 50))  # the new instance is drawn: the hint has done its job
    assert bar.currentMessage() == ""
    w.actions_["actionClickToSegment"].trigger()
    with qtbot.waitSignal(w.toolbox.assist.offerChanged, timeout=30_000):
        click(w, (10, 10))
    assert "Enter accepts" in bar.currentMessage()
    key(w, Qt.Key_Return)  # accepted: nothing is offered any more
    assert w.toolbox.assist.offered() is None and bar.currentMessage() == ""
    click(w, (20, 12))
    assert "Esc cancels" in bar.currentMessage()
    key(w, Qt.Key_Escape)
    assert bar.currentMessage() == ""
    w.toolbox.message.emit("Merged 2 instances")  # a message that is no hint stays
    w.toolbox.hint.emit("")
    assert bar.currentMessage() == "Merged 2 instances"


def test_a_warning_about_a_file_that_opened_is_a_warning(qtbot, make_window, tmp_path):
    from PySide6.QtWidgets import QMessageBox
    d = tmp_path / "yolo"
    (d / "images").mkdir(parents=True)
    (d / "labels").mkdir()
    write_image(d / "images" / "a.png", 64, 64)
    (d / "labels" / "a.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.5\n0 0.2 nan\n")
    (d / "data.yaml").write_text("names: [thing]\n")
    w = make_window()
    open_and_show(qtbot, w, d)
    level, title, text = w.notifier.history[-1]
    assert level == "warning" and "line 2" in text
    box = w.notifier._open[-1]
    assert box.icon() == QMessageBox.Warning and len(w.doc.current.instances) == 1


def test_cancelled_predict_all_counts_every_image_you_changed(qtbot, make_window, tmp_path,
                                                              fake):
    import numpy as np

    from model.data.annotations import Instance
    from model.editing.actions import insert_edit
    d = tmp_path / "ten"
    d.mkdir()
    for k in range(10):
        write_image(d / f"img{k}.png", 64, 64, seed=k)
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    wait_model(qtbot, w)
    open_and_show(qtbot, w, d)
    ds = w.doc.dataset
    for rec in ds.images[5:]:  # five images changed in this session
        inst = Instance(1, np.ones((8, 8), bool), (4, 4), id=ds.new_annotation_id())
        w.doc.push(insert_edit(rec, inst, "Draw"))
    fake.delay = 0.3
    messages = []
    w.inference.message.connect(messages.append)
    with qtbot.waitSignal(w.inference.batchProgress, timeout=30_000,
                          check_params_cb=lambda done, _t, _e: done >= 1):
        w.actions_["actionPredictAll"].trigger()
    with qtbot.waitSignal(w.inference.batchRunning, timeout=30_000):
        w.actions_["actionCancel"].trigger()
    assert any(m.startswith("5 image(s) you changed") for m in messages), messages


def test_at_1280_by_800_with_training_the_lists_and_the_loss_legend_have_room(
        qtbot, make_window, tmp_path):
    from tests.app.test_walkthrough_keys import coco
    w = make_window()
    w.resize(1280, 800)
    w._restore_settings()  # no stored layout: the default one, as on a first start
    w.resize(1280, 800)
    open_and_show(qtbot, w, coco(tmp_path))
    w.training_dock.show()
    w.training_dock.raise_()
    panel = w.training_panel
    panel.reset("Training v1")
    for i in range(1, 30):
        losses = {"loss_classifier": 1 / i, "loss_box_reg": 0.5 / i, "loss_mask": 0.7 / i,
                  "loss_objectness": 0.1 / i, "loss_rpn_box_reg": 0.05}
        panel.on_event({"event": "iter", "iteration": i, "total": 50, "images_per_s": 1.0,
                        "eta_s": 20, "losses": losses, "loss": sum(losses.values())})
    qtbot.waitUntil(lambda: w.training_panel.isVisible(), timeout=5000)
    QApplication.processEvents()
    table = w.instance_table
    assert table.viewport().height() >= 8 * table.verticalHeader().defaultSectionSize()
    legend = panel.legend
    assert legend.isVisible() and all(n in legend.text() for n in ("classifier", "mask", "total"))
    assert panel.plot.plotItem.legend is None  # nothing is drawn over the curves
    plot = panel.plot.geometry()  # the legend stands beside the plot (test_window_layout.py)
    assert not plot.intersects(legend.geometry()) and legend.geometry().left() >= plot.right()


# ---------------------------------------------------------------------- 31
@pytest.fixture
def broken(tmp_path):
    """img0 and img3 are images; img1 and img2 are not (a truncated file, a text file)."""
    d = tmp_path / "mixed"
    d.mkdir()
    for k in (0, 3):
        write_image(d / f"img{k}.png", 64, 64, seed=k)
    (d / "img1.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00")
    (d / "img2.png").write_text("not an image at all")
    return d


def _row_data(w, row, role):
    m = w.image_panel.model
    return m.data(m.index(row), role)


def test_broken_images_are_marked_in_the_list_and_said_once_in_the_status_bar(
        qtbot, make_window, broken):
    from PySide6.QtGui import QIcon

    from app.panels.image_list import DetailRole
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, broken)
    with qtbot.waitSignal(w.inference.pixelsFailed, timeout=30_000):
        w.actions_["actionNextImage"].trigger()  # img1
    assert not [h for h in w.notifier.history if h[0] == "error"]  # no dialog
    assert "img1.png" in w.statusBar().currentMessage()
    assert "cannot be read" in w.statusBar().currentMessage()
    assert w.canvas.image_id is None and "img1.png" in w.canvas.notice
    qtbot.waitUntil(lambda: _row_data(w, 2, DetailRole) == "unreadable", timeout=30_000)
    for row in (1, 2):  # img2 was found broken by the prefetch, quietly
        assert _row_data(w, row, DetailRole) == "unreadable"
        assert isinstance(_row_data(w, row, Qt.DecorationRole), QIcon)
        assert "cannot be read" in _row_data(w, row, Qt.ToolTipRole)
    assert _row_data(w, 0, DetailRole) == "0 · unreviewed"
    with qtbot.waitSignal(w.inference.pixelsReady, timeout=30_000):
        w.actions_["actionPrevImage"].trigger()
    assert w.canvas.notice == ""


def test_predict_all_marks_broken_images_without_a_dialog_each(qtbot, make_window, broken):
    from app.panels.image_list import DetailRole
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    wait_model(qtbot, w)
    with qtbot.waitSignal(w.inference.pixelsReady, timeout=30_000):
        assert w.open_path(broken)
    w.inference.pixels.prefetch = 0  # only predict-all finds the broken ones
    messages = []
    w.inference.message.connect(messages.append)
    with qtbot.waitSignal(w.inference.batchRunning, timeout=30_000,
                          check_params_cb=lambda running: not running):
        w.actions_["actionPredictAll"].trigger()
    assert not [h for h in w.notifier.history if h[0] == "error"]
    assert any(m.startswith("2 image(s) cannot be read") for m in messages), messages
    assert [_row_data(w, r, DetailRole) for r in range(4)][1:3] == ["unreadable"] * 2
    assert w.doc.dataset.images[3].instances  # the readable ones were predicted


# ---------------------------------------------------------------------- 29
def _iter_events(n: int) -> list[dict]:
    out = [{"event": "start", "iterations": n, "train_images": 3, "val_images": 1,
            "device": "cpu", "weights": "coco"}]
    for i in range(1, n + 1):
        out.append({"event": "iter", "iteration": i, "total": n, "images_per_s": 2.0,
                    "eta_s": n - i, "losses": {"loss_mask": 1 / i}, "loss": 2 / i})
    out.append({"event": "val", "epoch": 1,
                "metrics": {"bbox": {"AP": 0.5}, "segm": {"AP": 0.25}}})
    return out


def _folder(tmp_path, name: str, n: int = 2):
    d = tmp_path / name
    d.mkdir()
    for k in range(n):
        write_image(d / f"{name}{k}.png", 64, 64, seed=k)
    return d


def test_another_dataset_gets_its_own_training_dock(qtbot, make_window, tmp_path):
    import json

    from model.training.versions import VersionRegistry
    a, b = _folder(tmp_path, "a"), _folder(tmp_path, "b")
    run = b / ".maskloop" / "runs" / "v1-20250101-1200"  # b trained before
    run.mkdir(parents=True)
    (run / "model.pt").write_bytes(b"")
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in _iter_events(5))
                                      + '{"event": "done", "status": "finished", '
                                        '"iterations": 5}\nnot json\n')
    VersionRegistry(b / ".maskloop").add("v1-20250101-1200", run / "model.pt",
                                         {"status": "finished"}, {}, [])
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, a)
    panel = w.training_panel
    panel.reset("Starting v1 on a")  # a run of dataset a, shown live, then finished
    for e in _iter_events(4):
        panel.on_event(e)
    panel.on_finished({"status": "finished", "iterations": 4})
    open_and_show(qtbot, w, b)  # b's last run, from its events
    assert "v1-20250101-1200" in panel.status.text() and "b" in panel.status.text()
    assert len(panel.points["loss"][0]) == 5 and panel.table.rowCount() == 1
    assert panel.table.item(0, 2).text() == "0.250"
    open_and_show(qtbot, w, a)  # a never finished a run of its own: nothing to show
    assert panel.curves == {} and panel.table.rowCount() == 0
    assert panel.status.text().startswith("No training yet on a")


def test_a_run_of_the_dataset_before_keeps_the_dock_and_its_own_registry(
        qtbot, make_window, tmp_path):
    import json

    a, b = _folder(tmp_path, "a"), _folder(tmp_path, "b")
    answers = Answers()
    w = make_window(answers=answers)
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, a)
    ft = w.finetune
    state_a = w.session.state_dir()
    run_dir = state_a / "runs" / "v1-x"
    run_dir.mkdir(parents=True)
    write_ckpt(run_dir / "model.pt")
    w.training_panel.reset("Starting v1-x")
    ft.run = {"name": "v1-x", "dir": run_dir, "checkpoint": run_dir / "model.pt",
              "start": {}, "events": [], "state": state_a, "dataset": "a"}
    for e in _iter_events(3):
        ft._on_event(e)
    open_and_show(qtbot, w, b)  # a is still training: the dock keeps its run, named
    assert len(w.training_panel.points["loss"][0]) == 3
    assert "v1-x" in w.training_panel.status.text() and "a" in w.training_panel.status.text()
    ft._on_finished({"status": "finished", "iterations": 3})
    reg = json.loads((state_a / "models.json").read_text())
    assert [v["name"] for v in reg["versions"]] == ["v1-x"]  # a's registry, not b's
    assert not (w.session.state_dir() / "models.json").exists()
    assert "Fine-tune finished" not in answers.asked  # no offer to switch b to it
    assert w.notifier.history[-1][1] == "Fine-tune finished"
    assert w.training_panel.curves == {}  # b's dock: b has not trained
    assert len((run_dir / "events.jsonl").read_text().splitlines()) == 5


def test_a_run_whose_checkpoint_cannot_be_read_is_said_never_raised(qtbot, make_window,
                                                                      tmp_path):
    """The run's checkpoint is checked like any other on load; a refusal is an error the
    window shows, never an exception out of a Qt slot, and no version is registered."""
    a = _folder(tmp_path, "a")
    w = make_window(answers=Answers())
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, a)
    ft = w.finetune
    state = w.session.state_dir()
    run_dir = state / "runs" / "v1-x"
    run_dir.mkdir(parents=True)
    (run_dir / "model.pt").write_bytes(b"not a checkpoint")
    ft.run = {"name": "v1-x", "dir": run_dir, "checkpoint": run_dir / "model.pt",
              "start": {}, "events": [], "state": state, "dataset": "a"}
    ft._on_finished({"status": "finished", "iterations": 3})
    kind, title, text = w.notifier.history[-1][:3]
    assert title == "Training" and "v1-x" in text and "cannot be read" in text
    assert not (state / "models.json").exists()


# ---------------------------------------------------------------------- 30
def test_drawn_and_ground_truth_instances_are_decided_in_list_file_and_dialog(
        qtbot, make_window, tmp_path, monkeypatch):
    import json

    import numpy as np

    from model.data.annotations import Instance
    from model.data.coco import load_dataset
    from model.editing.actions import insert_edit
    from tests.app.test_walkthrough_keys import coco
    path = coco(tmp_path)  # two ground-truth annotations, no provenance keys
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    wait_model(qtbot, w)
    open_and_show(qtbot, w, path)
    rec = w.doc.current
    drawn = Instance(3, np.ones((6, 6), bool), (100, 70), id=w.doc.dataset.new_annotation_id())
    w.doc.push(insert_edit(rec, drawn, "Draw"))
    with qtbot.waitSignal(w.inference.predictionApplied, timeout=30_000):
        w.actions_["actionPredict"].trigger()
    model = w.instance_table.model_
    shown = {id(i): model.data(model.index(r, 4)) for r, i in enumerate(model.rows)}
    kinds = {id(i): (i.source, i.original is not None) for i in rec.instances}
    for inst in rec.instances:
        if id(inst) not in shown:
            continue  # under the score threshold
        want = "unreviewed" if inst.source == "model" else "decided"
        assert shown[id(inst)] == want, kinds[id(inst)]
    assert sorted(shown.values()).count("decided") == 3
    seen = []
    w.finetune.confirm = lambda dlg: seen.append(dlg) or False
    w.actions_["actionFineTune"].trigger()
    assert seen[0].summary.reviews["decided"] == 3
    assert seen[0].findChild(QLabel, "fineTuneInstances").text().startswith("3 decided")
    w.files.ask_save_path = lambda default: default
    assert w.save()
    anns = {a["id"]: a for a in json.loads(path.read_text())["annotations"]}
    assert anns[drawn.id]["source"] == "human" and anns[drawn.id]["review"] == "decided"
    assert "review" not in anns[1] and "source" not in anns[1]  # ground truth: as it came
    again = load_dataset(path)
    back = {i.id: i for i in again.images[0].instances}
    assert back[drawn.id].review == "unreviewed" and back[drawn.id].source == "human"
    before = path.read_text()
    from model.data.coco import save_dataset
    save_dataset(again, path)
    assert path.read_text() == before  # `decided` reads back as it was written


def test_click_to_instance_saves_the_models_detection_as_accepted(qtbot, make_window,
                                                                  tmp_path):
    import json

    from PySide6.QtGui import QTransform

    from tests.app.test_assist_tools import click
    from tests.app.test_walkthrough_keys import coco
    path = coco(tmp_path)
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    wait_model(qtbot, w)
    open_and_show(qtbot, w, path)
    w.canvas.setTransform(QTransform())
    w.canvas.centerOn(64, 48)
    rec = w.doc.current
    w.actions_["actionClickToSegment"].trigger()
    with qtbot.waitSignal(w.toolbox.assist.offerChanged, timeout=30_000):
        click(w, (100, 10))  # the fake model's 0.3 square (76..101, 9..28)
    offered = w.toolbox.assist.offered()
    click(w, (100, 10))
    made = rec.instances[-1]
    assert (made.source, made.review) == ("model", "accepted")
    assert made.score == offered.score and made.model == "fake:fake"
    model = w.instance_table.model_
    row = model.rows.index(made)
    assert model.data(model.index(row, 3)) == "model"
    assert model.data(model.index(row, 4)) == "accepted"
    w.files.ask_save_path = lambda default: default
    assert w.save()
    ann = next(a for a in json.loads(path.read_text())["annotations"] if a["id"] == made.id)
    assert (ann["source"], ann["review"], ann["model"]) == ("model", "accepted", "fake:fake")
    assert ann["score"] == pytest.approx(offered.score)
