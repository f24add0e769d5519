"""Undoable edits as lists of small operations, and the undo memory budget.

A mask change is stored as the changed rectangle only, before and after, bit-packed:
memory per step is proportional to the area touched, never the image (napari's
_MaskedPaintAtom does the same). One EditCommand is one user action.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtGui import QUndoCommand, QUndoStack
from shiboken6 import isValid

from model.annotations import Category, ImageRecord, Instance
from model.mask_edit import Rect, mask_rect, patch_of, union_rect, with_patch

from .document import Document

DEFAULT_BUDGET_BYTES = 256 * 1024 * 1024


def _pack(a: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    return np.packbits(a, axis=None), a.shape


def _unpack(packed: tuple[np.ndarray, tuple[int, int]]) -> np.ndarray:
    bits, shape = packed
    return np.unpackbits(bits, count=shape[0] * shape[1]).reshape(shape).astype(bool)


def diff_rect(before: tuple[np.ndarray, tuple], after: tuple[np.ndarray, tuple]) -> Rect | None:
    """Bounding box of the pixels that differ between two cropped masks."""
    full = union_rect(mask_rect(*before), mask_rect(*after))
    if full is None:
        return None
    a, b = patch_of(*before, full), patch_of(*after, full)
    d = a ^ b
    rows, cols = np.flatnonzero(d.any(axis=1)), np.flatnonzero(d.any(axis=0))
    if rows.size == 0:
        return None
    return (full[0] + int(cols[0]), full[1] + int(rows[0]),
            full[0] + int(cols[-1]) + 1, full[1] + int(rows[-1]) + 1)


class Op:
    nbytes = 0

    def apply(self, doc: Document) -> None:
        raise NotImplementedError

    def revert(self, doc: Document) -> None:
        raise NotImplementedError


@dataclass
class PatchOp(Op):
    """Pixels of one instance inside `rect`, before and after, plus its provenance."""
    rec: ImageRecord
    inst: Instance
    rect: Rect
    before: tuple
    after: tuple
    state_before: tuple
    state_after: tuple

    @classmethod
    def build(cls, rec, inst, before_mask, after_mask, state_before, rect=None) -> "PatchOp | None":
        rect = rect or diff_rect(before_mask, after_mask)
        if rect is None:
            return None
        return cls(rec, inst, rect, _pack(patch_of(*before_mask, rect)),
                   _pack(patch_of(*after_mask, rect)), state_before, inst.edit_state())

    @property
    def nbytes(self) -> int:
        return self.before[0].nbytes + self.after[0].nbytes

    def _set(self, doc: Document, patch, state) -> None:
        mask, offset = with_patch(self.inst.mask, self.inst.offset, self.rect, _unpack(patch))
        doc.set_instance_mask(self.rec, self.inst, mask, offset, self.rect)
        self.inst.restore_edit_state(state)

    def apply(self, doc):
        self._set(doc, self.after, self.state_after)

    def revert(self, doc):
        self._set(doc, self.before, self.state_before)


@dataclass
class InsertOp(Op):
    rec: ImageRecord
    inst: Instance
    index: int

    def apply(self, doc):
        doc.insert_instance(self.rec, self.inst, self.index)

    def revert(self, doc):
        doc.remove_instance(self.rec, self.inst)


@dataclass
class RemoveOp(Op):
    rec: ImageRecord
    inst: Instance
    index: int

    def apply(self, doc):
        doc.remove_instance(self.rec, self.inst)

    def revert(self, doc):
        doc.insert_instance(self.rec, self.inst, self.index)


@dataclass
class AttrOp(Op):
    """Category, review or provenance of one instance."""
    rec: ImageRecord
    inst: Instance
    name: str
    before: object
    after: object

    def apply(self, doc):
        doc.set_instance_attr(self.rec, self.inst, self.name, self.after)

    def revert(self, doc):
        doc.set_instance_attr(self.rec, self.inst, self.name, self.before)


@dataclass
class StatusOp(Op):
    rec: ImageRecord
    before: str
    after: str

    def apply(self, doc):
        doc.set_status(self.rec, self.after)

    def revert(self, doc):
        doc.set_status(self.rec, self.before)


@dataclass
class CategoryOp(Op):
    """Add (before None), remove (after None) or change (both set) one category."""
    before: Category | None
    after: Category | None
    index: int = -1

    def apply(self, doc):
        doc.replace_category(self.before, self.after, self.index)

    def revert(self, doc):
        doc.replace_category(self.after, self.before, self.index)


class EditCommand(QUndoCommand):
    """One user action = a list of ops; undo runs them backwards."""

    def __init__(self, doc: Document, text: str, ops: list[Op], applied: bool = False):
        super().__init__(text)
        self.doc = doc
        self.ops = [op for op in ops if op is not None]
        self._skip_first_redo = applied  # a stroke is already on screen when it is pushed
        self.dropped = False

    @property
    def nbytes(self) -> int:
        return sum(op.nbytes for op in self.ops)

    def redo(self) -> None:
        if self._skip_first_redo:
            self._skip_first_redo = False
            return
        for op in self.ops:
            op.apply(self.doc)

    def undo(self) -> None:
        for op in reversed(self.ops):
            op.revert(self.doc)


def touch_status(rec: ImageRecord) -> StatusOp | None:
    """Editing an image puts it in progress (from unreviewed or done)."""
    return None if rec.status == "in_progress" else StatusOp(rec, rec.status, "in_progress")


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
        return sum(getattr(self.stack.command(i), "nbytes", 0) for i in range(self.stack.count())
                   if not getattr(self.stack.command(i), "dropped", False))

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
                cmd.ops, cmd.dropped = [], True
            cmd.setText(f"(dropped to save memory) {cmd.text()}")
            i += 1
        self.floor = i
