"""Image list dock: a lazy model over the dataset's images (10,000 rows cost nothing
until shown; nothing is decoded), with a name filter and a review-state filter.

Rows are in the dataset's order (a folder's is natural: img2 before img10; a COCO
file keeps its own). A row is the state's colour, the file name and, right-aligned,
the instance count and review state: a long name is elided in the middle, so the
state and the name's end (its number, its extension) always stay visible.

What is listed and in which order is the Document's review queue (model/editing/queue.py,
Qt-free): the filter, the dataset's order or the attention order (the images the model is
least sure of first, issue 20; the attention is shown first in the detail, "0.42 · 3 ·
unreviewed"), the Suspects ranking, and the rule that the image shown stays listed until
you leave it. The review keys and the prefetch walk the same queue, so U follows what is
listed; this widget only shows it and sets its filter and order."""
from __future__ import annotations

from PySide6.QtCore import (QAbstractListModel, QAbstractProxyModel, QModelIndex, QRect, QSize,
                            Qt, Signal)
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette
from PySide6.QtWidgets import (QApplication, QComboBox, QHBoxLayout, QLabel, QLineEdit, QListView,
                               QStyle, QStyledItemDelegate, QStyleOptionViewItem, QToolButton,
                               QVBoxLayout, QWidget)

from model.editing.queue import ATTENTION, FILE, SUSPECTS, QueueChange, ReviewQueue

from ..document.document import Document

STATE_LABEL = {"unreviewed": "unreviewed", "in_progress": "in progress", "done": "done"}
STATE_COLOR = {"unreviewed": QColor(150, 150, 150), "in_progress": QColor(240, 170, 40),
               "done": QColor(60, 190, 90)}
StateRole = Qt.UserRole + 1
DetailRole = Qt.UserRole + 2  # "3 · in progress": drawn right-aligned, never elided
AttentionRole = Qt.UserRole + 3  # the predictions' attention, 0..1, or None
SuspectRole = Qt.UserRole + 4  # the best open suspect's score (None: no suspect)
ORDER_LABELS = [("File order", FILE), ("Needs attention", ATTENTION)]
GAP, MARGIN = 8, 4  # pixels between the name and the detail, and right of the detail
MIN_NAME = 80  # pixels the name keeps before the count gives way (the state never does)


