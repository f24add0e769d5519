"""What a person judges at a glance (issue 29): how much correcting an offered mask
would cost, and how much drawing its object anew would, without playing either.

A careful person does not try a correction to find out it was hopeless. Looking at
an offer over its object, they see the wrong blobs (the ground truth XOR the offer,
split into 8-connected regions) and how intricate the object's outline is. The model
of that glance:

- correcting: the blobs are fixed largest first, one stroke each, until the mask
  would reach IoU tau; a wrong class adds a class change; the accept ends it. A blob
  is one stroke because the brush is sized to it (simulated_brush.py); a long thin blob can
  need more, which the glance does not see, as a person would not.
- drawing: the cheapest in seconds of the polygon (the outline simplified at 1 px,
  parts largest first, then holes largest first, until IoU tau by area), the box (2
  actions, then the correction of the box route's mask, estimated as above) and, with
  a model, the click (click -> instance: a click on the object's most interior pixel,
  a Tab per candidate passed over, then the correction of the candidate taken). Each
  starts with finding the object (`object`: time, no action).

Both are estimates in the counting scheme of action_costs.py, so the annotator can choose
a route by them and the offer gate can price an offer nobody acted on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from model.data.annotations import Instance
from model.data.masks import Offset
from model.editing import vertices as V
from model.editing.pixel_ops import fill_holes, mask_rect, patch_of, union_rect
from model.effort.action_costs import ACCEPT, BOX, CLICK, OBJECT, RELABEL, STROKE, VERTEX, Tally
from model.effort.timings import seconds

Box = tuple[float, float, float, float]
BoxMask = Callable[[Box], tuple[np.ndarray, Offset]]  # the box route's mask for a box
HOPELESS = 20  # blobs past this: nobody corrects such a mask (annotator.MAX_CORRECTION)
POLYGON_TOLERANCE = 1.0


@dataclass(frozen=True)
class Estimate:
    tally: Tally
    route: str  # "correct", "polygon", "box" or "click"
    candidate: Instance | None = None  # the click route's candidate (a Tab per one passed)

    @property
    def actions(self) -> int:
        return self.tally.actions

    @property
    def seconds(self) -> float:
        return seconds(self.tally)


def blobs_to_fix(have: np.ndarray, want: np.ndarray, tau: float) -> int | None:
    """Strokes (one per error blob, largest first) that bring `have` to IoU >= tau
    with `want` (same-shaped bool patches); None when `want` is empty."""
    inter = int(np.count_nonzero(have & want))
    union = int(np.count_nonzero(have | want))
    if union == 0 or not want.any():
        return None
    if inter >= tau * union:
        return 0
    sizes = []
    for err, missing in ((want & ~have, True), (have & ~want, False)):
        if not err.any():
            continue
        n, _lab, stats, _c = cv2.connectedComponentsWithStats(err.astype(np.uint8),
                                                              connectivity=8)
        sizes += [(int(stats[k, cv2.CC_STAT_AREA]), missing) for k in range(1, n)]
    sizes.sort(key=lambda s: -s[0])
    for k, (area, missing) in enumerate(sizes, start=1):
        if missing:
            inter += area  # painting a missing blob adds it to both
        else:
            union -= area  # erasing an extra blob takes it out of the union
        if inter >= tau * union:
            return k
    return len(sizes)


def _patches(a: np.ndarray, a_off: Offset, b: np.ndarray, b_off: Offset):
    rect = union_rect(mask_rect(a, a_off), mask_rect(b, b_off))
    if rect is None:
        return np.zeros((0, 0), bool), np.zeros((0, 0), bool)
    return patch_of(a, a_off, rect), patch_of(b, b_off, rect)


def correction(offer: Instance, truth: Instance, tau: float) -> Estimate | None:
    """Correcting `offer` into `truth`: class change if needed, strokes, accept.
    None when the glance says it is hopeless (past HOPELESS actions)."""
    have, want = _patches(offer.mask, offer.offset, truth.mask, truth.offset)
    n = blobs_to_fix(have, want, tau)
    if n is None:
        return None
    t = Tally()
    if offer.category_id != truth.category_id:
        t.add(RELABEL)
    if n:
        t.add(STROKE, n)
    if t.actions >= HOPELESS:
        return None
    t.add(ACCEPT)
    return Estimate(t, "correct")


def _ring_vertices(mask: np.ndarray) -> int:
    return sum(len(r) for r in V.rings(mask, (0, 0), POLYGON_TOLERANCE))


def polygon(truth: Instance, tau: float) -> Estimate:
    """The polygon route: parts largest first, then holes largest first, one vertex an
    action, while the drawn area is below IoU tau (by pixel counts)."""
    m = truth.mask
    t = Tally()
    t.add(OBJECT)
    total = int(np.count_nonzero(m))
    if total == 0:
        return Estimate(t, "polygon")
    n, labels, stats, _c = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    parts = sorted(range(1, n), key=lambda k: -int(stats[k, cv2.CC_STAT_AREA]))
    inter, union, holes = 0, total, []
    for k in parts:
        if inter and inter >= tau * union:
            break
        part = labels == k
        filled = fill_holes(part)
        t.add(VERTEX, _ring_vertices(filled))
        area, extra = int(np.count_nonzero(part)), int(np.count_nonzero(filled & ~part))
        inter += area
        union += extra
        if extra:
            gaps = (filled & ~part).astype(np.uint8)
            hn, hl, hstats, _ = cv2.connectedComponentsWithStats(gaps, connectivity=4)
            holes += [(int(hstats[j, cv2.CC_STAT_AREA]), hl == j) for j in range(1, hn)]
    for area, hole in sorted(holes, key=lambda h: -h[0]):
        if inter >= tau * union:
            break
        t.add(VERTEX, _ring_vertices(hole))
        union -= area
    if inter < tau * union:
        t.add(STROKE)  # the 1-px simplification left it short: one touch-up
    return Estimate(t, "polygon")


def box(truth: Instance, tau: float, box_mask: BoxMask) -> Estimate | None:
    """The box route: one drag (2 actions), then the correction of its mask."""
    x, y, w, h = truth.bbox
    mask, off = box_mask((float(x), float(y), float(x + w), float(y + h)))
    t = Tally()
    t.add(OBJECT)
    t.add(BOX)
    if mask.size == 0 or not mask.any():
        return None
    have, want = _patches(mask, off, truth.mask, truth.offset)
    n = blobs_to_fix(have, want, tau)
    if n is None:
        return None
    if n:
        t.add(STROKE, n)
    return Estimate(t, "box")


def interior_pixel(truth: Instance) -> tuple[int, int]:
    """(x, y) in image pixels of the object's most interior pixel (the largest distance
    to its outline; ties: the first in raster order): where a person clicks."""
    dist = cv2.distanceTransform(np.pad(truth.mask, 1).astype(np.uint8), cv2.DIST_L2,
                                 cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(x) + truth.offset[0], int(y) + truth.offset[1]


def covering(cands: list[Instance], x: int, y: int) -> list[Instance]:
    """Candidates whose mask covers (x, y), best score first: model.net.assist.covering,
    the GUI click tool's rule (imported late: it needs torch)."""
    from model.net.assist import covering as cover
    return cover(cands, x, y)


