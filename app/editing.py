"""Mask editing: brush and eraser strokes, polygons, and the state the tools share
(brush size, the class for new instances, 'new instance' armed, unoccupied mode).

A stroke paints into a working buffer shown live through the one overlay (only
the stroke's rectangle is recomposited); on mouse release it becomes one
EditCommand holding the changed rectangle before and after.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from model.annotations import ImageRecord, Instance
from model.mask_edit import (Rect, WorkingMask, capsule, clip_rect, mask_rect, patch_of,
                             polygon_mask, union_rect, with_patch)

from .commands import add_category_ops
from .document import Document
from .edits import EditCommand, InsertOp, PatchOp, RemoveOp, touch_status


def occupied(others: list[Instance], rect: Rect) -> np.ndarray:
    """Pixels of `rect` that other instances own, for 'paint only unoccupied pixels'."""
    out = np.zeros((rect[3] - rect[1], rect[2] - rect[0]), bool)
    for other in others:
        r = mask_rect(other.mask, other.offset)
        if r is not None and r[0] < rect[2] and r[2] > rect[0] and r[1] < rect[3] and r[3] > rect[1]:
            out |= patch_of(other.mask, other.offset, rect)
    return out


class Stroke:
    """One press-drag-release of the brush or the eraser."""

    def __init__(self, doc: Document, rec: ImageRecord, radius: float, erase: bool,
                 target: Instance | None, unoccupied: bool, new_ops: list):
        self.doc, self.rec, self.radius, self.erase = doc, rec, radius, erase
        self.unoccupied = unoccupied
        self.width, self.height = rec.width, rec.height
        self.new_ops = new_ops  # ops that made the target (a new instance, a new category)
        self.rect: Rect | None = None
        self.last: tuple[float, float] | None = None
        self.points: list[tuple[float, float]] = []
        # per touched instance: working buffer, mask and provenance before the stroke
        self.work: dict[int, tuple[Instance, WorkingMask, tuple, tuple]] = {}
        self.target = target
        self.others = [i for i in doc.drawn(rec) if i is not target]
        if target is not None:
            self._touch(target)

    def _touch(self, inst: Instance) -> WorkingMask:
        entry = self.work.get(id(inst))
        if entry is None:
            wm = WorkingMask(inst.mask, inst.offset, self.width, self.height)
            entry = (inst, wm, (inst.mask, inst.offset), inst.edit_state())
            self.work[id(inst)] = entry
        return entry[1]

    def _blocked(self, rect: Rect) -> np.ndarray:
        return occupied(self.others, rect)

    def add(self, x: float, y: float) -> Rect | None:
        """Extend the stroke to (x, y) in image coordinates; returns the repainted rect."""
        p = (x, y)
        start = self.last if self.last is not None else p
        self.last = p
        self.points.append(p)
        cap = capsule(start, p, self.radius, self.width, self.height)
        if cap is None:
            return None
        stamp, rect = cap
        self.rect = union_rect(self.rect, rect)
        if self.erase:
            victims = [self.target] if self.target is not None else [
                i for i in self.others
                if (r := mask_rect(i.mask, i.offset)) is not None and r[0] < rect[2]
                and r[2] > rect[0] and r[1] < rect[3] and r[3] > rect[1]]
            for inst in victims:
                wm = self._touch(inst)
                if wm.paint(stamp, rect, False):
                    inst.set_mask_live(wm.data, wm.offset)
        else:
            wm = self._touch(self.target)
            blocked = self._blocked(rect) if self.unoccupied else None
            if wm.paint(stamp, rect, True, blocked):
                self.target.set_mask_live(wm.data, wm.offset)
        self.doc.pixelsEdited.emit(self.rec.id, rect)
        return rect

    def finish(self) -> EditCommand | None:
        """Crop the buffers and build the one undo step; an emptied instance is removed."""
        rect = clip_rect(self.rect, self.width, self.height) if self.rect else None
        patches, removals = [], []
        for inst, wm, before, state in self.work.values():
            after = wm.result()
            inst.set_mask(*after)
            op = PatchOp.build(self.rec, inst, before, after, state, rect) if rect else None
            if op is None or not (patch_of(*before, rect) != patch_of(*after, rect)).any():
                inst.restore_edit_state(state)
                continue
            patches.append(op)
            if after[0].size == 0:
                index = next(k for k, i in enumerate(self.rec.instances) if i is inst)
                removals.append(RemoveOp(self.rec, inst, index))
        if not patches:  # a click that changed nothing: leave no trace
            for op in reversed(self.new_ops):
                op.revert(self.doc)
            self.doc.instancesChanged.emit(self.rec.id, rect)
            return None
        tail = [op for op in removals + [touch_status(self.rec)] if op is not None]
        for op in tail:  # the pixels are on screen already; removals and status are not
            op.apply(self.doc)
        self.doc.instancesChanged.emit(self.rec.id, rect)
        what = "Erase" if self.erase else "Brush"
        return EditCommand(self.doc, f"{what} stroke", self.new_ops + patches + tail, applied=True)


class EditController(QObject):
    """Tool state shared by the canvas tools, the toolbar and the menus."""

    brushSizeChanged = Signal(int)
    categoryChanged = Signal(int)
    newInstanceArmed = Signal(bool)

    def __init__(self, doc: Document):
        super().__init__()
        self.doc = doc
        self.brush_size = 20  # diameter in image pixels
        self.unoccupied = False
        self.new_armed = False
        self.category_id: int | None = None
        self.stroke: Stroke | None = None
        doc.datasetReset.connect(self._on_reset)

    def _on_reset(self) -> None:
        cats = self.doc.dataset.categories if self.doc.dataset else []
        self.set_category(cats[0].id if cats else None)

    # ---------------------------------------------------------------- settings
    def set_brush_size(self, size: int) -> None:
        size = max(1, min(int(size), 1000))
        if size != self.brush_size:
            self.brush_size = size
            self.brushSizeChanged.emit(size)

    def set_category(self, category_id: int | None) -> None:
        self.category_id = category_id
        if category_id is not None:
            self.categoryChanged.emit(category_id)

    def arm_new_instance(self, on: bool = True) -> None:
        self.new_armed = on
        self.newInstanceArmed.emit(on)

    def _new_instance_ops(self, rec: ImageRecord) -> tuple[Instance, list]:
        """A fresh, empty instance of the current class (a class is made if none exists)."""
        ops = []
        if self.category_id is None or not any(c.id == self.category_id
                                               for c in self.doc.dataset.categories):
            if self.doc.dataset.categories:
                self.category_id = self.doc.dataset.categories[0].id
            else:
                op, cat = add_category_ops(self.doc, "object")
                op.apply(self.doc)
                ops.append(op)
                self.category_id = cat.id
            self.categoryChanged.emit(self.category_id)
        inst = Instance(self.category_id, source="human")
        op = InsertOp(rec, inst, len(rec.instances))
        op.apply(self.doc)
        ops.append(op)
        self.arm_new_instance(False)
        return inst, ops

    # ------------------------------------------------------------------ strokes
    def begin_stroke(self, x: float, y: float, erase: bool) -> bool:
        rec = self.doc.current
        if rec is None or not rec.size_known:
            return False
        target, ops = self.doc.selected, []
        if not erase and (self.new_armed or target is None):
            target, ops = self._new_instance_ops(rec)
        self.stroke = Stroke(self.doc, rec, self.brush_size / 2.0, erase, target,
                             self.unoccupied, ops)
        self.stroke.add(x, y)
        return True

    def extend_stroke(self, x: float, y: float) -> Rect | None:
        return self.stroke.add(x, y) if self.stroke is not None else None

    def end_stroke(self) -> EditCommand | None:
        stroke, self.stroke = self.stroke, None
        if stroke is None:
            return None
        cmd = stroke.finish()
        if cmd is not None:
            self.doc.undo_stack.push(cmd)
            target = stroke.target
            if target is not None and any(i is target for i in stroke.rec.instances):
                self.doc.select(target)
        return cmd

    # ----------------------------------------------------------------- polygon
    def apply_polygon(self, points: list[tuple[float, float]], subtract: bool) -> EditCommand | None:
        rec = self.doc.current
        if rec is None or not rec.size_known:
            return None
        poly = polygon_mask(points, rec.width, rec.height)
        if poly is None:
            return None
        area, rect = poly
        target, ops = self.doc.selected, []
        if subtract and (target is None or self.new_armed):
            return None
        if not subtract and (self.new_armed or target is None):
            target, ops = self._new_instance_ops(rec)
        if self.unoccupied and not subtract:
            area = area & ~occupied([i for i in self.doc.drawn(rec) if i is not target], rect)
        before, state = (target.mask, target.offset), target.edit_state()
        current = patch_of(*before, rect)
        patch = (current & ~area) if subtract else (current | area)
        after = with_patch(*before, rect, patch)
        target.set_mask(*after)
        op = PatchOp.build(rec, target, before, after, state, rect)
        if op is None:
            target.restore_edit_state(state)
            for o in reversed(ops):
                o.revert(self.doc)
            return None
        ops.append(op)
        tail = []
        if after[0].size == 0:
            index = next(k for k, i in enumerate(rec.instances) if i is target)
            tail.append(RemoveOp(rec, target, index))
        tail.append(touch_status(rec))
        for t in tail:
            if t is not None:
                t.apply(self.doc)
                ops.append(t)
        self.doc.instancesChanged.emit(rec.id, rect)
        cmd = EditCommand(self.doc, "Subtract polygon" if subtract else "Add polygon", ops,
                          applied=True)
        self.doc.undo_stack.push(cmd)
        if after[0].size:
            self.doc.select(target)
        return cmd
