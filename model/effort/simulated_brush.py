"""Where the simulated annotator puts its brush: one stroke on the largest error
region, sized to that region, played through MaskLoop's own stroke engine.

The error is the ground truth XOR the current mask, split into 8-connected regions of
missing pixels (painted with the brush) and extra pixels (the eraser). The largest
region is worked on (ties: missing before extra, then the first in raster order).
A person paints boldly where it does no harm: the brush may cover pixels where adding
(or erasing) changes nothing wrong, so the room a stroke has is the ground truth or
the current mask for the brush, and everything but their overlap for the eraser. The
brush radius is three quarters of the room around the region's roomiest pixel less
half a pixel, at most half the region's longer side plus half a pixel, at least half a
pixel. The stroke walks (depth first, 8-connected) the region's pixels whose room
exceeds the radius by half a pixel, so the capsule never leaves the room except where
the path cuts a corner; a region too thin for that gets a dot of radius 0.5 on its
roomiest pixel. Every stroke therefore fixes at least that pixel, and the loop ends.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.data.annotations import ImageRecord, Instance
from model.editing.ops import Edit
from model.editing.pixel_ops import Rect, mask_rect, patch_of, union_rect
from model.editing.stroke_engine import Stroke


SIZES = (1.0, 0.75, 0.5)  # brush radii tried, as fractions of the region's own inscribed radius


@dataclass
class StrokePlan:
    erase: bool
    radius: float
    points: list[tuple[float, float]]  # image coordinates, pixel centres


def _region(gt: np.ndarray, cur: np.ndarray) -> tuple[bool, np.ndarray] | None:
    """(erase, region) of the largest error region, or None when there is no error."""
    best = None
    for erase, err in ((False, gt & ~cur), (True, cur & ~gt)):
        if not err.any():
            continue
        n, labels, stats, _ = cv2.connectedComponentsWithStats(err.astype(np.uint8),
                                                               connectivity=8)
        for k in range(1, n):
            key = (-int(stats[k, cv2.CC_STAT_AREA]), erase, k)
            if best is None or key < best[0]:
                best = (key, erase, labels, k)
    if best is None:
        return None
    _key, erase, labels, k = best
    return erase, labels == k


def _walk(core: np.ndarray, start: tuple[int, int]) -> list[tuple[int, int]]:
    """A depth-first walk over the 8-connected pixels of `core` from `start`, with the
    steps back included, so consecutive points are neighbours: one continuous drag."""
    h, w = core.shape
    seen = np.zeros_like(core)
    seen[start] = True
    path, stack = [start], [start]
    steps = ((0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1))
    while stack:
        y, x = stack[-1]
        for dy, dx in steps:
            ny, nx = y + dy, x + dx
            if 0 <= ny < h and 0 <= nx < w and core[ny, nx] and not seen[ny, nx]:
                seen[ny, nx] = True
                stack.append((ny, nx))
                path.append((ny, nx))
                break
        else:
            stack.pop()
            if stack:
                path.append(stack[-1])
    return path


def plan(gt: np.ndarray, cur: np.ndarray, rect: Rect) -> StrokePlan | None:
    """The next stroke for the current mask `cur` against `gt` (both patches of rect)."""
    found = _region(gt, cur)
    if found is None:
        return None
    erase, region = found
    room = ~(gt & cur) if erase else (gt | cur)
    # zero border: the room ends at the rectangle (for the eraser, a conservative bound)
    dist = cv2.distanceTransform(np.pad(room, 1).astype(np.uint8), cv2.DIST_L2,
                                 cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    d = np.where(region, dist, 0.0)
    own = cv2.distanceTransform(np.pad(region, 1).astype(np.uint8), cv2.DIST_L2,
                                cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    ys, xs = np.nonzero(region)
    cap = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) / 2.0 + 0.5
    best = None  # (covered, radius, component, peak)
    for f in SIZES:
        radius = max(0.5, min(f * float(own.max()), cap))
        core = region & (d >= radius + 0.5)
        if not core.any():
            continue
        peak = np.unravel_index(int(np.argmax(np.where(core, d, 0.0))), d.shape)
        _n, labels = cv2.connectedComponents(core.astype(np.uint8), connectivity=8)
        comp = labels == labels[peak]
        reach = cv2.distanceTransform((~comp).astype(np.uint8), cv2.DIST_L2,
                                      cv2.DIST_MASK_PRECISE)
        covered = int(np.count_nonzero(region & (reach <= radius)))
        if best is None or covered > best[0]:
            best = (covered, radius, comp, (int(peak[0]), int(peak[1])))
    if best is None:  # too thin for any brush to stay in its room: a dot on the roomiest
        peak = np.unravel_index(int(np.argmax(d)), d.shape)
        radius, cells = 0.5, [(int(peak[0]), int(peak[1]))]
    else:
        _c, radius, comp, peak = best
        walk = _walk(comp, peak)
        step = max(1, int(radius // 2))
        cells = walk[::step] + ([walk[-1]] if (len(walk) - 1) % step else [])
    x0, y0 = rect[0], rect[1]
    return StrokePlan(erase, radius, [(x0 + x + 0.5, y0 + y + 0.5) for y, x in cells])


def play(rec: ImageRecord, target: Instance, p: StrokePlan, new: bool = False) -> bool:
    """Press, drag through the plan's points and release, as the brush tool does
    (DrawingController.begin_stroke/extend_stroke/end_stroke); the Edit is applied.
    True when a pixel changed."""
    stroke = Stroke(rec, p.radius, p.erase, target, [], False, new)
    for x, y in p.points:
        stroke.add(x, y)
    ops = stroke.finish()
    if not ops:
        return False
    Edit("Erase stroke" if p.erase else "Brush stroke", ops).apply()
    return True


def patches(gt: Instance, inst: Instance) -> tuple[np.ndarray, np.ndarray, Rect]:
    """Both masks over the union of their rectangles."""
    rect = union_rect(mask_rect(gt.mask, gt.offset), mask_rect(inst.mask, inst.offset))
    return patch_of(gt.mask, gt.offset, rect), patch_of(inst.mask, inst.offset, rect), rect
