"""Help > Keyboard shortcuts…: every action of the table with its keys, changeable.

The table's keys are the defaults; only the actions a user changed are stored
(Settings.shortcuts), and `effective_keys` lays them over the defaults at start-up.
Every action is a window shortcut of the main window, so they all share one context:
a key two actions hold is a conflict (Qt would then fire neither), and the dialog
refuses it, naming the action that has it. Tab, Shift+Tab and Space are nobody's:
they move the focus (and step through instances on the canvas and the instance
list) and pan the canvas.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHBoxLayout,
                               QHeaderView, QKeySequenceEdit, QLabel, QLineEdit, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ..settings import Settings
from .action_table import DEFS, FIXED_KEYS, plain_text, set_keys

MAX_KEYS = 4  # keys one action can have (Zoom in has four)
Keys = dict[str, list[QKeySequence]]


def parse(keys) -> list[QKeySequence]:
    """Portable-text keys to sequences; empty and unreadable ones are left out."""
    out = []
    for k in keys:
        seq = QKeySequence(k, QKeySequence.PortableText)
        if not seq.isEmpty() and seq not in out:
            out.append(seq)
    return out


def portable(seqs: list[QKeySequence]) -> list[str]:
    return [s.toString(QKeySequence.PortableText) for s in seqs]


def native(seqs: list[QKeySequence]) -> str:
    return ", ".join(s.toString(QKeySequence.NativeText) for s in seqs)


def defaults() -> Keys:
    return {name: parse(d.keys) for name, d in DEFS.items()}


def reserved(seq: QKeySequence) -> str | None:
    """Why a key can be no action's shortcut (None: it can)."""
    if seq.count() != 1:
        return "a shortcut here is one key combination"
    combo = seq[0]
    mods = combo.keyboardModifiers() & ~Qt.ShiftModifier
    if combo.key() in (Qt.Key_Tab, Qt.Key_Backtab) and not mods:
        return ("Tab and Shift+Tab move the keyboard focus (and step through instances on "
                "the canvas and in the instance list)")
    if combo.key() == Qt.Key_Space and not mods:
        return "Space + drag pans the canvas"
    return None


def holder(keys: Keys, name: str, seq: QKeySequence) -> str | None:
    """The other action that has `seq` already, if any."""
    return next((other for other, seqs in keys.items() if other != name and seq in seqs), None)


def describe(name: str) -> str:
    d = DEFS[name]
    return f"{d.menu} → {plain_text(d)}"


def effective_keys(changed: dict[str, list[str]]) -> tuple[Keys, list[str]]:
    """Each action's keys: the user's where changed, else the table's. A changed key
    that is reserved, or that two changed actions both claim, is dropped; a default key
    a changed action took is taken from its default holder. Returns (keys, notes)."""
    keys, notes = defaults(), []
    mine: Keys = {}
    for name, strings in changed.items():
        if name not in DEFS:
            continue  # an action of another version
        mine[name] = []
        for seq in parse(strings):
            why, other = reserved(seq), holder(mine, name, seq)
            if why or other:
                notes.append(f"{seq.toString(QKeySequence.NativeText)} was not given to "
                             f"{describe(name)}: {why or describe(other) + ' has it'}")
            else:
                mine[name].append(seq)
    for name, seqs in mine.items():
        for seq in seqs:
            for other in list(keys):
                if other not in mine and seq in keys[other]:
                    keys[other] = [s for s in keys[other] if s != seq]
                    notes.append(f"{seq.toString(QKeySequence.NativeText)} is "
                                 f"{describe(name)} now, no longer {describe(other)}")
        keys[name] = seqs
    return keys, notes


def changes(keys: Keys) -> dict[str, list[str]]:
    """What Settings stores: the actions whose keys differ from the table's."""
    base = defaults()
    return {name: portable(seqs) for name, seqs in keys.items() if seqs != base.get(name)}


def apply_keys(actions: dict[str, QAction], keys: Keys) -> None:
    for name, seqs in keys.items():
        if name in actions:
            set_keys(actions[name], seqs)


