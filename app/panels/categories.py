"""The class picker (type-ahead) and the category manager; every change is undoable."""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QColorDialog, QComboBox, QCompleter, QDialog, QHBoxLayout,
                               QHeaderView, QInputDialog, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

from model.editing import user_actions as E
from model.data.annotations import Category
from model.editing.ops import Edit

from ..colors import color_for, parse_hex
from ..document.document import Document
from ..document.drawing import NEW_CLASS


def category_color(cat: Category) -> tuple[int, int, int]:
    return parse_hex(cat.extra.get("color")) or color_for(cat.id)


def swatch(cat: Category) -> QIcon:
    pm = QPixmap(12, 12)
    pm.fill(QColor(*category_color(cat)))
    return QIcon(pm)


class ClassPicker(QComboBox):
    """Editable combo: type a few letters of a class name, Enter picks it.

    It shows what `shown()` says (the selection's class, else the class of the next
    new instance), never a class just because it came first: a model's classes
    arriving with predictions must not look like the person's choice."""

    picked = Signal(int)  # category id chosen by the user

    def __init__(self, doc: Document, shown: Callable[[], int | None] | None = None):
        super().__init__()
        self.setObjectName("classPicker")
        self.doc = doc
        self.shown = shown
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.NoInsert)
        self.setMinimumContentsLength(14)
        self.setToolTip("Class of the selection, or of the next new instance (type to search)")
        self.lineEdit().setPlaceholderText(f"{NEW_CLASS} (new)")
        self._quiet = False
        comp = self.completer()
        comp.setFilterMode(Qt.MatchContains)
        comp.setCompletionMode(QCompleter.PopupCompletion)
        comp.setCaseSensitivity(Qt.CaseInsensitive)
        self.activated.connect(self._on_activated)
        doc.datasetReset.connect(self.refresh)
        doc.categoriesChanged.connect(self.refresh)

    def refresh(self) -> None:
        self._quiet = True
        current = self.shown() if self.shown is not None else self.currentData()
        self.clear()
        for cat in (self.doc.dataset.categories if self.doc.dataset else []):
            self.addItem(swatch(cat), cat.name, cat.id)
        self.show_category(current)
        self._quiet = False

    def show_category(self, category_id) -> None:
        """Show this class; none (or one the dataset lacks): an empty box."""
        i = -1 if category_id is None else self.findData(category_id)
        quiet, self._quiet = self._quiet, True
        self.setCurrentIndex(i)
        if i < 0:
            self.setEditText("")
        self._quiet = quiet

    def _on_activated(self, index: int) -> None:
        if not self._quiet and index >= 0:
            self.picked.emit(self.itemData(index))


class CategoryManager(QDialog):
    """Add, rename, recolour and delete classes. A class in use can only be deleted by
    moving its instances to another class first, in the same undo step."""

    COLS = ["Id", "Name", "Supercategory", "Colour", "Instances"]

    def __init__(self, doc: Document, parent=None):
        super().__init__(parent)
        self.setObjectName("categoryManager")
        self.setWindowTitle("Categories")
        self.doc = doc
        self.table = QTableWidget(0, len(self.COLS))
        self.table.setHorizontalHeaderLabels(self.COLS)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.Stretch)
        add, colour, delete, close = (QPushButton(t) for t in ("Add…", "Colour…", "Delete…", "Close"))
        row = QHBoxLayout()
        for b in (add, colour, delete):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table)
        lay.addLayout(row)
        self.resize(560, 380)
        add.clicked.connect(self._ask_add)
        colour.clicked.connect(self._ask_colour)
        delete.clicked.connect(self._ask_delete)
        close.clicked.connect(self.accept)
        self.table.itemChanged.connect(self._on_edit)
        doc.categoriesChanged.connect(self.refresh)
        self._filling = False
        self.refresh()

    def counts(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for _rec, inst in self.doc.dataset.instances():
            out[inst.category_id] = out.get(inst.category_id, 0) + 1
        return out

    def refresh(self) -> None:
        self._filling = True
        cats, counts = self.doc.dataset.categories, self.counts()
        self.table.setRowCount(len(cats))
        for r, cat in enumerate(cats):
            cells = [QTableWidgetItem(str(cat.id)), QTableWidgetItem(cat.name),
                     QTableWidgetItem(cat.supercategory or ""), QTableWidgetItem(swatch(cat), ""),
                     QTableWidgetItem(str(counts.get(cat.id, 0)))]
            for c, item in enumerate(cells):
                if c not in (1, 2):
                    item.setFlags(item.flags() & ~Qt.ItemIsEditable)
                self.table.setItem(r, c, item)
        self._filling = False

    def _selected(self) -> Category | None:
        row = self.table.currentRow()
        cats = self.doc.dataset.categories
        return cats[row] if 0 <= row < len(cats) else None

    # ------------------------------------------------------------ operations
    def add(self, name: str, color: str | None = None) -> Category:
        cat = E.new_category(self.doc.dataset, name, color)
        self.doc.push(Edit(f"Add class {name}", [E.add_category_op(self.doc.dataset, cat)]))
        return cat

    def change(self, cat: Category, text: str, **fields) -> None:
        self.doc.push(E.change_category_edit(self.doc.dataset, cat, text, **fields))

    def delete(self, cat: Category, reassign_to: int | None = None) -> bool:
        edit = E.delete_category_edit(self.doc.dataset, cat, reassign_to)
        return edit is not None and self.doc.push(edit)

    # -------------------------------------------------------------- dialogs
    def _on_edit(self, item: QTableWidgetItem) -> None:
        if self._filling:
            return
        cat = self.doc.dataset.categories[item.row()]
        text = item.text().strip()
        if item.column() == 1 and text and text != cat.name:
            self.change(cat, f"Rename class {cat.name} to {text}", name=text)
        elif item.column() == 2 and text != (cat.supercategory or ""):
            self.change(cat, f"Set supercategory of {cat.name}", supercategory=text or None)
        else:
            self.refresh()

    def _ask_add(self) -> None:
        name, ok = QInputDialog.getText(self, "Add class", "Name:")
        if ok and name.strip():
            self.add(name.strip())

    def _ask_colour(self) -> None:
        cat = self._selected()
        if cat is None:
            return
        c = QColorDialog.getColor(QColor(*category_color(cat)), self, f"Colour of {cat.name}")
        if c.isValid():
            self.change(cat, f"Recolour class {cat.name}", color=c.name())

    def _ask_delete(self) -> None:
        cat = self._selected()
        if cat is None:
            return
        n = self.counts().get(cat.id, 0)
        target = None
        if n:
            others = [c for c in self.doc.dataset.categories if c is not cat]
            if not others:
                return
            name, ok = QInputDialog.getItem(
                self, "Class in use", f"{n} instance(s) are '{cat.name}'. Move them to:",
                [c.name for c in others], 0, False)
            if not ok:
                return
            target = next(c.id for c in others if c.name == name)
        self.delete(cat, target)
