"""The Evaluation dock: filled from a report (a fine-tune's OUT.eval.json) or by Model ->
Evaluate on done images (a worker with its own model; Cancel, a new dataset, images the
model was trained on), sortable, and a click on a class or a confusion cell filters the
image list (real key and mouse events)."""
from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPoint, Qt

from tests.app.conftest import FakePredictor, open_and_show, wait_model
from tests.helpers import write_image


def report_for(ids):
    """cat: on images 0 and 1; dog: on image 2, once called a cat (image 2)."""
    a, b, c, _d = ids
    curve = [1.0] * 60 + [0.0] * 41
    return {
        "bbox": {"AP": 0.5}, "segm": {"AP": 0.4},
        "per_class": {"cat": {"bbox": {"AP": 0.7, "AP50": 0.9, "AP75": 0.6},
                              "segm": {"AP": 0.6, "AP50": 0.8, "AP75": 0.5}},
                      "dog": {"bbox": {"AP": 0.2, "AP50": 0.3, "AP75": 0.1},
                              "segm": {"AP": 0.1, "AP50": 0.2, "AP75": None}}},
        "classes": [{"id": 1, "name": "cat", "instances": 3, "images": [a, b]},
                    {"id": 2, "name": "dog", "instances": 1, "images": [c]}],
        "pr_curves": {"iou_threshold": 0.5, "recall": [i / 100 for i in range(101)],
                      "bbox": {"cat": curve, "dog": curve}, "segm": {"cat": curve, "dog": None}},
        "confusion": {"iou_type": "segm", "iou_threshold": 0.5, "score_threshold": 0.5,
                      "labels": ["cat", "dog", "background"], "category_ids": [1, 2, None],
                      "matrix": [[3, 0, 0], [1, 0, 0], [0, 0, 0]],
                      "images": [[[a, b], [], []], [[c], [], []], [[], [], []]]}}


def window_with_images(qtbot, make_window, tmp_path, **kw):
    d = tmp_path / "imgs"
    d.mkdir()
    for k in range(4):
        write_image(d / f"{k}.png", 64, 64, seed=k)
    w = make_window(**kw)
    wait_model(qtbot, w)
    open_and_show(qtbot, w, d)
    w.evaluation_dock.show()
    w.evaluation_dock.raise_()
    return w


def listed_ids(w):
    p = w.image_panel.proxy
    return sorted(w.doc.dataset.images[p.mapToSource(p.index(r, 0)).row()].id
                  for r in range(p.rowCount()))


def show_page(qtbot, panel, title):
    """Click the dock's page tab (Classes, PR curves, Confusion)."""
    bar = panel.pages.tabBar()
    index = next(i for i in range(bar.count()) if bar.tabText(i) == title)
    qtbot.mouseClick(bar, Qt.LeftButton, pos=bar.tabRect(index).center())
    qtbot.waitUntil(lambda: panel.pages.currentIndex() == index)


