"""Ctrl+K: the type-ahead class picker as a popup with its own keyboard focus.

A popup window takes every key while it is open, so typing a class name never
reaches the window's single-key shortcuts (b is not Brush, r is not Reject here).
Typing filters the classes (names that start with the text first, then names that
contain it, case-insensitive); Up / Down move the highlight; Enter picks the single
or highlighted match; Esc or a click elsewhere cancels. The window gives the focus
back to the canvas when it closes (`closed`).
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal
from PySide6.QtWidgets import (QFrame, QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout,
                               QWidget)

from model.data.annotations import Category

from .categories import swatch

ROWS = 10  # rows shown before the list scrolls


def ranked(categories: list[Category], text: str) -> list[Category]:
    """The classes matching `text`: prefix matches first, then the rest that contain
    it, each group in the dataset's order."""
    t = text.strip().lower()
    if not t:
        return list(categories)
    starts = [c for c in categories if c.name.lower().startswith(t)]
    inside = [c for c in categories if t in c.name.lower() and c not in starts]
    return starts + inside


class ClassPopup(QFrame):
    picked = Signal(int)  # category id
    closed = Signal()

    def __init__(self, parent: QWidget):
        super().__init__(parent, Qt.Popup)
        self.setObjectName("classPopup")
        self.setFrameShape(QFrame.StyledPanel)
        self.categories: list[Category] = []
        self.title = QLabel("")
        self.title.setObjectName("classPopupTitle")
        self.edit = QLineEdit(placeholderText="Type a class name…")
        self.edit.setObjectName("classPopupFilter")
        self.list = QListWidget()
        self.list.setObjectName("classPopupList")
        self.list.setFocusPolicy(Qt.NoFocus)  # the keys stay in the text field
        self.empty = QLabel("No class matches")
        self.empty.setEnabled(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        for w in (self.title, self.edit, self.list, self.empty):
            lay.addWidget(w)
        self.edit.textChanged.connect(self._filter)
        self.edit.installEventFilter(self)
        self.list.itemClicked.connect(lambda item: self._pick(item.data(Qt.UserRole)))

    def popup(self, categories: list[Category], title: str, current: int | None,
              anchor: QWidget) -> None:
        """Show over the top of `anchor` with the keyboard focus in the text field."""
        self.categories = list(categories)
        self.title.setText(title)
        self.edit.clear()
        self._filter("")
        row = next((k for k, c in enumerate(self.categories) if c.id == current), 0)
        self.list.setCurrentRow(row)
        fm = self.fontMetrics()
        width = max(260, min(420, max((fm.horizontalAdvance(c.name) for c in categories),
                                      default=0) + 80))
        rows = min(ROWS, max(1, len(categories)))
        self.list.setFixedHeight(rows * (fm.height() + 6) + 6)
        self.setFixedWidth(width)
        self.adjustSize()
        top = anchor.mapToGlobal(QPoint((anchor.width() - width) // 2, 24))
        self.move(top)
        self.show()
        self.activateWindow()
        self.edit.setFocus(Qt.PopupFocusReason)

    def _filter(self, text: str) -> None:
        self.list.clear()
        for cat in ranked(self.categories, text):
            item = QListWidgetItem(swatch(cat), cat.name)
            item.setData(Qt.UserRole, cat.id)
            self.list.addItem(item)
        self.list.setCurrentRow(0 if self.list.count() else -1)
        self.empty.setVisible(self.list.count() == 0)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.edit and event.type() == QEvent.KeyPress:
            key, n = event.key(), self.list.count()
            if key in (Qt.Key_Up, Qt.Key_Down, Qt.Key_PageUp, Qt.Key_PageDown) and n:
                step = {Qt.Key_Up: -1, Qt.Key_Down: 1, Qt.Key_PageUp: -ROWS,
                        Qt.Key_PageDown: ROWS}[key]
                self.list.setCurrentRow(min(max(self.list.currentRow() + step, 0), n - 1))
                return True
            if key in (Qt.Key_Return, Qt.Key_Enter):
                item = self.list.currentItem()
                if item is not None:
                    self._pick(item.data(Qt.UserRole))
                return True  # nothing matches: stay open, the text can be changed
            if key == Qt.Key_Escape:
                self.close()
                return True
        return super().eventFilter(obj, event)

    def _pick(self, category_id: int) -> None:
        self.close()
        self.picked.emit(category_id)

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.closed.emit()
