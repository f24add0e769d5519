"""The undo history: one QUndoCommand per Edit, and the undo memory budget.

One history for the whole dataset, like an image editor's: the Document's undo()
and redo() first show the image a step changes (model/editing/ops.py holds the ops).
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject
from PySide6.QtGui import QUndoCommand, QUndoStack
from shiboken6 import isValid

from model.editing.ops import Edit

DEFAULT_BUDGET_BYTES = 256 * 1024 * 1024


class EditCommand(QUndoCommand):
    """One user action (or one recorded prediction result) on the undo stack."""

    def __init__(self, apply: Callable[[Edit, bool], None], edit: Edit):
        images = edit.images
        # the history names the image of every step, so a step is never a mystery
        super().__init__(f"{edit.text} · {images[0].file_name}" if len(images) == 1 else edit.text)
        self.apply = apply  # Document._apply: the only way an edit reaches the data
        self.edit = edit
        self.image_ids = frozenset(rec.id for rec in images)
        self.cache = edit.cache  # only cached predictions: never makes the file unsaved
        self.dropped = False

    @property
    def nbytes(self) -> int:
        return 0 if self.dropped else self.edit.nbytes

    def redo(self) -> None:
        if not self.dropped:
            self.apply(self.edit, True)

    def undo(self) -> None:
        if not self.dropped:
            self.apply(self.edit, False)

    def drop(self) -> None:
        """Release the pixel data; the step can no longer be undone."""
        self.dropped = True
        self.edit = Edit(self.edit.text, cache=self.cache)
        self.image_ids = frozenset()
        self.setText(f"(dropped to save memory) {self.text()}")


class UndoBudget(QObject):
    """Caps undo memory, not depth: past the budget the oldest steps are dropped.

    QUndoStack can only drop old steps by a count set while empty, so dropped
    steps release their pixel data and become a floor the index cannot go below.
    """

    def __init__(self, stack: QUndoStack, budget_bytes: int = DEFAULT_BUDGET_BYTES):
        super().__init__(stack)
        self.stack, self.budget = stack, budget_bytes
        self.floor = 0
        stack.indexChanged.connect(self._on_index)

    def total(self) -> int:
        return sum(getattr(self.stack.command(i), "nbytes", 0) for i in range(self.stack.count()))

    def _on_index(self, index: int) -> None:
        if not isValid(self.stack):  # the stack signals while it is being destroyed
            return
        if self.floor > self.stack.count():  # the stack was cleared or truncated
            self.floor = 0
        if index < self.floor:
            self.stack.setIndex(self.floor)
            return
        total = self.total()
        i = self.floor
        while total > self.budget and i < self.stack.index() - 1:  # the newest step stays
            cmd = self.stack.command(i)
            total -= getattr(cmd, "nbytes", 0)
            if isinstance(cmd, EditCommand):
                cmd.drop()
            i += 1
        self.floor = i
