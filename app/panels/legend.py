"""A plot's legend as a column of its own beside the plot: drawn inside a pyqtgraph
plot it hid the curves, and under one it needs a height a narrow dock does not have.
It scrolls when the entries outgrow the plot, so a long list never makes the dock taller."""
from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QScrollArea, QWidget

MAX_NAME = 18  # characters of a name shown; the whole name is in the tooltip


def short(name: str, limit: int = MAX_NAME) -> str:
    return name if len(name) <= limit else name[:limit - 1] + "…"


class LegendColumn(QScrollArea):
    def __init__(self, name: str):
        super().__init__()
        self.setObjectName(name)
        self.label = QLabel("")
        self.label.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        self.label.setTextFormat(Qt.RichText)
        self.setWidget(self.label)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setMinimumHeight(self.fontMetrics().lineSpacing() * 2)

    def set_entries(self, entries: list[tuple[str | None, str]]) -> None:
        """(colour as '#rrggbb' or None, text) one a line; long texts are shortened."""
        self.label.setText("<br>".join(
            (f'<span style="color:{c}">&#9632;</span>&nbsp;' if c else "") + escape(short(t))
            for c, t in entries))
        self.label.setToolTip("\n".join(t for _c, t in entries))
        width = self.label.sizeHint().width() + self.verticalScrollBar().sizeHint().width()
        self.setFixedWidth(width if entries else 0)

    def text(self) -> str:
        return self.label.text()


def with_legend(plot: QWidget, legend: LegendColumn, parent: QWidget | None = None,
                top: int = 0) -> QHBoxLayout:
    """The plot, taking the width, and its legend column on its right: in `parent` (as
    its layout) or, with none, a layout to add."""
    row = QHBoxLayout(parent) if parent is not None else QHBoxLayout()
    if parent is not None:
        row.setContentsMargins(0, top, 0, 0)
    row.addWidget(plot, 1)
    row.addWidget(legend)
    return row
