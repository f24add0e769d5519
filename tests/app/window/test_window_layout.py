"""The window's docks and layout (issue 28, items 1, 2 and 9): every dock opens from its
menu item and key and comes to the front; the first window fits the screen; at
1280x800 the tab group under the instance list keeps its size whichever tab is raised,
nothing is squeezed, and the plots of one dataset do not stay when another opens.
Real key and mouse events on the real menus."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.window.docks import first_geometry
from model.data import masks as M
from tests.app.conftest import FakePredictor, open_and_show
from tests.helpers import write_image

# (dock, its action, the menu it is in, its key)
DOCKS = [("imagesDock", "actionImagesDock", "View", None),
         ("instancesDock", "actionInstancesDock", "View", None),
         ("displayDock", "actionDisplayDock", "View", None),
         ("historyDock", "actionHistory", "Edit", "Ctrl+H"),
         ("trainingDock", "actionTrainingDock", "View", None),
         ("roundsDock", "actionRounds", "Model", None),
         ("evaluationDock", "actionEvaluationDock", "View", None)]
TAB_GROUP = ("displayDock", "historyDock", "trainingDock", "roundsDock", "evaluationDock")
SCREEN_1280 = QRect(0, 0, 1280, 800)


def dock(w, name):
    return next(d for d in w.findChildren(type(w.history_dock)) if d.objectName() == name)


def in_front(d) -> bool:
    """Open and on screen: not a tab behind another."""
    return d.isVisible() and not d.visibleRegion().isEmpty()


def activate(qtbot, w) -> None:
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)


def click_menu_item(qtbot, w, menu_title, action) -> None:
    """Open the menu from the menu bar with the mouse, then click the item."""
    bar, menu = w.menuBar(), w.menus[menu_title]
    qtbot.mouseClick(bar, Qt.LeftButton, pos=bar.actionGeometry(menu.menuAction()).center())
    qtbot.waitUntil(menu.isVisible, timeout=5000)
    qtbot.mouseClick(menu, Qt.LeftButton, pos=menu.actionGeometry(action).center())
    qtbot.waitUntil(lambda: not menu.isVisible(), timeout=5000)


def coco(tmp_path, instances: int = 14):
    """One 96x128 image with `instances` small squares of two classes."""
    d = tmp_path / "data"
    d.mkdir()
    write_image(d / "img0.png", 96, 128, seed=0)
    anns = []
    for j in range(instances):
        x, y = 4 + (j % 7) * 17, 8 + (j // 7) * 40
        m = np.zeros((96, 128), bool)
        m[y:y + 12, x:x + 12] = True
        anns.append({"id": j + 1, "image_id": 1, "category_id": 1 + j % 2,
                     "segmentation": M.encode_rle(*M.tight_crop(m), 96, 128),
                     "area": 144.0, "bbox": [x, y, 12.0, 12.0], "iscrowd": 0})
    path = d / "annotations.json"
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "img0.png", "width": 128, "height": 96}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "potted plant"}, {"id": 2, "name": "traffic light"}]}))
    return path


# ------------------------------------------------------------------------ item 1
@pytest.mark.parametrize("name, action_name, menu, key", DOCKS, ids=[d[0] for d in DOCKS])
def test_every_dock_opens_in_front_from_its_menu_item_and_key(qtbot, make_window, folder,
                                                              name, action_name, menu, key):
    w = make_window()
    open_and_show(qtbot, w, folder)
    activate(qtbot, w)
    d, action = dock(w, name), w.actions_[action_name]
    assert action in w.menus[menu].actions()
    if not d.isHidden():  # open by default: the menu item closes it first
        click_menu_item(qtbot, w, menu, action)
        qtbot.waitUntil(d.isHidden, timeout=5000)
        assert not action.isChecked()
    click_menu_item(qtbot, w, menu, action)
    qtbot.waitUntil(lambda: in_front(d), timeout=5000)
    QApplication.processEvents()  # a tab landing behind another must not close it again
    assert in_front(d) and action.isChecked()
    if name in TAB_GROUP:  # behind another tab of its group, the item brings it back
        other = dock(w, "historyDock" if name != "historyDock" else "displayDock")
        other.show()
        other.raise_()
        qtbot.waitUntil(lambda: not in_front(d), timeout=5000)
        assert action.isChecked()  # still open, only behind
        click_menu_item(qtbot, w, menu, action)
        qtbot.waitUntil(lambda: in_front(d), timeout=5000)
        assert action.isChecked()
    click_menu_item(qtbot, w, menu, action)  # in front: the item closes it
    qtbot.waitUntil(d.isHidden, timeout=5000)
    assert not action.isChecked()
    if key is not None:
        activate(qtbot, w)
        QTest.keyClick(w.canvas, Qt.Key_H, Qt.ControlModifier)
        qtbot.waitUntil(lambda: in_front(d), timeout=5000)
        QApplication.processEvents()
        assert in_front(d) and action.isChecked()
    d.close()  # its own close button: the menu item follows
    assert not action.isChecked()


# ------------------------------------------------------------------------ item 2
def test_the_first_window_fits_the_available_screen():
    fit = first_geometry(SCREEN_1280)
    assert fit.width() + 16 <= 1280 and fit.height() + 48 <= 800
    assert fit.width() >= 1200 and fit.height() >= 700  # as much as the frame leaves
    assert fit.left() >= 0 and fit.top() >= 0
    panel = QRect(0, 27, 1280, 773)  # a desktop panel above: below it, inside the rest
    fit = first_geometry(panel)
    assert fit.top() >= 27 and fit.top() + fit.height() + 48 <= 800
    big = first_geometry(QRect(0, 0, 2560, 1440))  # room: the preferred size, centred
    assert big.size() == QSize(1400, 900)
    assert big.left() == (2560 - 1400 - 16) // 2 and big.top() == (1440 - 900 - 48) // 2


def test_a_window_with_fresh_settings_fits_its_screen(qtbot, settings, fake):
    from app.window.main_window import MainWindow
    w = MainWindow(settings=settings, weights="fake", device="cpu", load_model=False,
                   factory=lambda **k: FakePredictor(fake, **k))
    qtbot.addWidget(w)
    try:
        avail = w.screen().availableGeometry()
        assert avail.contains(w.geometry()), (w.geometry(), avail)
        assert w.width() <= avail.width() - 16 and w.height() <= avail.height() - 48
    finally:
        w.close()


# ------------------------------------------------------------------------ item 9
def finished_run_events():
    events = [{"event": "start", "iterations": 100, "train_images": 12, "val_images": 3,
               "device": "cpu", "weights": "coco"}]
    for i in range(1, 101):
        losses = {k: 1 / (i + j) for j, k in enumerate(
            ["loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness",
             "loss_rpn_box_reg"])}
        events.append({"event": "iter", "iteration": i, "total": 100, "images_per_s": 1.5,
                       "eta_s": 100 - i, "loss": sum(losses.values()), "losses": losses})
        if i % 25 == 0:
            events.append({"event": "val", "epoch": i // 25,
                           "metrics": {"bbox": {"AP": i / 250}, "segm": {"AP": i / 260}}})
    events.append({"event": "done", "status": "finished", "iterations": 100,
                   "best_segm_ap": 0.36,
                   "checkpoint": "/home/someone/data/.maskloop/runs/v1-20250101-1200/model.pt"})
    return events


def report(names):
    n = len(names) + 1
    rng = np.random.default_rng(0)
    curve = [1.0 - i / 150 for i in range(101)]
    return {"bbox": {"AP": 0.5}, "segm": {"AP": 0.4},
            "per_class": {nm: {"bbox": {"AP": 0.5, "AP50": 0.7, "AP75": 0.4},
                               "segm": {"AP": 0.4, "AP50": 0.6, "AP75": 0.3}} for nm in names},
            "classes": [{"id": k + 1, "name": nm, "instances": 3, "images": [1]}
                        for k, nm in enumerate(names)],
            "pr_curves": {"iou_threshold": 0.5, "recall": [i / 100 for i in range(101)],
                          "bbox": {nm: curve for nm in names}, "segm": {nm: curve for nm in names}},
            "confusion": {"iou_type": "segm", "iou_threshold": 0.5, "score_threshold": 0.5,
                          "labels": names + ["background"],
                          "category_ids": list(range(1, n)) + [None],
                          "matrix": rng.integers(0, 30, (n, n)).tolist(),
                          "images": [[[] for _ in range(n)] for _ in range(n)]}}


NAMES = ["person", "potted plant", "vase", "dining table", "cell phone", "teddy bear",
         "hair drier", "traffic light"]


@pytest.fixture
def first_1280(qtbot, settings, fake, monkeypatch):
    """A first window (no stored layout) on a 1280x800 screen."""
    import app.window.main_window as mw
    from app.window.main_window import MainWindow
    monkeypatch.setattr(mw, "first_geometry", lambda _avail: first_geometry(SCREEN_1280))
    w = MainWindow(settings=settings, weights="fake", device="cpu",
                   factory=lambda **k: FakePredictor(fake, **k))
    w.notifier.ask = lambda *a, **k: "Discard"
    qtbot.addWidget(w)
    w.actions_["actionAutoPredict"].setChecked(False)
    w.show()
    yield w
    w.close()


def rows_in_view(table) -> float:
    return table.viewport().height() / table.verticalHeader().defaultSectionSize()


def test_the_tab_group_panels_fit_the_room_the_display_panel_has(make_window):
    """Each panel of the group fits the height the group is given for Display (its
    first tab), so raising one never takes rows from the instance list."""
    w = make_window()
    limit = w.display.minimumSizeHint().height()
    for name in TAB_GROUP:
        panel = dock(w, name).widget()
        assert panel.minimumSizeHint().height() <= limit, (name, panel.minimumSizeHint())


def test_at_1280_by_800_the_instance_list_keeps_its_rows_and_nothing_is_squeezed(
        qtbot, first_1280, tmp_path):
    w = first_1280
    assert w.width() <= 1264 and w.height() <= 752
    open_and_show(qtbot, w, coco(tmp_path))
    w.training_panel.show_run(finished_run_events(),
                              "Last run on annotations.json: v1-20250101-1200 (finished, "
                              "2025-01-01T12:00:00)")
    assert w.evaluation_panel.show_report(report(NAMES), "v1-20250101-1200 on its val split")
    table = w.instance_table
    assert table.rowCount() == 14
    heights = {}
    for name, action in (("trainingDock", "actionTrainingDock"), ("roundsDock", "actionRounds"),
                         ("evaluationDock", "actionEvaluationDock"),
                         ("historyDock", "actionHistory"), ("displayDock", "actionDisplayDock")):
        w.actions_[action].trigger()
        d = dock(w, name)
        qtbot.waitUntil(lambda: in_front(d), timeout=5000)
        QApplication.processEvents()
        heights[name] = w.docks[1].height()
        assert rows_in_view(table) >= 10, (name, rows_in_view(table))
        panel = d.widget()
        assert panel.height() >= panel.minimumSizeHint().height(), name  # never squeezed
    assert len(set(heights.values())) == 1, heights  # the list's height never changes
    # the loss plot has its x-axis to itself: the legend stands beside it, the val AP
    # table on its own page
    tp = w.training_panel
    w.actions_["actionTrainingDock"].trigger()
    qtbot.waitUntil(lambda: tp.plot.isVisible(), timeout=5000)
    plot, legend = tp.plot.geometry(), tp.legend.geometry()
    assert not plot.intersects(legend) and legend.left() >= plot.right()
    assert plot.height() >= tp.plot.minimumHeight()
    assert all(n in tp.legend.text() for n in ("classifier", "mask", "total"))
    assert tp.plot.plotItem.legend is None  # nothing is drawn over the curves
    assert tp.table.rowCount() == 4


def axis_texts(plot, side) -> list[str]:
    """The tick texts the axis draws now."""
    image = QImage(10, 10, QImage.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = plot.getAxis(side).generateDrawSpecs(painter)
    finally:
        painter.end()
    return [] if specs is None else [text for _rect, _flags, text in specs[2]]


def test_confusion_columns_are_numbered_and_named_beside_the_matrix(qtbot, make_window,
                                                                     tmp_path):
    from tests.app.panels.test_evaluation_dock import show_page
    w = make_window()
    open_and_show(qtbot, w, coco(tmp_path))
    panel = w.evaluation_panel
    w.actions_["actionEvaluationDock"].trigger()
    assert panel.show_report(report(NAMES), "v1")
    show_page(qtbot, panel, "Confusion")
    qtbot.waitUntil(lambda: axis_texts(panel.cm_plot, "bottom") != [], timeout=5000)
    bottom = axis_texts(panel.cm_plot, "bottom")
    assert bottom and all(t.isdigit() for t in bottom)  # no names side by side
    fm = panel.cm_plot.fontMetrics()
    assert set(bottom) <= {str(k) for k in range(1, len(NAMES) + 2)}
    legend = panel.cm_legend.text()
    assert "1 person" in legend and "9 background" in legend
    # the cells' counts show only where a cell has room for them
    px_w, _px_h = panel.cm_plot.getViewBox().viewPixelSize()
    shown = any(t.isVisible() for t in panel._cm_texts)
    assert shown == (1 / px_w >= fm.horizontalAdvance("29") + 4)
    # a cell's tooltip names both classes
    assert panel._cell_text(1, 2) == f"2 potted plant predicted as 3 vase: " \
                                     f"{report(NAMES)['confusion']['matrix'][1][2]}"


def test_another_dataset_clears_the_plots_and_says_evaluate_works_without_fine_tuning(
        qtbot, make_window, tmp_path, folder):
    w = make_window()
    open_and_show(qtbot, w, coco(tmp_path))
    tp, ep = w.training_panel, w.evaluation_panel
    tp.show_run(finished_run_events(), "Last run on annotations.json: v1")
    assert ep.show_report(report(NAMES), "v1 on its val split")
    w.actions_["actionEvaluationDock"].trigger()
    assert axis_texts(ep.cm_plot, "left")
    open_and_show(qtbot, w, folder)  # no fine-tune, no evaluation here
    assert tp.curves == {} and tp.plot.plotItem.listDataItems() == []
    (x0, x1), (y0, y1) = tp.plot.viewRange()
    assert x1 <= 1.01 and y1 <= 1.01  # not the last run's 100 iterations and its losses
    assert tp.legend.text() == "" and tp.table.rowCount() == 0
    assert ep.pr.getPlotItem().listDataItems() == [] and ep.pr_legend.text() == ""
    assert axis_texts(ep.cm_plot, "left") == [] and axis_texts(ep.cm_plot, "bottom") == []
    assert ep.cm_legend.text() == "" and ep.table.rowCount() == 0
    title = ep.title.text()
    assert "Evaluate on done images" in title and "first" not in title


def test_suspects_mode_at_1280_shows_the_class_and_the_suspect_whole(qtbot, first_1280,
                                                                      tmp_path):
    from tests.app.panels.test_suspects import dataset
    w = first_1280
    gt, suspects = dataset(tmp_path)
    open_and_show(qtbot, w, gt)
    assert w.suspects.load(suspects)
    table = w.instance_table
    qtbot.waitUntil(lambda: table.rowCount() == 1 and w.doc.current.file_name == "b.png",
                    timeout=5000)
    QApplication.processEvents()
    fm = table.fontMetrics()
    for col in range(table.model().columnCount()):
        text = table.model().index(0, col).data()
        if text and not table.isColumnHidden(col):  # nothing shown as "…"
            assert table.columnWidth(col) >= fm.horizontalAdvance(text) + 8, (col, text)
    assert table.model().index(0, 1).data() == "square"
    assert table.viewport().width() >= sum(table.columnWidth(c) for c in range(
        table.model().columnCount()) if not table.isColumnHidden(c)) - 1  # no scrolling
    bar = w.statusBar()
    message = bar.currentMessage()
    assert message.startswith("Suspect 1/3") and "spurious" in message
    right = min(x.geometry().left() for x in (w.state_label, w.model_label) if x.isVisible())
    assert bar.fontMetrics().horizontalAdvance(message) <= right - 8  # not cut


def test_after_a_restart_the_menu_checks_say_which_docks_are_open(qtbot, make_window, folder):
    w = make_window()
    open_and_show(qtbot, w, folder)
    activate(qtbot, w)
    click_menu_item(qtbot, w, "View", w.actions_["actionImagesDock"])  # closed
    QTest.keyClick(w.canvas, Qt.Key_H, Qt.ControlModifier)  # opened
    qtbot.waitUntil(lambda: in_front(w.history_dock), timeout=5000)
    w.close()  # the layout is stored
    w2 = make_window()  # and restored before the window is shown
    assert w2.docks[0].isHidden() and not w2.actions_["actionImagesDock"].isChecked()
    assert not w2.history_dock.isHidden() and w2.actions_["actionHistory"].isChecked()
    activate(qtbot, w2)
    click_menu_item(qtbot, w2, "View", w2.actions_["actionImagesDock"])  # one click opens it
    qtbot.waitUntil(lambda: in_front(w2.docks[0]), timeout=5000)
