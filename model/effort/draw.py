"""The simulated annotator's hands: each route played with MaskLoop's own edit code
(the stroke engine, the polygon tool's rasteriser, the vertex tool's rings, the box
tool's box -> mask route, the click tool's candidates), counting its gestures.

Which route to play is decided at a glance (glance.py); this module only plays one.
Every route ends at IoU >= tau: the stroke loop fixes at least one pixel a stroke.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from model.data.annotations import ImageRecord, Instance
from model.data.masks import Offset
from model.editing import vertices as V
from model.editing.ops import Edit
from model.editing.pixel_ops import fill_holes
from model.editing.stroke_engine import polygon_ops
from model.effort import simulated_brush as S
from model.effort.action_costs import ACCEPT, BOX, CLICK, OBJECT, RELABEL, STROKE, VERTEX, Tally
from model.effort.matching import instance_iou

STROKE_GUARD = 100_000  # never reached: every stroke fixes at least one pixel
POLYGON_TOLERANCE = 1.0  # px, the outline's simplification for a drawn polygon

Box = tuple[float, float, float, float]
# (image or None, (x0, y0, x1, y1)) -> (mask crop, offset)
BoxToMask = Callable[[np.ndarray | None, Box], tuple[np.ndarray, Offset]]
# image or None -> the model's detections down to a low score, best first (click -> instance)
Candidates = Callable[[np.ndarray | None], list[Instance]]


def classical_box_to_mask(image: np.ndarray | None, box: Box, height: int, width: int
                          ) -> tuple[np.ndarray, Offset]:
    """The GUI's fallback when no model is loaded (model.net.assist.FALLBACK)."""
    from model.net import assist as A
    if image is None:
        return A.ellipse(box, width, height)
    return A.classical_mask(image, box)


def record(height: int, width: int) -> ImageRecord:
    return ImageRecord(id=0, file_name="", width=width, height=height)


def correct(rec: ImageRecord, inst: Instance, gt: Instance, tau: float,
            limit: int = STROKE_GUARD, new: bool = False) -> tuple[int, bool]:
    """Strokes on `inst` until IoU >= tau (at most `limit`): (strokes, reached)."""
    n = 0
    while n < limit:
        if not new and instance_iou(inst, gt) >= tau:
            return n, True
        g, c, rect = S.patches(gt, inst)
        p = S.plan(g, c, rect)
        if p is None:
            return n, True
        S.play(rec, inst, p, new)
        new = new and not any(i is inst for i in rec.instances)
        n += 1
    return n, instance_iou(inst, gt) >= tau


def xyxy(gt: Instance) -> Box:
    x, y, w, h = gt.bbox
    return (float(x), float(y), float(x + w), float(y + h))


def by_box(gt: Instance, height: int, width: int, tau: float, image=None,
           box_to_mask: BoxToMask | None = None) -> tuple[Instance, Tally]:
    """One drag on the object's bounding box, then strokes."""
    rec = record(height, width)
    box = xyxy(gt)
    mask, offset = (box_to_mask(image, box) if box_to_mask is not None
                    else classical_box_to_mask(image, box, height, width))
    inst = Instance(gt.category_id, source="human")
    if mask.size and mask.any():
        inst.set_mask(mask, offset)
        rec.instances.append(inst)
    tally = Tally()
    tally.add(OBJECT)
    tally.add(BOX)
    n, _ok = correct(rec, inst, gt, tau, new=not rec.instances)
    if n:
        tally.add(STROKE, n)
    return inst, tally


def rings(gt: Instance) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Outer rings and hole rings of the outline, each list largest first."""
    all_rings = V.rings(gt.mask, gt.offset, POLYGON_TOLERANCE)
    n_outer = len(V.rings(fill_holes(gt.mask), gt.offset, POLYGON_TOLERANCE))

    def area(r: np.ndarray) -> float:
        x, y = r[:, 0], r[:, 1]
        return abs(float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))) / 2

    def order(rs: list[np.ndarray]) -> list[np.ndarray]:
        return [r for _k, r in sorted(enumerate(rs), key=lambda kr: (-area(kr[1]), kr[0]))]
    return order(all_rings[:n_outer]), order(all_rings[n_outer:])


def by_polygon(gt: Instance, height: int, width: int, tau: float) -> tuple[Instance, Tally]:
    """The outline's rings, parts then holes largest first while below tau, then strokes."""
    rec = record(height, width)
    inst = Instance(gt.category_id, source="human")
    tally = Tally()
    tally.add(OBJECT)
    outer, holes = rings(gt)
    for subtract, ring_list in ((False, outer), (True, holes)):
        for ring in ring_list:
            inserted = any(i is inst for i in rec.instances)
            if inserted and instance_iou(inst, gt) >= tau:
                break
            if subtract and not inserted:
                break
            pts = [(float(x), float(y)) for x, y in ring]
            tally.add(VERTEX, len(pts))
            ops = polygon_ops(rec, inst, pts, subtract, [], False, new=not inserted)
            Edit("Polygon", ops).apply()
    n, _ok = correct(rec, inst, gt, tau, new=not any(i is inst for i in rec.instances))
    if n:
        tally.add(STROKE, n)
    return inst, tally


def by_click(gt: Instance, height: int, width: int, tau: float, candidate: Instance,
             clicks: int) -> tuple[Instance, Tally]:
    """Click -> instance as the GUI's click tool: `clicks` clicks (the first, then a Tab
    per candidate passed over) offer `candidate`; it is accepted (the model's
    detection, accepted), its class changed if wrong, then strokes until tau."""
    rec = record(height, width)
    inst = Instance(candidate.category_id, candidate.mask, candidate.offset,
                    score=candidate.score, source="model", review="accepted",
                    model=candidate.model)
    rec.instances.append(inst)
    tally = Tally()
    tally.add(OBJECT)
    tally.add(CLICK, clicks)
    tally.add(ACCEPT)
    if inst.category_id != gt.category_id:
        inst.category_id = gt.category_id  # relabel_edit's effect on the class
        tally.add(RELABEL)
    n, _ok = correct(rec, inst, gt, tau)
    if n:
        tally.add(STROKE, n)
    return inst, tally
