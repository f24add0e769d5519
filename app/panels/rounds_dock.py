"""The Rounds view: effort per model version, live from the open session (the table is
model/effort/rounds.py's, the one `main.py report` prints), and a plot of actions per
instance across versions, which should fall as the model learns: the loop paying."""
from __future__ import annotations

from typing import Callable

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget
from shiboken6 import isValid

from model.effort.rounds import COLUMNS, Round, cells, rounds, total

from ..document.document import Document


class RoundsPanel(QWidget):
    def __init__(self, doc: Document, order: Callable[[], list[str]] = lambda: [],
                 swapped: Callable[[], list[str]] = lambda: []):
        super().__init__()
        self.setObjectName("roundsPanel")
        self.doc, self.order = doc, order
        self.swapped = swapped  # versions learning swapped in: a row each from then on
        self.rows: list[Round] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("roundsTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setToolTip("Per model version whose predictions you reviewed: images, "
                              "instances accepted as they were, edited (mean IoU from the "
                              "model's mask to yours), rejected, drawn by hand (the model's "
                              "misses), and actions (accept, reject, relabel, click, stroke, "
                              "vertex 1; box 2) per instance")
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("roundsPlot")
        self.plot.setBackground("w")
        self.plot.setMinimumHeight(80)
        self.plot.setLabel("left", "actions / instance")
        self.plot.showGrid(x=False, y=True, alpha=0.3)
        self.curve = self.plot.plot(pen=pg.mkPen("#4363d8", width=2), symbol="o",
                                    symbolBrush="#4363d8", symbolSize=7)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table, 2)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.summary)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(250)  # a burst of steps costs one refresh
        self._timer.timeout.connect(self.refresh)
        doc.undo_stack.indexChanged.connect(self.later)  # a bound slot: gone with the panel
        doc.datasetReset.connect(self.later)

    def later(self, *_args) -> None:
        """Refresh soon (when shown)."""
        if isValid(self) and self.isVisible():
            self._timer.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        """The table and the plot as the session stands now."""
        self._timer.stop()
        ds = self.doc.dataset
        entries = self.doc.effort.outcomes(ds) if ds is not None else []
        self.rows = rounds(entries, self.order(), self.swapped())
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            for c, text in enumerate(cells(row)):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        points = [(k, row.actions_per_instance) for k, row in enumerate(self.rows)
                  if row.actions_per_instance is not None]
        self.curve.setData([p[0] for p in points], [p[1] for p in points])
        self.plot.getAxis("bottom").setTicks([[(k, row.name) for k, row in
                                               enumerate(self.rows)]])
        t = total(self.rows)
        if not self.rows:
            self.summary.setText("No effort recorded yet: review, correct or draw, and it is "
                                 "counted here (kept in the dataset's state folder, "
                                 ".maskloop/, when you save).")
        else:
            api = t["actions_per_instance"]
            self.summary.setText(f"{t['images']} image(s), {t['instances']} instance(s), "
                                 f"{t['actions']} action(s)"
                                 + (f", {api:.2f} per instance" if api is not None else ""))
