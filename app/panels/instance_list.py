"""Instance list dock for the current image: class, score, source, review, visibility.
The review column says what the training rule means (model/data/provenance.py, review_state):
a person's drawing or a ground-truth annotation is `decided`, not `unreviewed`.

A model/view table: rows are computed when shown, so a change costs a model reset,
not hundreds of widget items. Selection follows the canvas and drives it.
"""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QItemSelection, QItemSelectionModel, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from model.data.annotations import Instance
from model.data.provenance import review_state

from ..document.document import Document

COLUMNS = ["", "Class", "Score", "Source", "Review", "Suspect"]
SUSPECT_TEXT = {"missing": "missing", "wrong_class": "wrong class",
                "sloppy_mask": "sloppy mask", "spurious": "spurious"}
SUSPECT_TIP = {"missing": "the model sees an object nobody labelled",
               "wrong_class": "the model gives it another class",
               "sloppy_mask": "the model's mask differs from this one",
               "spurious": "the model sees nothing here"}
SCORE, SOURCE, SUSPECT = 2, 3, len(COLUMNS) - 1
REVIEW_COLOR = {"accepted": QColor(60, 190, 90), "rejected": QColor(220, 70, 60),
                "decided": QColor(70, 140, 200)}
REVIEW_TIP = {"accepted": "accepted by a person", "rejected": "rejected: kept in the file, "
              "never trained on", "decided": "drawn or edited by a person, or from the "
              "annotation file: decided, so training uses it",
              "unreviewed": "a model prediction nobody has reviewed yet"}
GREY = QColor(140, 140, 140)


class InstanceModel(QAbstractTableModel):
    def __init__(self, doc: Document):
        super().__init__()
        self.doc = doc
        self.rows: list[Instance] = []
        self.names: dict[int, str] = {}
        self.suspect: dict[int, int] = {}

    def refresh(self) -> None:
        self.beginResetModel()
        rec = self.doc.current
        self.rows = [] if rec is None else self.doc.listed(rec)
        sus = self.doc.suspects
        self.suspect: dict[int, int] = {}  # id(instance) -> index of its open suspect
        if rec is not None and sus.items:
            for k in sus.open_on(rec.id):
                inst = next((i for i in rec.instances if i.id == sus.items[k].annotation_id
                             and sus.items[k].annotation_id is not None), None)
                if inst is not None:
                    self.suspect.setdefault(id(inst), k)
            if sus.filtering:  # the Suspects filter: the suspect annotations only, ranked
                ranked = sorted(self.suspect.items(), key=lambda kv: kv[1])
                by_id = {id(i): i for i in rec.instances}
                self.rows = [by_id[i] for i, _k in ranked]
        self.names = {} if self.doc.dataset is None else self.doc.dataset.category_names()
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return COLUMNS[section]
        return None

    def flags(self, index: QModelIndex):
        f = Qt.ItemIsEnabled | Qt.ItemIsSelectable
        return f | Qt.ItemIsUserCheckable if index.column() == 0 else f

    def data(self, index: QModelIndex, role=Qt.DisplayRole):
        inst = self.rows[index.row()]
        col = index.column()
        if role == Qt.CheckStateRole and col == 0:
            return Qt.Unchecked if id(inst) in self.doc.hidden else Qt.Checked
        if role == Qt.DisplayRole:
            if col == 1:
                return self.names.get(inst.category_id, str(inst.category_id))
            if col == 2:
                return "" if inst.score is None else f"{inst.score:.2f}"
            if col == 3:
                return inst.source
            if col == 4:
                return review_state(inst)
            if col == 5:
                k = self.suspect.get(id(inst))
                return "" if k is None else \
                    f"{SUSPECT_TEXT[self.doc.suspects.items[k].reason]} " \
                    f"{self.doc.suspects.items[k].score:.2f}"
        if role == Qt.ForegroundRole and col > 0:
            state = review_state(inst)
            if col == 4 and state in REVIEW_COLOR:
                return QBrush(REVIEW_COLOR[state])
            if state == "rejected":
                return QBrush(GREY)
        if role == Qt.ToolTipRole:
            if col == 5:
                k = self.suspect.get(id(inst))
                return None if k is None else \
                    f"Suspect: {SUSPECT_TIP[self.doc.suspects.items[k].reason]} " \
                    f"(score {self.doc.suspects.items[k].score:.2f})"
            return "visible on the canvas" if col == 0 else REVIEW_TIP[review_state(inst)] \
                if col == 4 else None
        return None

    def setData(self, index: QModelIndex, value, role=Qt.EditRole) -> bool:
        if role == Qt.CheckStateRole and index.column() == 0:
            checked = Qt.CheckState(value) == Qt.Checked
            self.doc.set_hidden(self.rows[index.row()], not checked)
            self.dataChanged.emit(index, index)
            return True
        return False


