"""Image list dock: a lazy model over the dataset's images (10,000 rows cost nothing
until shown; nothing is decoded), with a name filter and a review-state filter.

Rows are in the dataset's order (a folder's is natural: img2 before img10; a COCO
file keeps its own). A row is the state's colour, the file name and, right-aligned,
the instance count and review state: a long name is elided in the middle, so the
state and the name's end (its number, its extension) always stay visible.

Order: the dataset's, or the review queue (issue 20): the images the model is least
sure of first, by the attention of their predictions (model/effort/attention.py), shown
first in the detail ("0.42 · 3 · unreviewed"); images never predicted come last. The
review keys walk whichever order is listed, so U follows the queue."""
from __future__ import annotations

from typing import Iterator

from PySide6.QtCore import (QAbstractListModel, QModelIndex, QRect, QSize, QSortFilterProxyModel,
                            Qt, Signal)
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette
from PySide6.QtWidgets import (QApplication, QComboBox, QHBoxLayout, QLabel, QLineEdit, QListView,
                               QStyle, QStyledItemDelegate, QStyleOptionViewItem, QToolButton,
                               QVBoxLayout, QWidget)

from ..document.document import Document

STATE_LABEL = {"unreviewed": "unreviewed", "in_progress": "in progress", "done": "done"}
STATE_COLOR = {"unreviewed": QColor(150, 150, 150), "in_progress": QColor(240, 170, 40),
               "done": QColor(60, 190, 90)}
StateRole = Qt.UserRole + 1
DetailRole = Qt.UserRole + 2  # "3 · in progress": drawn right-aligned, never elided
AttentionRole = Qt.UserRole + 3  # the predictions' attention, 0..1, or None
SuspectRole = Qt.UserRole + 4  # the best open suspect's score (None: no suspect)
ORDERS = [("File order", ""), ("Needs attention", "attention")]
SUSPECTS = "suspects"  # the state filter that lists images with suspects, ranked
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

    touch = _row_changed  # a filter asks for a row to be looked at again

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


class ImageFilter(QSortFilterProxyModel):
    """Name and state filter. The image shown is pinned: it stays listed (and
    highlighted) while it is shown, even once its state no longer matches (marked
    done under 'Unreviewed'), and leaves the list when another image is shown."""

    def __init__(self):
        super().__init__()
        self.text = ""
        self.state = ""
        self.order = ""  # "" the dataset's order, "attention" the review queue
        self.pinned = -1  # dataset row listed whatever the filter says
        self.image_ids: frozenset[int] | None = None  # an id filter (the Evaluation dock's)

    def set_filter(self, text: str, state: str) -> None:
        """A new filter, with no image pinned: the caller decides what is shown."""
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9
            self.beginFilterChange()
            self.text, self.state, self.pinned = text.lower(), state, -1
            self.endFilterChange()
        else:
            self.text, self.state, self.pinned = text.lower(), state, -1
            self.invalidateFilter()

    @property
    def active(self) -> bool:
        return bool(self.text or self.state) or self.image_ids is not None

    def pin(self, row: int) -> None:
        """Pin another row; only the two rows concerned are filtered again."""
        old, self.pinned = self.pinned, row
        if self.active:
            for r in (old, row):
                if r >= 0:
                    self.sourceModel().touch(r)

    def matches(self, row: int) -> bool:
        idx = self.sourceModel().index(row, 0)
        if self.state == SUSPECTS:
            if idx.data(SuspectRole) is None:
                return False
        elif self.state and idx.data(StateRole) != self.state:
            return False
        if self.image_ids is not None and \
                self.sourceModel().doc.dataset.images[row].id not in self.image_ids:
            return False
        return not self.text or self.text in idx.data(Qt.UserRole).lower()

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:
        return row == self.pinned or self.matches(row)

    def set_order(self, order: str) -> None:
        """"" the dataset's order; "attention" the review queue, re-sorted as
        predictions arrive (dynamicSortFilter). The Suspects filter ranks by suspect
        whatever the order says."""
        self.order = order
        self.resort()

    def resort(self) -> None:
        self.sort(0 if self.order == "attention" or self.state == SUSPECTS else -1)

    @property
    def queued(self) -> bool:
        return self.sortColumn() == 0

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:
        """Sorted ascending by key: under the Suspects filter the most likely label error
        first, else the highest attention first, unknown last; ties keep the dataset's
        order."""
        role = SuspectRole if self.state == SUSPECTS else AttentionRole

        def key(idx: QModelIndex) -> tuple[float, int]:
            a = idx.data(role)
            return (1.0 if a is None else -float(a), idx.row())
        return key(left) < key(right)