def click_table_row(qtbot, table, row):
    rect = table.visualItemRect(table.item(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.LeftButton, pos=rect.center())


def test_dock_filled_from_a_run_report_and_sortable(qtbot, make_window, tmp_path):
    w = window_with_images(qtbot, make_window, tmp_path)
    ids = [r.id for r in w.doc.dataset.images]
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.eval.json").write_text(json.dumps(report_for(ids)))
    assert w.evaluation.show_checkpoint(run / "model.pt", "v1 on its val split")
    t = w.evaluation_panel.table
    assert t.rowCount() == 2
    assert [t.item(r, 0).text() for r in range(2)] == ["cat", "dog"]
    assert t.item(1, 4).text() == "-"  # dog's segm AP75: none
    assert "v1" in w.evaluation_panel.title.text()
    # sort by segm AP, ascending, by clicking its header
    header = t.horizontalHeader()
    x = header.sectionViewportPosition(2) + header.sectionSize(2) // 2
    qtbot.mouseClick(header.viewport(), Qt.LeftButton, pos=QPoint(x, header.height() // 2))
    qtbot.waitUntil(lambda: t.item(0, 0).text() == "dog")
    assert len(w.evaluation_panel.pr.getPlotItem().listDataItems()) == 1  # dog has no segm curve
    # a malformed report shows as none, without an exception
    (run / "model.eval.json").write_text('{"classes": 3}')
    assert not w.evaluation.show_checkpoint(run / "model.pt", "v1")
    assert t.rowCount() == 0


def test_clicking_a_class_filters_the_image_list(qtbot, make_window, tmp_path):
    w = window_with_images(qtbot, make_window, tmp_path)
    ids = [r.id for r in w.doc.dataset.images]
    assert w.evaluation_panel.show_report(report_for(ids), "test")
    t = w.evaluation_panel.table
    click_table_row(qtbot, t, 1)  # dog
    qtbot.waitUntil(lambda: listed_ids(w) == [ids[2]])
    assert w.image_panel.id_filter_bar.isVisible()
    assert "dog" in w.image_panel.id_filter_label.text()
    qtbot.waitUntil(lambda: w.doc.current.id == ids[2])  # the image shown is one listed
    click_table_row(qtbot, t, 0)  # cat
    qtbot.waitUntil(lambda: listed_ids(w) == sorted(ids[:2]))
    clear = w.image_panel.findChild(type(w.image_panel.id_filter_bar.children()[-1]),
                                    "clearImageIdFilter")
    qtbot.mouseClick(clear, Qt.LeftButton)
    qtbot.waitUntil(lambda: listed_ids(w) == sorted(ids))
    assert not w.image_panel.id_filter_bar.isVisible()


def test_clicking_a_confusion_cell_filters_the_image_list(qtbot, make_window, tmp_path):
    w = window_with_images(qtbot, make_window, tmp_path)
    ids = [r.id for r in w.doc.dataset.images]
    panel = w.evaluation_panel
    assert panel.show_report(report_for(ids), "test")
    show_page(qtbot, panel, "Confusion")
    view = panel.cm_plot

    def laid_out():  # the whole matrix is on screen (the view has taken its range)
        vp = view.viewport().rect()
        return view.isVisible() and all(
            vp.contains(view.mapFromScene(panel.cm_image.mapToScene(x, y)))
            for x, y in ((0.1, 0.1), (2.9, 2.9)))
    qtbot.waitUntil(laid_out)

    def click_cell(row, col):
        scene = panel.cm_image.mapToScene(col + 0.5, row + 0.5)
        pos = view.mapFromScene(scene)
        qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=pos)

    click_cell(1, 0)  # dog predicted as cat
    qtbot.waitUntil(lambda: listed_ids(w) == [ids[2]])
    assert "dog predicted as cat" in w.image_panel.id_filter_label.text()
    click_cell(0, 0)
    qtbot.waitUntil(lambda: listed_ids(w) == sorted(ids[:2]))


# ------------------------------------------------------- Model -> Evaluate on done images

def mark_done_with_the_key(qtbot, w, n):
    """Wait for each image's predictions, then press M (accept what is shown, mark done)."""
    for _ in range(n):
        rec = w.doc.current
        qtbot.waitUntil(lambda r=rec: len(r.instances) == 3, timeout=30_000)
        w.canvas.setFocus()
        qtbot.keyClick(w.canvas, Qt.Key_M)
        assert rec.status == "done"


def test_evaluate_on_done_images_fills_the_dock_from_the_worker(qtbot, make_window, tmp_path):
    w = window_with_images(qtbot, make_window, tmp_path)
    mark_done_with_the_key(qtbot, w, 2)
    done = [r.id for r in w.doc.dataset.images if r.status == "done"]
    w.evaluation_dock.hide()
    panel = w.evaluation_panel
    action = w.actions_["actionEvaluateDone"]
    assert action in w.menus["Model"].actions()
    with qtbot.waitSignal(w.evaluation.ended, timeout=30_000) as blocker:
        action.trigger()
        assert w.evaluation_dock.isVisible()  # shown as it starts, with its progress
        assert panel.progress.isVisible() and panel.cancel_button.isVisible()
    outcome, report = blocker.args
    assert outcome == "finished" and not w.notifier.history  # nothing left out
    assert sorted(i for c in report["classes"] for i in c["images"]) == sorted(done * 2)
    assert not panel.progress.isVisible() and not w.evaluation.running
    # the fake predicts the squares it predicted before: the accepted ones are found exactly;
    # its 0.3 cat (below the threshold, not accepted) is a false positive behind them
    t = panel.table
    rows = {t.item(r, 0).text(): r for r in range(t.rowCount())}
    assert set(rows) == {"cat", "dog"}
    for name in ("cat", "dog"):
        assert t.item(rows[name], 1).text() == "2"  # GT instances
        assert t.item(rows[name], 2).text() == "1.000"  # segm AP
    assert "2 done images" in panel.title.text() and "fake:fake" in panel.title.text()
    # the classes filter the image list to the done images
    click_table_row(qtbot, t, rows["dog"])
    qtbot.waitUntil(lambda: listed_ids(w) == sorted(done))


def test_evaluate_says_why_when_no_image_is_done(qtbot, make_window, tmp_path):
    w = window_with_images(qtbot, make_window, tmp_path)
    assert not w.evaluation.evaluate_done()
    level, title, text = w.notifier.history[-1]
    assert level == "info" and "marked done" in text
    assert not w.evaluation.running


def test_cancel_stops_a_running_evaluation(qtbot, make_window, fake, tmp_path):
    w = window_with_images(qtbot, make_window, tmp_path)
    mark_done_with_the_key(qtbot, w, 1)
    fake.delay = 60.0  # each image would take a minute: only a real cancel ends it soon
    panel = w.evaluation_panel
    with qtbot.waitSignal(w.evaluation.ended, timeout=10_000,
                          check_params_cb=lambda outcome, _r: outcome == "cancelled"):
        assert w.evaluation.evaluate_done()
        qtbot.mouseClick(panel.cancel_button, Qt.LeftButton)
    assert not panel.progress.isVisible() and not w.evaluation.running
    assert panel.report is None or "done image" not in panel.title.text()
    fake.delay = 0.0


def test_a_new_dataset_drops_a_running_evaluation(qtbot, make_window, fake, tmp_path):
    w = window_with_images(qtbot, make_window, tmp_path)
    mark_done_with_the_key(qtbot, w, 1)
    fake.delay = 60.0
    job = None
    with qtbot.waitSignal(w.evaluation.ended, timeout=10_000,
                          check_params_cb=lambda outcome, _r: outcome == "cancelled"):
        assert w.evaluation.evaluate_done()
        job = w.evaluation.job
        other = tmp_path / "other"
        other.mkdir()
        write_image(other / "x.png", 64, 64, seed=9)
        assert w.open_path(other)  # the job is still on its first image: only cancel ends it
    assert not w.evaluation.running and not w.evaluation_panel.progress.isVisible()
    qtbot.waitUntil(lambda: not w.evaluation.worker.busy)  # the worker has returned
    assert job.cancel.is_set()
    fake.delay = 0.0


@pytest.mark.parametrize("trained, evaluated, said", [
    ({"0.png"}, 1, "1 done image it was not trained on (1 it was trained on left out)"),
    ({"0.png", "1.png"}, 2, "2 done images, all in its training set: these figures flatter it"),
])
def test_images_the_model_was_trained_on_are_left_out_or_flagged(qtbot, make_window, fake,
                                                                 tmp_path, trained, evaluated,
                                                                 said):
    class Trained(FakePredictor):
        trained_on = frozenset(trained)

    w = window_with_images(qtbot, make_window, tmp_path,
                           factory=lambda **k: Trained(fake, **k))
    mark_done_with_the_key(qtbot, w, 2)
    with qtbot.waitSignal(w.evaluation.ended, timeout=30_000) as blocker:
        assert w.evaluation.evaluate_done()
    outcome, report = blocker.args
    assert outcome == "finished"
    names = {r.id: r.file_name for r in w.doc.dataset.images}
    used = {names[i] for c in report["classes"] for i in c["images"]}
    assert len(used) == evaluated and (used.isdisjoint(trained) or evaluated == 2)
    assert said in w.evaluation_panel.title.text()


def test_an_image_whose_file_name_leaves_the_folder_is_left_out_and_named(qtbot, make_window,
                                                                          tmp_path):
    """file_name is data: '../outside.png' is never opened, even to evaluate a model."""
    (tmp_path / "set").mkdir()
    write_image(tmp_path / "set" / "in.png", 64, 64, seed=1)
    write_image(tmp_path / "outside.png", 64, 64, seed=2)
    box = {"segmentation": [[4, 4, 30, 4, 30, 30, 4, 30]], "area": 676.0,
           "bbox": [4.0, 4.0, 26.0, 26.0], "iscrowd": 0, "category_id": 1}
    coco = tmp_path / "set" / "coco.json"
    coco.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "in.png", "width": 64, "height": 64, "status": "done"},
                   {"id": 2, "file_name": "../outside.png", "width": 64, "height": 64,
                    "status": "done"}],
        "annotations": [dict(box, id=1, image_id=1), dict(box, id=2, image_id=2)],
        "categories": [{"id": 1, "name": "cat"}]}))
    w = make_window()
    wait_model(qtbot, w)
    assert w.open_path(coco)
    w.notifier.history.clear()
    with qtbot.waitSignal(w.evaluation.ended, timeout=30_000) as blocker:
        assert w.evaluation.evaluate_done()
    assert blocker.args[0] == "finished"
    assert [c["images"] for c in blocker.args[1]["classes"] if c["name"] == "cat"] == [[1]]
    level, title, text = w.notifier.history[-1]
    assert level == "warning" and "../outside.png" in text
    assert "1 left out: cannot be read" in w.evaluation_panel.title.text()


def test_every_class_curve_has_its_own_colour(qtbot, make_window, tmp_path):
    """Past ten classes the palette used to start again: class 11 drew as class 1."""
    w = window_with_images(qtbot, make_window, tmp_path)
    report = report_for([r.id for r in w.doc.dataset.images])
    names = [f"class{k}" for k in range(14)]
    curve = report["pr_curves"]["segm"]["cat"]
    report["pr_curves"]["segm"] = {n: curve for n in names}
    assert w.evaluation_panel.show_report(report, "fourteen classes")
    items = w.evaluation_panel.pr.getPlotItem().listDataItems()
    colours = [item.opts["pen"].color().name() for item in items]
    assert len(items) == 14 and len(set(colours)) == 14
    legend = w.evaluation_panel.pr_legend.text()
    assert all(c in legend for c in colours)  # the legend says which is which
