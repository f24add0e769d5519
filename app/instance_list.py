"""Instance list dock for the current image: class, score, source, review, visibility.
Selection follows the canvas and drives it."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from model.annotations import Instance

from .document import Document

COLUMNS = ["", "Class", "Score", "Source", "Review"]
REVIEW_COLOR = {"accepted": QColor(60, 190, 90), "rejected": QColor(220, 70, 60)}


class InstanceTable(QTableWidget):
    def __init__(self, doc: Document):
        super().__init__(0, len(COLUMNS))
        self.setObjectName("instanceList")
        self.doc = doc
        self.rows: list[Instance] = []
        self._syncing = False
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        hdr = self.horizontalHeader()
        hdr.setSectionResizeMode(QHeaderView.ResizeToContents)
        hdr.setSectionResizeMode(1, QHeaderView.Stretch)
        self.itemSelectionChanged.connect(self._on_selection)
        self.itemChanged.connect(self._on_item_changed)
        doc.instancesChanged.connect(self._on_instances)
        doc.currentChanged.connect(lambda _r: self.rebuild())
        doc.datasetReset.connect(self.rebuild)
        doc.selectionChanged.connect(self._follow)
        doc.thresholdChanged.connect(lambda _t: self.rebuild())

    def _on_instances(self, image_id: int, _rect) -> None:
        if self._syncing:  # our own checkbox caused it; the table already shows it
            return
        rec = self.doc.current
        if rec is not None and rec.id == image_id:
            self.rebuild()

    def rebuild(self) -> None:
        self._syncing = True
        try:
            rec = self.doc.current
            self.rows = [] if rec is None else self.doc.listed(rec)
            names = {} if self.doc.dataset is None else self.doc.dataset.category_names()
            self.setRowCount(len(self.rows))
            for r, inst in enumerate(self.rows):
                vis = QTableWidgetItem()
                vis.setFlags(Qt.ItemIsUserCheckable | Qt.ItemIsEnabled | Qt.ItemIsSelectable)
                vis.setCheckState(Qt.Unchecked if id(inst) in self.doc.hidden else Qt.Checked)
                vis.setToolTip("visible on the canvas")
                cells = [vis, QTableWidgetItem(names.get(inst.category_id, str(inst.category_id))),
                         QTableWidgetItem("" if inst.score is None else f"{inst.score:.2f}"),
                         QTableWidgetItem(inst.source), QTableWidgetItem(inst.review)]
                color = REVIEW_COLOR.get(inst.review)
                if color is not None:
                    cells[4].setForeground(QBrush(color))
                if inst.review == "rejected":
                    for c in cells[1:]:
                        c.setForeground(QBrush(QColor(140, 140, 140)))
                for c, item in enumerate(cells):
                    self.setItem(r, c, item)
            self._follow(self.doc.selected)
        finally:
            self._syncing = False

    def _follow(self, inst) -> None:
        was = self._syncing
        self._syncing = True
        try:
            row = next((r for r, i in enumerate(self.rows) if i is inst), -1)
            if row < 0:
                self.clearSelection()
            elif self.currentRow() != row or not self.selectionModel().isRowSelected(row):
                self.selectRow(row)
                self.scrollToItem(self.item(row, 1))
        finally:
            self._syncing = was

    def _on_selection(self) -> None:
        if self._syncing:
            return
        rows = {i.row() for i in self.selectedIndexes()}
        self.doc.select(self.rows[min(rows)] if rows else None)

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._syncing or item.column() != 0:
            return
        inst = self.rows[item.row()]
        self._syncing = True
        try:
            self.doc.set_hidden(inst, item.checkState() != Qt.Checked)
        finally:
            self._syncing = False