class ImageListPanel(QWidget):
    rowActivated = Signal(int)  # dataset row
    noneListed = Signal()  # the filter lists no image: show none

    def __init__(self, doc: Document):
        super().__init__()
        self.doc = doc
        self.model = ImageListModel(doc)
        self.proxy = ImageFilter()
        self.proxy.setSourceModel(self.model)
        self._filtering = False
        self._last_row = -1  # the last image shown, shown again when listed again
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
        for label, value in ORDERS:
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
        self.filter_edit.textChanged.connect(lambda _t: self._apply())
        self.state_combo.currentIndexChanged.connect(lambda _i: self._apply())
        self.order_combo.currentIndexChanged.connect(self._order_changed)
        self.view.selectionModel().currentChanged.connect(self._on_current)
        doc.currentChanged.connect(self._follow)
        doc.datasetReset.connect(self._on_reset)

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
        self.proxy.image_ids = None if ids is None else frozenset(ids)  # _apply refilters
        self.id_filter_label.setText(f"{label} ({len(ids)} image(s))" if ids is not None else "")
        self.id_filter_label.setToolTip(label)
        self.id_filter_bar.setVisible(ids is not None)
        self._apply()

    # ------------------------------------------------------------ navigation
    # The review keys (D, Q, U, M) and the prefetch follow the listed order: with a
    # filter on, the next image is the next one listed.
    @property
    def filtered(self) -> bool:
        return self.proxy.active

    @property
    def suspects_on(self) -> bool:
        return self.state_combo.currentData() == SUSPECTS

    def show_suspects(self) -> None:
        """Turn the Suspects filter on (after suspects are loaded) and show the top one."""
        self.state_combo.setCurrentIndex(self.state_combo.findData(SUSPECTS))
        self._apply()
        if self.proxy.rowCount():
            self.rowActivated.emit(self._dataset_row(0))

    def _listed_row(self, row: int) -> int:
        idx = self.proxy.mapFromSource(self.model.index(row)) if row >= 0 else QModelIndex()
        return idx.row() if idx.isValid() else -1

    def _dataset_row(self, listed: int) -> int:
        return self.proxy.mapToSource(self.proxy.index(listed, 0)).row()

    def step(self, row: int, k: int) -> int | None:
        """The image k places from `row` in the list, stopping at its ends; None when
        nothing is listed. From an image that is not listed: the first (or last)."""
        n = self.proxy.rowCount()
        if n == 0:
            return None
        at = self._listed_row(row)
        if at < 0:
            return self._dataset_row(0 if k > 0 else n - 1)
        return self._dataset_row(min(max(at + k, 0), n - 1))

    def after(self, row: int) -> Iterator[int]:
        """The listed images after `row`, wrapping around, `row` itself last."""
        n = self.proxy.rowCount()
        at = self._listed_row(row)
        for j in range(1, n + 1):
            yield self._dataset_row((at + j) % n)

    def position(self, row: int) -> int:
        """Where a dataset row is in the list (-1: not listed)."""
        return self._listed_row(row)

    def next_rows(self, row: int, count: int) -> list[int]:
        """Up to `count` listed images after `row`, no wrapping (what D shows next)."""
        at, n = self._listed_row(row), self.proxy.rowCount()
        if at < 0:
            return []
        return [self._dataset_row(r) for r in range(at + 1, min(at + 1 + count, n))]

    def set_order(self, order: str) -> None:
        """"" the dataset's order, "attention" the review queue."""
        self.order_combo.setCurrentIndex(max(0, self.order_combo.findData(order)))

    def _order_changed(self, _i: int) -> None:
        self.proxy.set_order(self.order_combo.currentData())
        if self.doc.row >= 0:
            self._follow(self.doc.row)

    # ------------------------------------------------------------------ sync
    def _on_reset(self) -> None:
        """Another dataset: a filter chosen for the last one would hide this one's images."""
        self.filter_edit.blockSignals(True)
        self.state_combo.blockSignals(True)
        self.filter_edit.clear()
        self.state_combo.setCurrentIndex(0)
        self.filter_edit.blockSignals(False)
        self.state_combo.blockSignals(False)
        self._last_row = -1
        self.proxy.image_ids = None  # ids of another dataset's images
        self.id_filter_bar.setVisible(False)
        self._apply(choose=False)

    def _apply(self, choose: bool = True) -> None:
        """A new filter. The image shown stays if the filter lists it; otherwise the
        first image listed is shown (the last one shown, if listed again), and when
        the filter lists none, no image is: what is shown is always what is
        highlighted."""
        self._filtering = True
        try:
            self.proxy.set_filter(self.filter_edit.text(), self.state_combo.currentData())
            self.proxy.resort()  # suspects ranked, the queue, or the dataset's order
            self.doc.suspects.set_filtering(self.suspects_on)
            row = self.doc.row
            if row >= 0 and self.proxy.matches(row):
                self.proxy.pin(row)
        finally:
            self._filtering = False
        self._show_empty()
        if row >= 0 and self.proxy.matches(row):
            self._follow(row)
        elif choose and self.doc.dataset is not None:
            n = self.proxy.rowCount()
            if n == 0:
                self.noneListed.emit()
            else:
                back = self._last_row
                listed = back >= 0 and self.proxy.matches(back)
                self.rowActivated.emit(back if listed else self._dataset_row(0))

    def _show_empty(self) -> None:
        ds = self.doc.dataset
        none = ds is not None and bool(ds.images) and self.proxy.rowCount() == 0
        self.empty_label.setVisible(none)

    def _on_current(self, current: QModelIndex, _prev) -> None:
        if current.isValid() and not self._filtering:
            row = self.proxy.mapToSource(current).row()
            if row != self.doc.row:
                self.rowActivated.emit(row)

    def _follow(self, row: int) -> None:
        """The image shown is the highlighted one (pinned, so a filter keeps it)."""
        if row < 0:
            return
        self._last_row = row
        self._filtering = True
        try:
            self.proxy.pin(row)
            idx = self.proxy.mapFromSource(self.model.index(row))
            if idx.isValid() and self.view.currentIndex() != idx:
                self.view.setCurrentIndex(idx)
                self.view.scrollTo(idx)
        finally:
            self._filtering = False
        self._show_empty()