class ShortcutDialog(QDialog):
    """The table of actions (filterable) and, for the selected one, up to MAX_KEYS
    key editors. Edits are checked as they are made; OK applies and stores them."""

    def __init__(self, actions: dict[str, QAction], settings: Settings,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        self.actions, self.settings = actions, settings
        self.keys: Keys = {name: list(actions[name].shortcuts()) for name in DEFS
                           if name in actions}
        self.names = list(self.keys)
        self.current: str | None = None
        self.filter_edit = QLineEdit(placeholderText="Filter by action or key…")
        self.filter_edit.setObjectName("shortcutFilter")
        self.filter_edit.setClearButtonEnabled(True)
        self.table = QTableWidget(len(self.names), 3)
        self.table.setObjectName("shortcutTable")
        self.table.setHorizontalHeaderLabels(["Menu", "Action", "Keys"])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        hdr = self.table.horizontalHeader()
        hdr.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        hdr.setSectionResizeMode(1, QHeaderView.Stretch)
        self.table.setColumnWidth(2, self.fontMetrics().horizontalAdvance("+, =, Ctrl++, Ctrl+=")
                                  + 16)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        for row, name in enumerate(self.names):
            d = DEFS[name]
            for col, text in enumerate((d.menu, plain_text(d), "")):
                self.table.setItem(row, col, QTableWidgetItem(text))
            self._show_row(row)
        self.edit_label = QLabel("Select an action to change its keys.")
        self.edits = []
        edit_row = QHBoxLayout()
        for k in range(MAX_KEYS):
            e = QKeySequenceEdit()
            e.setObjectName(f"keyEdit{k}")
            e.setMaximumSequenceLength(1)
            e.setClearButtonEnabled(True)
            e.setEnabled(False)
            e.editingFinished.connect(self._edited)  # a key was recorded
            # a clear (its button) emits only this; so does the start of a recording,
            # which has finished by the time the event loop turns
            e.keySequenceChanged.connect(lambda seq: seq.isEmpty() and QTimer.singleShot(
                0, self, self._edited))
            edit_row.addWidget(e)
            self.edits.append(e)
        self.message = QLabel("")
        self.message.setObjectName("shortcutMessage")
        self.message.setWordWrap(True)
        fixed = QLabel("Fixed: " + "; ".join(f"{k} ({t.lower()})" for _m, t, k in FIXED_KEYS))
        fixed.setWordWrap(True)
        fixed.setEnabled(False)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel
                                        | QDialogButtonBox.RestoreDefaults)
        self.buttons.button(QDialogButtonBox.RestoreDefaults).setText("Reset to defaults")
        lay = QVBoxLayout(self)
        for w in (self.filter_edit, self.table, self.edit_label):
            lay.addWidget(w)
        lay.addLayout(edit_row)
        for w in (self.message, fixed, self.buttons):
            lay.addWidget(w)
        self.resize(640, 560)
        self.filter_edit.textChanged.connect(self._filter)
        self.table.itemSelectionChanged.connect(self._on_select)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.RestoreDefaults).clicked.connect(
            self.reset_defaults)

    # ------------------------------------------------------------------ table
    def _show_row(self, row: int) -> None:
        self.table.item(row, 2).setText(native(self.keys[self.names[row]]))

    def _filter(self, text: str) -> None:
        text = text.strip().lower()
        for row, name in enumerate(self.names):
            hay = " ".join(self.table.item(row, c).text() for c in range(3)).lower()
            self.table.setRowHidden(row, bool(text) and text not in hay)

    def select(self, name: str) -> None:
        row = self.names.index(name)
        self.table.selectRow(row)
        self.table.scrollToItem(self.table.item(row, 1))

    def _on_select(self) -> None:
        self._edited()  # a cleared key of the action left behind counts
        rows = self.table.selectionModel().selectedRows()
        self.current = self.names[rows[0].row()] if rows else None
        self.edit_label.setText(f"Keys for {describe(self.current)}:" if self.current
                                else "Select an action to change its keys.")
        self._fill_edits()

    def _fill_edits(self) -> None:
        seqs = self.keys.get(self.current, [])
        for k, e in enumerate(self.edits):
            e.blockSignals(True)
            e.setKeySequence(seqs[k] if k < len(seqs) else QKeySequence())
            e.setEnabled(self.current is not None)
            e.blockSignals(False)

    # ----------------------------------------------------------------- editing
    def _edited(self) -> None:
        """The editors changed: take their keys for the current action, or refuse."""
        if self.current is None:
            return
        wanted = [e.keySequence() for e in self.edits if not e.keySequence().isEmpty()]
        if wanted == self.keys[self.current]:
            return
        refusal = self.set_keys(self.current, wanted)
        if refusal:
            self._fill_edits()  # back to the keys the action keeps

    def set_keys(self, name: str, seqs: list[QKeySequence]) -> str | None:
        """Give `name` these keys in the dialog (applied on OK). Returns the refusal,
        shown in the dialog too, or None when they were taken."""
        seqs = [s for k, s in enumerate(seqs) if s not in seqs[:k]]
        for seq in seqs:
            text = seq.toString(QKeySequence.NativeText)
            why = reserved(seq)
            other = holder(self.keys, name, seq)
            if why or other:
                refusal = (f"{text} cannot be a shortcut: {why}." if why else
                           f"{text} is already {describe(other)}. Give that action another "
                           f"key first; {describe(name)} keeps its keys.")
                self.message.setText(refusal)
                self.message.setStyleSheet("color: #d04030")
                return refusal
        self.keys[name] = seqs
        self._show_row(self.names.index(name))
        self.message.setText(f"{describe(name)}: {native(seqs) or 'no key'} (OK applies it)")
        self.message.setStyleSheet("")
        return None

    def reset_defaults(self) -> None:
        self.keys = {name: seqs for name, seqs in defaults().items() if name in self.keys}
        for row in range(len(self.names)):
            self._show_row(row)
        self._fill_edits()
        self.message.setText("Every action has its default keys again (OK applies it)")
        self.message.setStyleSheet("")

    def accept(self) -> None:
        """Apply the keys to the actions and store what differs from the defaults."""
        self._edited()
        apply_keys(self.actions, self.keys)
        self.settings.shortcuts = changes(self.keys)
        self.settings.save()
        super().accept()
