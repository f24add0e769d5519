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
                               QPushButton, QTableWidget, QTableWidgetItem, QTabWidget,
                               QToolButton, QVBoxLayout, QWidget)

from ..colors import color_for
from .legend import LegendColumn, with_legend

IOU_TYPES = ("segm", "bbox")
METRICS = ("AP", "AP50", "AP75")
COLUMNS = ["Class", "GT"] + [f"{t} {m}" for t in IOU_TYPES for m in METRICS]
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def curve_color(k: int) -> tuple[int, int, int]:
    """The k-th class's curve: the ten familiar plot colours, then hues of their own (a
    repeat would make the 11th class read as the 1st)."""
    return PALETTE[k] if k < len(PALETTE) else color_for(k)


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


def class_ticks(n: int) -> list[list[tuple[float, str]]]:
    """Tick labels 1..n at the cells' centres, as two levels: every step-th always,
    the others only where pyqtgraph finds room (tick text cannot be rotated, and names
    side by side ran into each other; the legend beside the matrix names the numbers)."""
    step = max(1, -(-n // 8))
    first = [(i + 0.5, str(i + 1)) for i in range(n) if i % step == 0]
    rest = [(i + 0.5, str(i + 1)) for i in range(n) if i % step]
    return [first, rest]


class ConfusionImage(pg.ImageItem):
    """The matrix as an image (row r drawn at y = r from the top); a click names its cell,
    and the tooltip says which classes it counts."""

    cellClicked = None  # set by the panel: a callable (row, column)
    cellText = None  # set by the panel: a callable (row, column) -> tooltip

    def _cell(self, pos) -> tuple[int, int] | None:
        if self.image is None:
            return None
        col, row = int(np.floor(pos.x())), int(np.floor(pos.y()))
        n = self.image.shape[0]
        return (row, col) if 0 <= row < n and 0 <= col < n else None

    def mouseClickEvent(self, ev) -> None:
        if ev.button() != Qt.LeftButton:
            return
        cell = self._cell(ev.pos())
        if cell is not None and self.cellClicked is not None:
            ev.accept()
            self.cellClicked(*cell)

    def hoverEvent(self, ev) -> None:
        cell = None if ev.isExit() else self._cell(ev.pos())
        self.setToolTip(self.cellText(*cell) if cell is not None and self.cellText else "")


NO_EVALUATION = ("No evaluation yet: Model → Evaluate on done images measures the model in "
                 "use; a fine-tune shows its own here when it ends.")


class EvaluationPanel(QWidget):
    imagesChosen = Signal(object, str)  # image ids (a list), what they are (for the filter)
    cancelRequested = Signal()  # the running evaluation's Cancel

    def __init__(self):
        super().__init__()
        self.report: dict | None = None
        self.title = QLabel(NO_EVALUATION)
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
        self.pr.setMinimumHeight(80)
        self.pr.setLabel("bottom", "recall")
        self.pr.setLabel("left", "precision")
        self.pr.showGrid(x=True, y=True, alpha=0.3)
        self.pr_legend = LegendColumn("evaluationPRLegend")
        self.cm_plot = pg.PlotWidget(background="w")
        self.cm_plot.setObjectName("evaluationConfusion")
        self.cm_plot.setMinimumHeight(80)
        self.cm_plot.setLabel("bottom", "predicted")
        self.cm_plot.setLabel("left", "ground truth")
        self.cm_plot.invertY(True)
        self.cm_plot.setAspectLocked(True)
        self.cm_plot.setToolTip("Rows: ground truth; columns: predicted; colour: the share of "
                                "the row. Click a cell to list its images.")
        self.cm_image = ConfusionImage()
        self.cm_image.cellClicked = self._on_cell_clicked
        self.cm_image.cellText = self._cell_text
        self.cm_plot.addItem(self.cm_image)
        self._cm_texts: list[pg.TextItem] = []
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"),
                                        interactive=False, width=12)
        self.colorbar.setImageItem(self.cm_image, insert_in=self.cm_plot.getPlotItem())
        self.cm_legend = LegendColumn("evaluationConfusionLegend")
        self.cm_plot.getViewBox().sigResized.connect(self._fit_cell_texts)
        self.cm_plot.getViewBox().sigRangeChanged.connect(self._fit_cell_texts)
        self._reset_plots()
        curves = QWidget()
        cl = QVBoxLayout(curves)
        cl.setContentsMargins(0, 2, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("At IoU 0.50, of"))
        bar.addWidget(self.iou_type)
        bar.addStretch(1)
        cl.addLayout(bar)
        cl.addLayout(with_legend(self.pr, self.pr_legend), 1)
        confusion = QWidget()
        with_legend(self.cm_plot, self.cm_legend, confusion, top=2)
        # one page at a time, each with the dock's whole height: in a narrow column under
        # the instance list, three figures stacked left each one too small to read
        self.pages = QTabWidget()
        self.pages.setObjectName("evaluationPages")
        self.pages.setDocumentMode(True)
        self.pages.addTab(self.table, "Classes")
        self.pages.addTab(curves, "PR curves")
        self.pages.addTab(confusion, "Confusion")
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
        lay.addWidget(self.pages, 1)

    def set_running(self, running: bool, done: int = 0, total: int = 0) -> None:
        """An evaluation's progress (images predicted so far) and its Cancel."""
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        if running:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)

    # -------------------------------------------------------------------- fill
    def clear(self, message: str) -> None:
        """No report: nothing of the one before stays (curves, legends, class ticks, ranges)."""
        self.report = None
        self.title.setText(message)
        self.table.setRowCount(0)
        self.pr.clear()
        self.pr_legend.set_entries([])
        self.cm_image.clear()
        self._set_cell_texts([], np.zeros((0, 0)))
        self.cm_legend.set_entries([])
        self._reset_plots()

    def _reset_plots(self) -> None:
        """The axes as a new panel has them."""
        self.pr.setXRange(0, 1)
        self.pr.setYRange(0, 1.02)
        for side in ("bottom", "left"):
            self.cm_plot.getAxis(side).setTicks([[]])
        self.cm_plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0.02)

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
        self.pr_legend.set_entries([])
        if self.report is None:
            return
        pr = self.report["pr_curves"]
        recall = np.asarray(pr["recall"], float)
        curves = pr.get(self.iou_type.currentText()) or {}
        legend = []
        for k, (name, prec) in enumerate((n, p) for n, p in curves.items() if p is not None):
            if len(prec) != len(recall):
                continue
            color = curve_color(k)
            self.pr.plot(recall, np.asarray(prec, float), name=name,
                         pen=pg.mkPen(color, width=2))
            legend.append(("#%02x%02x%02x" % color, str(name)))
        self.pr_legend.set_entries(legend)

    def _draw_confusion(self) -> None:
        cm = self.report["confusion"]
        m = np.asarray(cm["matrix"], float)
        rows = m.sum(1, keepdims=True)
        share = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
        # ImageItem is column-major (x first): transpose so row r is drawn at y = r
        self.cm_image.setImage(share.T, levels=(0, 1))
        self.cm_image.setColorMap(pg.colormap.get("viridis"))
        n = len(cm["labels"])
        for side in ("bottom", "left"):
            self.cm_plot.getAxis(side).setTicks(class_ticks(n))
        self.cm_plot.setRange(xRange=(0, n), yRange=(0, n), padding=0.02)
        self._set_cell_texts(cm["labels"], m, share)
        self.cm_legend.set_entries([(None, f"{k + 1} {lab}")
                                    for k, lab in enumerate(cm["labels"])])

    def _cell_text(self, row: int, col: int) -> str:
        if self.report is None:
            return ""
        cm = self.report["confusion"]
        count = int(np.asarray(cm["matrix"][row][col]))
        return (f"{row + 1} {cm['labels'][row]} predicted as {col + 1} {cm['labels'][col]}: "
                f"{count}")

    def _set_cell_texts(self, labels: list, m: np.ndarray, share=None) -> None:
        for t in self._cm_texts:
            self.cm_plot.removeItem(t)
        self._cm_texts = []
        if len(labels) > 25:  # too small to read; a cell's tooltip says it
            return
        for r in range(len(labels)):
            for c in range(len(labels)):
                ink = QColor(20, 20, 20) if share[r, c] > 0.6 else QColor(255, 255, 255)
                t = pg.TextItem(str(int(m[r, c])), color=ink, anchor=(0.5, 0.5))
                t.setPos(c + 0.5, r + 0.5)
                self.cm_plot.addItem(t)
                self._cm_texts.append(t)
        self._fit_cell_texts()

    def _fit_cell_texts(self, *_args) -> None:
        """The counts only where a cell is wide enough for them (they do not scale with
        the view, and a small dock made them run into each other); its tooltip has it."""
        if not self._cm_texts:
            return
        px_w, px_h = self.cm_plot.getViewBox().viewPixelSize()
        fm = self.fontMetrics()
        widest = max(fm.horizontalAdvance(t.textItem.toPlainText()) for t in self._cm_texts)
        fits = px_w > 0 and px_h > 0 and 1 / px_w >= widest + 4 \
            and 1 / px_h >= fm.height()
        for t in self._cm_texts:
            t.setVisible(fits)

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