def click(truth: Instance, tau: float, candidates: list[Instance]) -> Estimate | None:
    """The click route: a click on the object's most interior pixel offers the best
    candidate covering it; each Tab (or Shift+click) to the next costs a click; the one
    taken is then corrected (class change, strokes) and accepted. The person takes the
    candidate whose clicks and correction cost least; None when no candidate covers the
    pixel or every one is hopeless."""
    if not truth.mask.any():
        return None
    hits = covering(candidates, *interior_pixel(truth))
    best = None
    for k, cand in enumerate(hits):
        fix = correction(cand, truth, tau)
        if fix is None:
            continue
        t = Tally()
        t.add(OBJECT)
        t.add(CLICK, k + 1)
        t += fix.tally
        est = Estimate(t, "click", cand)
        if best is None or (est.seconds, est.actions) < (best.seconds, best.actions):
            best = est
    return best


def drawing(truth: Instance, tau: float, box_mask: BoxMask | None = None,
            candidates: list[Instance] | None = None) -> Estimate:
    """The cheapest (in seconds; ties: actions, then polygon, box, click) of the
    polygon, box (with a box route) and click (with the model's candidates) routes."""
    options = [polygon(truth, tau)]
    if box_mask is not None:
        b = box(truth, tau, box_mask)
        if b is not None:
            options.append(b)
    if candidates:
        c = click(truth, tau, candidates)
        if c is not None:
            options.append(c)
    return min(options, key=lambda e: (e.seconds, e.actions))