class ImageListModel(QAbstractListModel):
    def __init__(self, doc: Document):
        super().__init__()
        self.doc = doc
        self.problems: dict[int, str] = {}  # image id -> why its file cannot be read
        self._warning: QIcon | None = None
        doc.datasetReset.connect(self._reset)
        doc.imageStateChanged.connect(self._row_changed)
        doc.thresholdChanged.connect(lambda _t: self._all_changed())
        doc.suspects.changed.connect(self._all_changed)

    def _reset(self) -> None:
        self.beginResetModel()
        self.problems.clear()
        self.endResetModel()

    def set_problem(self, image_id: int, why: str) -> None:
        """Mark an image whose file cannot be read (why "": it can now)."""
        if why:
            self.problems[image_id] = why
        else:
            self.problems.pop(image_id, None)
        self._row_changed(self.doc.row_of(image_id))

    def _warning_icon(self) -> QIcon:
        if self._warning is None:
            self._warning = QApplication.style().standardIcon(QStyle.SP_MessageBoxWarning)
        return self._warning

    def _all_changed(self) -> None:
        """The shown instance counts follow the score threshold."""
        n = self.rowCount()
        if n:
            self.dataChanged.emit(self.index(0), self.index(n - 1))

    def _row_changed(self, row: int) -> None:
        if 0 <= row < self.rowCount():
            idx = self.index(row)
            self.dataChanged.emit(idx, idx)

    def rowCount(self, parent=QModelIndex()) -> int:
        ds = self.doc.dataset
        return 0 if parent.isValid() or ds is None else len(ds.images)

    def data(self, index: QModelIndex, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        rec = self.doc.dataset.images[index.row()]
        problem = self.problems.get(rec.id)
        if problem is not None and role in (DetailRole, Qt.DecorationRole, Qt.ToolTipRole):
            return {DetailRole: "unreadable", Qt.DecorationRole: self._warning_icon(),
                    Qt.ToolTipRole: f"{rec.file_name} cannot be read:\n{problem}"}[role]
        if role == DetailRole:
            head = "" if rec.attention is None else f"{rec.attention:.2f} · "
            return f"{head}{len(self.doc.listed(rec))} · {STATE_LABEL[rec.status]}"
        if role == AttentionRole:
            return rec.attention
        if role == Qt.DisplayRole:  # the whole row as text (type-ahead, accessibility)
            return f"{rec.file_name}  · {self.data(index, DetailRole)}"
        if role == Qt.DecorationRole:
            return STATE_COLOR[rec.status]
        if role == Qt.ToolTipRole:
            tip = f"{rec.file_name}\n{STATE_LABEL[rec.status]}, {len(self.doc.listed(rec))} instances"
            if rec.attention is not None:
                tip += f"\nattention {rec.attention:.2f} (1: the model is unsure)"
            return tip
        if role == StateRole:
            return rec.status
        if role == SuspectRole:
            return self.doc.suspects.best_score(rec.id)
        if role == Qt.UserRole:
            return rec.file_name
        return None


class ImageRowDelegate(QStyledItemDelegate):
    """Paints a row as the style does, with the name elided in the middle to leave
    room for the detail (count and state), which is drawn right-aligned in full."""

    def layout(self, option: QStyleOptionViewItem, index: QModelIndex
               ) -> tuple[str, str, QRect, QRect]:
        """(shown name, detail, name rect, detail rect) for a row drawn in option.rect."""
        return self._layout(self._option(option, index), index)

    def _option(self, option: QStyleOptionViewItem, index: QModelIndex) -> QStyleOptionViewItem:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        return opt

    def _layout(self, opt: QStyleOptionViewItem, index: QModelIndex
                ) -> tuple[str, str, QRect, QRect]:
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        text = style.subElementRect(QStyle.SE_ItemViewItemText, opt, opt.widget)
        detail = index.data(DetailRole) or ""
        fm = opt.fontMetrics
        if fm.horizontalAdvance(detail) > text.width() - MIN_NAME:  # narrow: the state only
            detail = detail.split(" · ")[-1]
        dw = min(fm.horizontalAdvance(detail) + 2, max(0, text.width() - MIN_NAME // 2))
        detail_rect = QRect(text.right() - dw - MARGIN + 1, text.top(), dw, text.height())
        name_rect = QRect(text.left(), text.top(), max(0, text.width() - dw - GAP - MARGIN),
                          text.height())
        name = fm.elidedText(index.data(Qt.UserRole) or "", Qt.ElideMiddle, name_rect.width())
        return name, fm.elidedText(detail, Qt.ElideRight, dw), name_rect, detail_rect

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex) -> None:
        opt = self._option(option, index)
        name, detail, _name_rect, detail_rect = self._layout(opt, index)
        opt.text = name  # fits: the style draws it as it is, next to the decoration
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.CE_ItemViewItem, opt, painter, opt.widget)
        selected = bool(opt.state & QStyle.State_Selected)
        painter.save()
        painter.setPen(opt.palette.color(QPalette.HighlightedText if selected
                                         else QPalette.Text))
        painter.drawText(detail_rect, Qt.AlignRight | Qt.AlignVCenter, detail)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        """As tall as the style wants, narrow: the row takes the view's width and the
        name gives way, instead of a horizontal scroll bar hiding the state."""
        size = super().sizeHint(option, index)
        return QSize(min(size.width(), 120), size.height())


class QueueProxy(QAbstractProxyModel):
    """The review queue (model/editing/queue.py) as the view's model: row r is the
    queue's r-th listed image, whose data the ImageListModel gives. It keeps the rows it
    last showed, so that each change of the queue reaches the view as Qt wants it told:
    one row at a time (removed, inserted, moved) where the queue says so, else one layout
    change; either way the highlighted row and the selection stay on their images."""

    def __init__(self, queue: ReviewQueue):
        super().__init__()
        self.queue = queue
        self._rows: list[int] = queue.visible()  # dataset rows, as the view has them
        self._pos: dict[int, int] | None = None  # row -> place in _rows, built when asked
        self._version = queue.version  # the queue's, when _rows was last brought up to it
        self.relaying = False  # inside a change: the view's moves are not the person's
        queue.listeners.append(self._on_queue)

    def setSourceModel(self, model: ImageListModel) -> None:
        super().setSourceModel(model)
        model.dataChanged.connect(self._source_changed)

    def _on_queue(self, change: QueueChange) -> None:
        if not (change.reset or change.listed):
            return
        self.relaying = True
        try:
            if change.reset:
                self.beginResetModel()
                self._take()
                self.endResetModel()
            elif change.moves and self._version + 1 == self.queue.version:
                for move in change.moves:
                    self._move(*move)
            else:  # anything changed (or a change heard late): the rows anew, one layout
                self.layoutAboutToBeChanged.emit()
                before = self.persistentIndexList()
                rows = [self._rows[i.row()] for i in before]
                self._take()
                self.changePersistentIndexList(before, [self._index_of(r) for r in rows])
                self.layoutChanged.emit()
        finally:
            self.relaying = False
            self._version = self.queue.version

    def _take(self) -> None:
        self._rows = self.queue.visible()
        self._pos = None

    def _move(self, row: int, at: int, to: int) -> None:
        root = QModelIndex()
        if to < 0:
            self.beginRemoveRows(root, at, at)
            del self._rows[at]
            self._pos = None
            self.endRemoveRows()
        elif at < 0:
            self.beginInsertRows(root, to, to)
            self._rows.insert(to, row)
            self._pos = None
            self.endInsertRows()
        else:
            self.beginMoveRows(root, at, at, root, to + 1 if to > at else to)
            del self._rows[at]
            self._rows.insert(to, row)
            self._pos = None
            self.endMoveRows()

    def _index_of(self, row: int) -> QModelIndex:
        if self._version == self.queue.version and not self.relaying:
            k = self.queue.position(row)  # the same rows: the queue finds it in O(log n)
        else:
            if self._pos is None:
                self._pos = {r: k for k, r in enumerate(self._rows)}
            k = self._pos.get(row, -1)
        return self.index(k, 0) if k >= 0 else QModelIndex()

    def _source_changed(self, top: QModelIndex, bottom: QModelIndex, roles=()) -> None:
        if not self._rows:
            return
        if top.row() == bottom.row():
            idx = self._index_of(top.row())
            if idx.isValid():
                self.dataChanged.emit(idx, idx, roles)
        else:  # every row (the threshold changes every count)
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, 0), roles)

    # the QAbstractProxyModel interface
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else 1

    def index(self, row: int, column: int = 0, parent=QModelIndex()) -> QModelIndex:
        if parent.isValid() or column != 0 or not 0 <= row < len(self._rows):
            return QModelIndex()
        return self.createIndex(row, column)

    def parent(self, _index: QModelIndex = QModelIndex()) -> QModelIndex:
        return QModelIndex()

    def hasChildren(self, parent=QModelIndex()) -> bool:
        return not parent.isValid() and bool(self._rows)

    def mapToSource(self, index: QModelIndex) -> QModelIndex:
        if not index.isValid() or self.sourceModel() is None:
            return QModelIndex()
        return self.sourceModel().index(self._rows[index.row()], 0)

    def mapFromSource(self, index: QModelIndex) -> QModelIndex:
        return self._index_of(index.row()) if index.isValid() else QModelIndex()


