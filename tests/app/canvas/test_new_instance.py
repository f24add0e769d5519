"""N (New instance) is disarmed, and its status hint goes, when V selects or Esc cancels
(issue 28, item 8); real key events through the window's shortcuts."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTransform
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from tests.app.conftest import open_and_show
from tests.app.canvas.test_assist_tools import drag
from tests.helpers import make_coco

HINT = "Draw the new instance"


@pytest.fixture
def win(qtbot, make_window, tmp_path):
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, make_coco(tmp_path))
    w.canvas.setTransform(QTransform())  # 1:1: viewport pixels are image pixels
    w.canvas.centerOn(40, 32)
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)
    w.canvas.setFocus()
    return w


@pytest.mark.parametrize("key", [Qt.Key_V, Qt.Key_Escape], ids=["V", "Esc"])
def test_v_and_esc_disarm_new_instance_and_end_its_hint(win, key):
    w, bar = win, win.statusBar()
    QTest.keyClick(w.canvas, Qt.Key_N)
    assert w.toolbox.drawing.new_armed and bar.currentMessage().startswith(HINT)
    QTest.keyClick(w.canvas, key)
    assert not w.toolbox.drawing.new_armed
    assert bar.currentMessage() == ""


def test_after_esc_the_brush_paints_into_the_selection_again(win):
    w = win
    rec = w.doc.current
    QTest.keyClick(w.canvas, Qt.Key_N)  # the brush, armed for a new instance
    assert w.actions_["actionBrush"].isChecked()
    QTest.keyClick(w.canvas, Qt.Key_Escape)  # changed my mind
    target = rec.instances[0]
    w.doc.select(target)
    count, area = len(rec.instances), int(target.mask.sum())
    x, y = target.offset
    drag(w, (x + 1, y + 1), (x + 6, y + 1))  # a stroke from inside the selected instance
    assert len(rec.instances) == count  # no new instance
    assert w.doc.selected is target and int(target.mask.sum()) >= area
