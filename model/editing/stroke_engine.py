"""The stroke engine and the polygon tool's pixel logic, free of Qt.

A Stroke never changes the dataset. It paints into working buffers and shows them
through preview copies of the instances it touches (the UI draws those instead);
finish() returns the ops that make the change, for one undoable step.
"""
from __future__ import annotations

import numpy as np

from model.data.annotations import ImageRecord, Instance
from model.editing.ops import InsertOp, Op
from model.editing.user_actions import mask_ops
from model.editing.pixel_ops import (Rect, WorkingMask, capsule, clip_rect, mask_rect, patch_of,
                                  polygon_mask, union_rect, with_patch)


def _overlaps(r: Rect | None, rect: Rect) -> bool:
    return r is not None and r[0] < rect[2] and r[2] > rect[0] and r[1] < rect[3] and r[3] > rect[1]


def occupied(others: list[Instance], rect: Rect) -> np.ndarray:
    """Pixels of `rect` that other instances own, for 'paint only unoccupied pixels'."""
    out = np.zeros((rect[3] - rect[1], rect[2] - rect[0]), bool)
    for other in others:
        if _overlaps(mask_rect(other.mask, other.offset), rect):
            out |= patch_of(other.mask, other.offset, rect)
    return out


class Stroke:
    """One press-drag-release of the brush or the eraser.

    `target` is the instance painted into (a new, empty one not yet in the image
    when `new` is True); an eraser without a target erases from every instance in
    `others` it crosses. `others` are the instances drawn besides the target.
    """

    def __init__(self, rec: ImageRecord, radius: float, erase: bool, target: Instance | None,
                 others: list[Instance], unoccupied: bool = False, new: bool = False):
        self.rec, self.radius, self.erase = rec, radius, erase
        self.width, self.height = rec.width, rec.height
        self.target, self.others, self.new = target, others, new
        self.unoccupied = unoccupied
        self.rect: Rect | None = None
        self.last: tuple[float, float] | None = None
        self.points: list[tuple[float, float]] = []
        self._work: dict[int, tuple[Instance, WorkingMask, Instance]] = {}
        if target is not None:
            self._touch(target)

    @property
    def previews(self) -> dict[int, Instance]:
        """id(instance) -> the copy showing its pixels as the stroke has them now."""
        return {k: preview for k, (_inst, _wm, preview) in self._work.items()}

    def _touch(self, inst: Instance) -> WorkingMask:
        entry = self._work.get(id(inst))
        if entry is None:
            wm = WorkingMask(inst.mask, inst.offset, self.width, self.height)
            entry = (inst, wm, inst.copy())
            self._work[id(inst)] = entry
        return entry[1]

    def _show(self, inst: Instance, wm: WorkingMask) -> None:
        self._work[id(inst)][2].set_mask_live(wm.data, wm.offset)

    def add(self, x: float, y: float) -> Rect | None:
        """Extend the stroke to (x, y) in image coordinates; returns the rect to redraw."""
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
                i for i in self.others if _overlaps(mask_rect(i.mask, i.offset), rect)]
            for inst in victims:
                wm = self._touch(inst)
                if wm.paint(stamp, rect, False):
                    self._show(inst, wm)
        else:
            wm = self._touch(self.target)
            blocked = occupied(self.others, rect) if self.unoccupied else None
            if wm.paint(stamp, rect, True, blocked):
                self._show(self.target, wm)
        return rect

    def finish(self) -> list[Op]:
        """The ops of this stroke (none when no pixel changed). An instance erased to
        nothing is removed; a new instance is inserted with its final mask."""
        rect = clip_rect(self.rect, self.width, self.height) if self.rect else None
        if rect is None:
            return []
        ops: list[Op] = []
        for inst, wm, _preview in self._work.values():
            after = wm.result()
            if self.new and inst is self.target:
                if after[0].size:
                    inst.set_mask(*after)
                    ops.append(InsertOp(self.rec, inst, len(self.rec.instances)))
                continue
            ops += mask_ops(self.rec, inst, after, keep_result=True, rect=rect)
        return ops


def polygon_ops(rec: ImageRecord, target: Instance, points: list[tuple[float, float]],
                subtract: bool, others: list[Instance], unoccupied: bool = False,
                new: bool = False) -> list[Op]:
    """Add the polygon's pixels to `target` (or cut them out); [] when nothing changes."""
    poly = polygon_mask(points, rec.width, rec.height)
    if poly is None:
        return []
    area, rect = poly
    if unoccupied and not subtract:
        area = area & ~occupied(others, rect)
    current = patch_of(target.mask, target.offset, rect)
    patch = (current & ~area) if subtract else (current | area)
    after = with_patch(target.mask, target.offset, rect, patch)
    if new:
        if not after[0].size:
            return []
        target.set_mask(*after)
        return [InsertOp(rec, target, len(rec.instances))]
    return mask_ops(rec, target, after, keep_result=True, rect=rect)