class ImageListPanel(QWidget):
    """Shows the document's review queue and sets its filter and order; what is listed,
    in which order, and what a new filter shows are the queue's answers."""
    rowActivated = Signal(int)  # dataset row
    noneListed = Signal()  # the filter lists no image: show none

    def __init__(self, doc: Document):
        super().__init__()
        self.doc = doc
        self.queue: ReviewQueue = doc.queue
        self.model = ImageListModel(doc)
        self.proxy = QueueProxy(self.queue)
        self.proxy.setSourceModel(self.model)
        self._filtering = False  # the view's highlight is being moved by us
        self.filter_edit = QLineEdit(placeholderText="Filter by name…")
        self.filter_edit.setObjectName("imageFilter")
        self.filter_edit.setClearButtonEnabled(True)
        self.state_combo = QComboBox()
        for label, value in [("All", ""), ("Unreviewed", "unreviewed"),
                             ("In progress", "in_progress"), ("Done", "done"),
                             ("Suspects", SUSPECTS)]:
            self.state_combo.addItem(label, value)
        self.order_combo = QComboBox()
        self.order_combo.setObjectName("imageOrder")
        self.order_combo.setToolTip("Needs attention: the images the model is least sure of "
                                    "first (D, Q and U follow this order)")
        for label, value in ORDER_LABELS:
            self.order_combo.addItem(label, value)
        self.view = QListView()
        self.view.setObjectName("imageList")
        self.view.setModel(self.proxy)
        self.view.setUniformItemSizes(True)  # keeps 10,000 rows fast
        self.view.setTextElideMode(Qt.ElideMiddle)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.delegate = ImageRowDelegate(self.view)
        self.view.setItemDelegate(self.delegate)
        self.view.setEditTriggers(QListView.NoEditTriggers)
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.state_combo)
        top.addWidget(self.order_combo)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        self.empty_label = QLabel("No image matches the filter")
        self.empty_label.setObjectName("imageListEmpty")
        self.empty_label.setEnabled(False)
        self.empty_label.setVisible(False)
        lay.addLayout(top)
        self._build_id_filter(lay)
        lay.addWidget(self.empty_label)
        lay.addWidget(self.view)
        self.filter_edit.textChanged.connect(lambda t: self.queue.set_filter(text=t))
        self.state_combo.currentIndexChanged.connect(
            lambda _i: self.queue.set_filter(state=self.state_combo.currentData()))
        self.order_combo.currentIndexChanged.connect(
            lambda _i: self.queue.set_order(self.order_combo.currentData()))
        self.view.selectionModel().currentChanged.connect(self._on_current)
        self.queue.listeners.append(self._on_queue)

    # ------------------------------------------------------------ id filter
    def _build_id_filter(self, lay: QVBoxLayout) -> None:
        """A chip that names the id filter (what a dock asked for) with a button to clear it."""
        self.id_filter_bar = QWidget()
        row = QHBoxLayout(self.id_filter_bar)
        row.setContentsMargins(0, 0, 0, 0)
        self.id_filter_label = QLabel()
        self.id_filter_label.setObjectName("imageIdFilter")
        clear = QToolButton(text="×", toolTip="Show all images again")
        clear.setObjectName("clearImageIdFilter")
        clear.clicked.connect(lambda: self.set_image_filter(None))
        row.addWidget(self.id_filter_label, 1)
        row.addWidget(clear)
        self.id_filter_bar.setVisible(False)
        lay.addWidget(self.id_filter_bar)

    def set_image_filter(self, ids, label: str = "") -> None:
        """List only the images with these ids (None: every image), named by `label`."""
        self.id_filter_label.setText(f"{label} ({len(ids)} image(s))" if ids is not None else "")
        self.id_filter_label.setToolTip(label)
        self.queue.set_image_ids(ids)

    # ------------------------------------------------------------ navigation
    @property
    def suspects_on(self) -> bool:
        return self.queue.state == SUSPECTS

    def show_suspects(self) -> None:
        """Turn the Suspects filter on (after suspects are loaded) and show the top one."""
        self.queue.set_filter(state=SUSPECTS)
        if len(self.queue):
            self.rowActivated.emit(self.queue.visible()[0])

    def set_order(self, order: str) -> None:
        """"" the dataset's order, "attention" the review queue."""
        self.queue.set_order(order)

    # ------------------------------------------------------------------ sync
    def _on_queue(self, change: QueueChange) -> None:
        """Show what the queue says: its filter and order in the controls, its rows (the
        proxy), the image shown highlighted; after a new filter, the image it chooses."""
        if change.filter or change.order:
            self._show_controls()
        if change.current or change.order:
            self._follow(self.queue.current)
        self._show_empty()
        if change.filter and not change.reset and self.doc.dataset is not None:
            row = self.queue.choose()
            if row is None:
                self.noneListed.emit()
            elif row == self.queue.current:
                self._follow(row)
            else:
                self.rowActivated.emit(row)

    def _show_controls(self) -> None:
        """The queue's filter and order in the widgets, without asking the queue again."""
        q = self.queue
        for widget, set_value in (
                (self.filter_edit, lambda: self.filter_edit.setText(q.text)
                 if self.filter_edit.text().lower() != q.text else None),
                (self.state_combo, lambda: self.state_combo.setCurrentIndex(
                    max(0, self.state_combo.findData(q.state)))),
                (self.order_combo, lambda: self.order_combo.setCurrentIndex(
                    max(0, self.order_combo.findData(q.order))))):
            widget.blockSignals(True)
            try:
                set_value()
            finally:
                widget.blockSignals(False)
        self.id_filter_bar.setVisible(q.image_ids is not None)

    def _show_empty(self) -> None:
        ds = self.doc.dataset
        none = ds is not None and bool(ds.images) and self.proxy.rowCount() == 0
        self.empty_label.setVisible(none)

    def _on_current(self, current: QModelIndex, _prev) -> None:
        if current.isValid() and not (self._filtering or self.proxy.relaying):
            row = self.proxy.mapToSource(current).row()
            if row != self.doc.row:
                self.rowActivated.emit(row)

    def _follow(self, row: int) -> None:
        """The image shown is the highlighted one (the queue keeps it listed)."""
        if row < 0:
            return
        self._filtering = True
        try:
            idx = self.proxy.mapFromSource(self.model.index(row))
            if idx.isValid() and self.view.currentIndex() != idx:
                self.view.setCurrentIndex(idx)
                self.view.scrollTo(idx)
        finally:
            self._filtering = False