class InstanceTable(QTableView):
    def __init__(self, doc: Document):
        super().__init__()
        self.setObjectName("instanceList")
        self.doc = doc
        self.model_ = InstanceModel(doc)
        self.setModel(self.model_)
        self._syncing = False
        self.tab_step = None  # Tab / Shift+Tab here: tab_step(forward) (next instance)
        self.verticalHeader().setVisible(False)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        hdr = self.horizontalHeader()
        # fixed widths: ResizeToContents would query every cell on each selection change
        fm = self.fontMetrics()
        for col, sample in ((0, "MM"), (2, "0.000"), (3, "edited"), (4, "unreviewed"),
                            (SUSPECT, "wrong class 0.00")):
            hdr.setSectionResizeMode(col, QHeaderView.Interactive)
            self.setColumnWidth(col, fm.horizontalAdvance(sample) + 18)
        hdr.setSectionResizeMode(1, QHeaderView.Stretch)
        self.setColumnHidden(SUSPECT, True)  # until suspects are loaded
        self.selectionModel().selectionChanged.connect(self._on_selection)
        doc.instancesChanged.connect(self._on_instances)
        doc.currentChanged.connect(lambda _r: self.rebuild())
        doc.datasetReset.connect(self.rebuild)
        doc.selectionChanged.connect(lambda _i: self._follow())
        doc.thresholdChanged.connect(lambda _t: self.rebuild())
        doc.categoriesChanged.connect(self.rebuild)
        doc.suspects.changed.connect(self.rebuild)

    @property
    def rows(self) -> list[Instance]:
        return self.model_.rows

    def rowCount(self) -> int:
        return self.model_.rowCount()

    def _on_instances(self, image_id: int, _rect) -> None:
        rec = self.doc.current
        if rec is not None and rec.id == image_id:
            self.rebuild()

    def rebuild(self) -> None:
        self._syncing = True
        try:
            self.model_.refresh()
            # the Suspect column only once an audit's suspects are loaded: the class
            # column keeps its room otherwise. Under the Suspects filter the rows are the
            # annotations it flags, whose score and source say nothing: those columns
            # give the class and the suspect their room
            sus = self.doc.suspects
            self.setColumnHidden(SUSPECT, not sus.items)
            for col in (SCORE, SOURCE):
                self.setColumnHidden(col, bool(sus.items) and sus.filtering)
            self._follow()
        finally:
            self._syncing = False

    def _follow(self) -> None:
        was, self._syncing = self._syncing, True
        try:
            wanted = {id(i) for i in self.doc.selection}
            sel = QItemSelection()
            for r, inst in enumerate(self.rows):
                if id(inst) in wanted:
                    sel.select(self.model_.index(r, 0), self.model_.index(r, len(COLUMNS) - 1))
            self.selectionModel().select(sel, QItemSelectionModel.ClearAndSelect)
            primary = next((r for r, i in enumerate(self.rows) if i is self.doc.selected), -1)
            if primary >= 0:
                self.selectionModel().setCurrentIndex(self.model_.index(primary, 1),
                                                      QItemSelectionModel.NoUpdate)
                self.scrollTo(self.model_.index(primary, 1))
        finally:
            self._syncing = was

    def focusNextPrevChild(self, forward: bool) -> bool:
        """Tab here steps through instances as on the canvas (a table's Tab walks its
        cells anyway); Ctrl+Tab moves the focus on (keyPressEvent)."""
        if self.tab_step is not None:
            self.tab_step(forward)
            return True
        return super().focusNextPrevChild(forward)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Tab, Qt.Key_Backtab) and event.modifiers() & Qt.ControlModifier:
            forward = event.key() == Qt.Key_Tab and not event.modifiers() & Qt.ShiftModifier
            QWidget.focusNextPrevChild(self, forward)
            event.accept()
            return
        super().keyPressEvent(event)

    def currentRow(self) -> int:
        return self.currentIndex().row()

    def _on_selection(self, *_):
        if self._syncing:
            return
        rows = sorted({i.row() for i in self.selectionModel().selectedRows()})
        self.doc.select_many([self.rows[r] for r in rows])
