"""Every message box goes through here, so tests can answer questions and read errors
without a modal dialog blocking the event loop."""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget


class Notifier(QObject):
    """error/warning/info are non-blocking; `ask` blocks and returns the chosen button's text."""

    shown = Signal(str, str)  # level, text

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.parent_widget = parent
        self.history: list[tuple[str, str, str]] = []  # (level, title, text)
        self._open: list[QMessageBox] = []

    def _show(self, level: str, title: str, text: str, icon) -> None:
        self.history.append((level, title, text))
        self.shown.emit(level, text)
        box = QMessageBox(icon, title, text, QMessageBox.Ok, self.parent_widget)
        box.setModal(False)
        box.finished.connect(lambda _r, b=box: self._open.remove(b) if b in self._open else None)
        self._open.append(box)
        box.open()

    def error(self, title: str, text: str) -> None:
        self._show("error", title, text, QMessageBox.Critical)

    def warning(self, title: str, text: str) -> None:
        """Something was not done or not read, and the work goes on."""
        self._show("warning", title, text, QMessageBox.Warning)

    def info(self, title: str, text: str) -> None:
        self._show("info", title, text, QMessageBox.Information)

    def ask(self, title: str, text: str, buttons: list[str], default: str | None = None) -> str | None:
        """Blocking question; returns the text of the button pressed (None: dismissed)."""
        self.history.append(("ask", title, text))
        box = QMessageBox(QMessageBox.Question, title, text, QMessageBox.NoButton, self.parent_widget)
        made = {}
        for label in buttons:
            made[box.addButton(label, QMessageBox.ActionRole)] = label
        if default is not None:
            for b, label in made.items():
                if label == default:
                    box.setDefaultButton(b)
        box.exec()
        return made.get(box.clickedButton())

    def close_all(self) -> None:
        for box in list(self._open):
            box.close()
        self._open.clear()
