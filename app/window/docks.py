"""The docks' menu actions, and the size of a first window.

Display, History, Training, Rounds and Evaluation share one tab group under the
instance list, where a dock that is shown can still be a tab behind another. So an
action that opens a dock also raises it, and its check mark says whether the dock is
open (the dock's own toggleViewAction, which follows show and hide), never whether its
tab is in front: following `visibilityChanged` once unchecked the action the moment
the new tab landed behind Display, and that closed the dock it had just opened."""
from __future__ import annotations

from PySide6.QtCore import QRect, QSize
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget

PREFERRED_SIZE = QSize(1400, 900)  # a first window on a screen with room for it
# the title bar and borders a window manager adds around the window (unknown until the
# window is shown): a first window leaves this much of the available area free
FRAME_ALLOWANCE = QSize(16, 48)


def show_dock(dock: QDockWidget) -> None:
    """Open the dock and bring its tab to the front."""
    dock.show()
    dock.raise_()


def behind(dock: QDockWidget) -> bool:
    """Open, but another tab of its group is in front of it."""
    return not dock.isHidden() and dock.visibleRegion().isEmpty()


def bind_dock(dock: QDockWidget, action: QAction) -> None:
    """Checking the action opens and raises the dock; unchecking it closes the dock,
    unless the dock was only behind another tab: then it comes to the front."""
    action.setCheckable(True)
    sync_check(dock, action)

    def toggled(on: bool) -> None:
        if on:
            show_dock(dock)
        elif behind(dock):
            action.setChecked(True)  # asked for again: shown, not closed
        else:
            dock.hide()

    action.toggled.connect(toggled)
    dock.toggleViewAction().toggled.connect(action.setChecked)  # its close button, a layout


def sync_check(dock: QDockWidget, action: QAction) -> None:
    """The check mark as the dock is, without opening or closing anything: a stored
    layout restored before the window is shown hides docks without telling anyone."""
    action.blockSignals(True)
    action.setChecked(not dock.isHidden())
    action.blockSignals(False)


def first_geometry(available: QRect, preferred: QSize = PREFERRED_SIZE,
                   frame: QSize = FRAME_ALLOWANCE) -> QRect:
    """The first window (no stored geometry): the preferred size where the screen has
    room for it and its frame, else as much of the available area as the frame leaves,
    centred. The returned rectangle is the window's frame position and its inner size."""
    w = max(1, min(preferred.width(), available.width() - frame.width()))
    h = max(1, min(preferred.height(), available.height() - frame.height()))
    x = available.x() + max(0, (available.width() - w - frame.width()) // 2)
    y = available.y() + max(0, (available.height() - h - frame.height()) // 2)
    return QRect(x, y, w, h)
