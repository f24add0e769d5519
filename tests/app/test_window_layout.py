"""The window's docks and layout (issue 28, items 1 and 2): every dock opens from its
menu item and key and comes to the front; the first window fits the screen.
Real key and mouse events on the real menus."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QRect, QSize, Qt
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
