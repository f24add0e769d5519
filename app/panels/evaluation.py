"""The Evaluation dock: a model's per-class figures (a sortable table), its PR curves and
its confusion matrix (pyqtgraph), from an evaluation report of model/metrics/per_class.py
(a fine-tune's val split, or Model -> Evaluate on done images).

Clicking a class (a table row, or a row/column label's cell) or a confusion cell asks
the image list to list only the images concerned (`imagesChosen`). A report is data read
from a file: anything missing or malformed shows as "no evaluation", never an exception.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QLabel, QProgressBar,
                               QPushButton, QSplitter, QTableWidget, QTableWidgetItem,
                               QToolButton, QVBoxLayout, QWidget)

IOU_TYPES = ("segm", "bbox")
METRICS = ("AP", "AP50", "AP75")
COLUMNS = ["Class", "GT"] + [f"{t} {m}" for t in IOU_TYPES for m in METRICS]
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


class NumberItem(QTableWidgetItem):
    """Sorts by its number; a missing figure ('-') sorts below every number."""

    def __init__(self, value: float | int | None, digits: int = 3):
        super().__init__("-" if value is None else
                         (str(value) if isinstance(value, int) else f"{value:.{digits}f}"))
        self.value = -1.0 if value is None else float(value)
        self.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)

    def __lt__(self, other) -> bool:
        return self.value < getattr(other, "value", -1.0)


def valid_report(report) -> bool:
    """Has the keys the dock draws from, of the right kinds."""
    try:
        cm = report["confusion"]
        n = len(cm["labels"])
        return isinstance(report["classes"], list) and isinstance(report["per_class"], dict) \
            and isinstance(report["pr_curves"]["recall"], list) \
            and len(cm["matrix"]) == n and all(len(r) == n for r in cm["matrix"]) \
            and len(cm["images"]) == n and all(len(r) == n for r in cm["images"]) \
            and all(isinstance(c["name"], str) and isinstance(c["images"], list)
                    for c in report["classes"])
    except (KeyError, TypeError, IndexError):
        return False


class ConfusionImage(pg.ImageItem):
    """The matrix as an image (row r drawn at y = r from the top); a click names its cell."""

    cellClicked = None  # set by the panel: a callable (row, column)

    def mouseClickEvent(self, ev) -> None:
        if ev.button() != Qt.LeftButton or self.image is None:
            return
        pos = ev.pos()
        col, row = int(np.floor(pos.x())), int(np.floor(pos.y()))
        n = self.image.shape[0]
        if 0 <= row < n and 0 <= col < n and self.cellClicked is not None:
            ev.accept()
            self.cellClicked(row, col)


class EvaluationPanel(QWidget):
    imagesChosen = Signal(object, str)  # image ids (a list), what they are (for the filter)
    cancelRequested = Signal()  # the running evaluation's Cancel

    def __init__(self):
        super().__init__()
        self.report: dict | None = None
        self.title = QLabel("No evaluation yet: fine-tune (Model → Fine-tune…) or Model → "
                            "Evaluate on done images.")
        self.title.setWordWrap(True)
        self.title.setObjectName("evaluationTitle")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("evaluationTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.AscendingOrder)  # the report's order
        self.table.setSortingEnabled(True)
        self.table.cellClicked.connect(self._on_class_clicked)
        self.iou_type = QComboBox()
        self.iou_type.addItems(IOU_TYPES)
        self.iou_type.currentTextChanged.connect(lambda _t: self._draw_curves())
        self.pr = pg.PlotWidget(background="w")
        self.pr.setObjectName("evaluationPR")
        self.pr.setLabel("bottom", "recall")
        self.pr.setLabel("left", "precision")
        self.pr.setXRange(0, 1)
        self.pr.setYRange(0, 1.02)
        self.pr.showGrid(x=True, y=True, alpha=0.3)
        self.pr.addLegend(offset=(-10, 10))
        self.cm_plot = pg.PlotWidget(background="w")
        self.cm_plot.setObjectName("evaluationConfusion")
        self.cm_plot.setLabel("bottom", "predicted")
        self.cm_plot.setLabel("left", "ground truth")
        self.cm_plot.invertY(True)
        self.cm_plot.setAspectLocked(True)
        self.cm_image = ConfusionImage()
        self.cm_image.cellClicked = self._on_cell_clicked
        self.cm_plot.addItem(self.cm_image)
        self._cm_texts: list[pg.TextItem] = []
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"),
                                        label="share of the row", interactive=False)
        self.colorbar.setImageItem(self.cm_image, insert_in=self.cm_plot.getPlotItem())
        plots = QWidget()
        pl = QVBoxLayout(plots)
        pl.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("PR curves (IoU 0.50) of"))
        bar.addWidget(self.iou_type)
        bar.addStretch(1)
        pl.addLayout(bar)
        pl.addWidget(self.pr, 1)
        pl.addWidget(self.cm_plot, 1)
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.table)
        split.addWidget(plots)
        split.setStretchFactor(0, 1)  # the table keeps a few rows in sight
        split.setStretchFactor(1, 3)
        split.setSizes([130, 330])
        # the window gives this button Model -> Evaluate on done images
        self.evaluate_button = QToolButton()
        self.evaluate_button.setObjectName("evaluateDoneButton")
        self.evaluate_button.setToolButtonStyle(Qt.ToolButtonTextOnly)
        self.progress = QProgressBar()
        self.progress.setObjectName("evaluationProgress")
        self.progress.setFormat("evaluating %v/%m images")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("evaluationCancel")
        self.cancel_button.clicked.connect(self.cancelRequested)
        top = QHBoxLayout()
        top.addWidget(self.evaluate_button)
        top.addWidget(self.progress, 1)
        top.addWidget(self.cancel_button)
        top.addStretch(0)
        self.set_running(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(top)
        lay.addWidget(self.title)
        lay.addWidget(split, 1)

    def set_running(self, running: bool, done: int = 0, total: int = 0) -> None:
        """An evaluation's progress (images predicted so far) and its Cancel."""
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        if running:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)

    # -------------------------------------------------------------------- fill
    def clear(self, message: str) -> None:
        self.report = None
        self.title.setText(message)
        self.table.setRowCount(0)
        self.pr.clear()
        self.cm_image.clear()
        self._set_cell_texts([], np.zeros((0, 0)))

    def show_report(self, report: dict, title: str) -> bool:
        """Fill the dock; False (and a message) for a report it cannot read."""
        if not valid_report(report):
            self.clear(f"{title}: the evaluation file cannot be read")
            return False
        self.report = report
        segm = (report.get("segm") or {}).get("AP")
        self.title.setText(title + (f" · segm AP {segm:.3f}" if isinstance(segm, float) else ""))
        self._fill_table()
        has_segm = any(c is not None for c in report["pr_curves"].get("segm", {}).values())
        self.iou_type.setCurrentText("segm" if has_segm else "bbox")
        self._draw_curves()
        self._draw_confusion()
        return True

    def _fill_table(self) -> None:
        rep = self.report
        self.table.setSortingEnabled(False)  # else rows move while they are filled
        self.table.setRowCount(len(rep["classes"]))
        for r, c in enumerate(rep["classes"]):
            name = QTableWidgetItem(c["name"])
            name.setData(Qt.UserRole, c["name"])
            self.table.setItem(r, 0, name)
            self.table.setItem(r, 1, NumberItem(int(c.get("instances", 0))))
            figs = rep["per_class"].get(c["name"], {})
            for k, (t, m) in enumerate((t, m) for t in IOU_TYPES for m in METRICS):
                v = (figs.get(t) or {}).get(m)
                self.table.setItem(r, 2 + k, NumberItem(v if isinstance(v, (int, float))
                                                        else None))
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()

    def _draw_curves(self) -> None:
        self.pr.clear()
        if self.report is None:
            return
        pr = self.report["pr_curves"]
        recall = np.asarray(pr["recall"], float)
        curves = pr.get(self.iou_type.currentText()) or {}
        for k, (name, prec) in enumerate((n, p) for n, p in curves.items() if p is not None):
            if len(prec) != len(recall):
                continue
            self.pr.plot(recall, np.asarray(prec, float), name=name,
                         pen=pg.mkPen(PALETTE[k % len(PALETTE)], width=2))

    def _draw_confusion(self) -> None:
        cm = self.report["confusion"]
        m = np.asarray(cm["matrix"], float)
        rows = m.sum(1, keepdims=True)
        share = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
        # ImageItem is column-major (x first): transpose so row r is drawn at y = r
        self.cm_image.setImage(share.T, levels=(0, 1))
        self.cm_image.setColorMap(pg.colormap.get("viridis"))
        n = len(cm["labels"])
        ticks = [[(i + 0.5, lab) for i, lab in enumerate(cm["labels"])]]
        self.cm_plot.getAxis("bottom").setTicks(ticks)
        self.cm_plot.getAxis("left").setTicks(ticks)
        self.cm_plot.setRange(xRange=(0, n), yRange=(0, n), padding=0.02)
        self._set_cell_texts(cm["labels"], m, share)

    def _set_cell_texts(self, labels: list, m: np.ndarray, share=None) -> None:
        for t in self._cm_texts:
            self.cm_plot.removeItem(t)
        self._cm_texts = []
        if len(labels) > 25:  # too small to read; the tooltip of a click says it
            return
        for r in range(len(labels)):
            for c in range(len(labels)):
                ink = QColor(20, 20, 20) if share[r, c] > 0.6 else QColor(255, 255, 255)
                t = pg.TextItem(str(int(m[r, c])), color=ink, anchor=(0.5, 0.5))
                t.setPos(c + 0.5, r + 0.5)
                self.cm_plot.addItem(t)
                self._cm_texts.append(t)

    # ------------------------------------------------------------------ clicks
    def _on_class_clicked(self, row: int, _col: int) -> None:
        item = self.table.item(row, 0)
        if item is None or self.report is None:
            return
        self.choose_class(item.data(Qt.UserRole))

    def choose_class(self, name: str) -> None:
        for c in self.report["classes"]:
            if c["name"] == name:
                self.imagesChosen.emit([int(i) for i in c["images"]], f"class {name}")
                return

    def _on_cell_clicked(self, row: int, col: int) -> None:
        if self.report is None:
            return
        cm = self.report["confusion"]
        ids = [int(i) for i in cm["images"][row][col]]
        truth, pred = cm["labels"][row], cm["labels"][col]
        self.imagesChosen.emit(ids, f"{truth} predicted as {pred}")
