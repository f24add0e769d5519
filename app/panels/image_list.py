"""Image list dock: a lazy model over the dataset's images (10,000 rows cost nothing
until shown; nothing is decoded), with a name filter and a review-state filter."""
from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLineEdit, QListView, QVBoxLayout, QWidget

from ..document.document import Document

STATE_LABEL = {"unreviewed": "unreviewed", "in_progress": "in progress", "done": "done"}
STATE_COLOR = {"unreviewed": QColor(150, 150, 150), "in_progress": QColor(240, 170, 40),
               "done": QColor(60, 190, 90)}
StateRole = Qt.UserRole + 1


class ImageListModel(QAbstractListModel):
    def __init__(self, doc: Document):
        super().__init__()
        self.doc = doc
        doc.datasetReset.connect(self._reset)
        doc.imageStateChanged.connect(self._row_changed)
        doc.thresholdChanged.connect(lambda _t: self._all_changed())

    def _reset(self) -> None:
        self.beginResetModel()
        self.endResetModel()

    def _all_changed(self) -> None:
        """The shown instance counts follow the score threshold."""
        n = self.rowCount()
        if n:
            self.dataChanged.emit(self.index(0), self.index(n - 1))

    def _row_changed(self, row: int) -> None:
        if row >= 0:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx)

    def rowCount(self, parent=QModelIndex()) -> int:
        ds = self.doc.dataset
        return 0 if parent.isValid() or ds is None else len(ds.images)

    def data(self, index: QModelIndex, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        rec = self.doc.dataset.images[index.row()]
        if role == Qt.DisplayRole:
            n = len(self.doc.listed(rec))
            return f"{rec.file_name}  · {n} · {STATE_LABEL[rec.status]}"
        if role == Qt.DecorationRole:
            return STATE_COLOR[rec.status]
        if role == Qt.ToolTipRole:
            return f"{rec.file_name}\n{STATE_LABEL[rec.status]}, {len(self.doc.listed(rec))} instances"
        if role == StateRole:
            return rec.status
        if role == Qt.UserRole:
            return rec.file_name
        return None


class ImageFilter(QSortFilterProxyModel):
    def __init__(self):
        super().__init__()
        self.text = ""
        self.state = ""

    def set_filter(self, text: str, state: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9
            self.beginFilterChange()
            self.text, self.state = text.lower(), state
            self.endFilterChange()
        else:
            self.text, self.state = text.lower(), state
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:
        idx = self.sourceModel().index(row, 0, parent)
        if self.state and idx.data(StateRole) != self.state:
            return False
        return not self.text or self.text in idx.data(Qt.UserRole).lower()


class ImageListPanel(QWidget):
    rowActivated = Signal(int)  # dataset row

    def __init__(self, doc: Document):
        super().__init__()
        self.doc = doc
        self.model = ImageListModel(doc)
        self.proxy = ImageFilter()
        self.proxy.setSourceModel(self.model)
        self._filtering = False
        self.filter_edit = QLineEdit(placeholderText="Filter by name…")
        self.filter_edit.setObjectName("imageFilter")
        self.filter_edit.setClearButtonEnabled(True)
        self.state_combo = QComboBox()
        for label, value in [("All", ""), ("Unreviewed", "unreviewed"),
                             ("In progress", "in_progress"), ("Done", "done")]:
            self.state_combo.addItem(label, value)
        self.view = QListView()
        self.view.setObjectName("imageList")
        self.view.setModel(self.proxy)
        self.view.setUniformItemSizes(True)  # keeps 10,000 rows fast
        self.view.setEditTriggers(QListView.NoEditTriggers)
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.state_combo)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(top)
        lay.addWidget(self.view)
        self.filter_edit.textChanged.connect(self._apply)
        self.state_combo.currentIndexChanged.connect(self._apply)
        self.view.selectionModel().currentChanged.connect(self._on_current)
        doc.currentChanged.connect(self._follow)
        doc.datasetReset.connect(self._on_reset)

    def _on_reset(self) -> None:
        """Another dataset: a filter chosen for the last one would hide this one's images."""
        self.filter_edit.blockSignals(True)
        self.state_combo.blockSignals(True)
        self.filter_edit.clear()
        self.state_combo.setCurrentIndex(0)
        self.filter_edit.blockSignals(False)
        self.state_combo.blockSignals(False)
        self._apply()
        self._follow(self.doc.row)

    def _apply(self) -> None:
        """Filtering changes what is listed, never which image is shown."""
        self._filtering = True
        try:
            self.proxy.set_filter(self.filter_edit.text(), self.state_combo.currentData())
        finally:
            self._filtering = False
        self._follow(self.doc.row)

    def _on_current(self, current: QModelIndex, _prev) -> None:
        if current.isValid() and not self._filtering:
            row = self.proxy.mapToSource(current).row()
            if row != self.doc.row:
                self.rowActivated.emit(row)

    def _follow(self, row: int) -> None:
        if row < 0:
            return
        idx = self.proxy.mapFromSource(self.model.index(row))
        if idx.isValid() and self.view.currentIndex() != idx:
            self.view.setCurrentIndex(idx)
            self.view.scrollTo(idx)
