"""Pixel operations behind the editing tools; numpy and OpenCV only, no Qt.

Conventions: pixel (x, y) covers [x, x+1) x [y, y+1), so its centre is
(x + 0.5, y + 0.5). A brush of radius r paints every pixel whose centre lies
within r of the stroke's path (a chain of segments between mouse positions),
which makes a fast drag a continuous capsule, never a row of dots. A polygon
covers the pixels whose centres lie inside it (a centre exactly on a left edge
counts as inside, on a right edge as outside).
"""
from __future__ import annotations

import cv2
import numpy as np

from model.data.masks import Offset, tight_crop

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


def clip_rect(rect: Rect, width: int, height: int) -> Rect | None:
    x0, y0, x1, y1 = max(rect[0], 0), max(rect[1], 0), min(rect[2], width), min(rect[3], height)
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def union_rect(a: Rect | None, b: Rect | None) -> Rect | None:
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def mask_rect(mask: np.ndarray, offset: Offset) -> Rect | None:
    h, w = mask.shape
    if h == 0 or w == 0:
        return None
    return (offset[0], offset[1], offset[0] + w, offset[1] + h)


def capsule(p0: tuple[float, float], p1: tuple[float, float], radius: float,
            width: int, height: int) -> tuple[np.ndarray, Rect] | None:
    """Pixels whose centres lie within `radius` of segment p0-p1, clipped to the image."""
    (ax, ay), (bx, by) = p0, p1
    rect = (int(np.floor(min(ax, bx) - radius)), int(np.floor(min(ay, by) - radius)),
            int(np.ceil(max(ax, bx) + radius)) + 1, int(np.ceil(max(ay, by) + radius)) + 1)
    rect = clip_rect(rect, width, height)
    if rect is None:
        return None
    x0, y0, x1, y1 = rect
    cx = np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5
    cy = np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    if len2 == 0.0:
        d2 = (cx - ax) ** 2 + (cy - ay) ** 2
    else:
        t = np.clip(((cx - ax) * dx + (cy - ay) * dy) / len2, 0.0, 1.0)
        d2 = (cx - (ax + t * dx)) ** 2 + (cy - (ay + t * dy)) ** 2
    return d2 <= radius * radius, rect


def polygon_mask(points: list[tuple[float, float]], width: int, height: int
                 ) -> tuple[np.ndarray, Rect] | None:
    """Pixels whose centres are inside the polygon (even-odd), clipped to the image."""
    if len(points) < 3:
        return None
    pts = np.asarray(points, dtype=np.float64)
    rect = (int(np.floor(pts[:, 0].min())), int(np.floor(pts[:, 1].min())),
            int(np.ceil(pts[:, 0].max())) + 1, int(np.ceil(pts[:, 1].max())) + 1)
    rect = clip_rect(rect, width, height)
    if rect is None:
        return None
    x0, y0, x1, y1 = rect
    inside = np.zeros((y1 - y0, x1 - x0), bool)
    xs, ys = pts[:, 0], pts[:, 1]
    xe, ye = np.roll(xs, -1), np.roll(ys, -1)
    for row in range(y1 - y0):
        y = y0 + row + 0.5  # scanline through this row's pixel centres
        hit = (ys <= y) != (ye <= y)
        if not hit.any():
            continue
        xc = np.sort(xs[hit] + (y - ys[hit]) * (xe[hit] - xs[hit]) / (ye[hit] - ys[hit]))
        for a, b in zip(xc[0::2], xc[1::2]):
            # pixel x is inside when a <= x + 0.5 < b (half-open, like scanline fill
            # rules: polygons sharing an edge neither overlap nor leave a gap)
            lo = max(int(np.ceil(a - 0.5)) - x0, 0)
            hi = min(int(np.ceil(b - 0.5)) - 1 - x0, x1 - x0 - 1)
            if lo <= hi:
                inside[row, lo:hi + 1] = True
    return inside, rect


class WorkingMask:
    """A mutable mask buffer that grows as a stroke leaves it; cropped when done."""

    MARGIN = 64

    def __init__(self, mask: np.ndarray, offset: Offset, width: int, height: int):
        self.width, self.height = width, height
        self.data = np.array(mask, dtype=bool, copy=True)
        self.offset = offset if mask.size else (0, 0)

    @property
    def rect(self) -> Rect | None:
        return mask_rect(self.data, self.offset)

    def ensure(self, rect: Rect) -> None:
        cur = self.rect
        if cur is not None and cur[0] <= rect[0] and cur[1] <= rect[1] \
                and cur[2] >= rect[2] and cur[3] >= rect[3]:
            return
        m = self.MARGIN
        want = union_rect(cur, (rect[0] - m, rect[1] - m, rect[2] + m, rect[3] + m))
        want = clip_rect(want, self.width, self.height)
        grown = np.zeros((want[3] - want[1], want[2] - want[0]), bool)
        if cur is not None:
            grown[cur[1] - want[1]:cur[3] - want[1], cur[0] - want[0]:cur[2] - want[0]] = self.data
        self.data, self.offset = grown, (want[0], want[1])

    def view(self, rect: Rect) -> np.ndarray:
        """Writable view of `rect` (which must lie inside the buffer)."""
        ox, oy = self.offset
        return self.data[rect[1] - oy:rect[3] - oy, rect[0] - ox:rect[2] - ox]

    def paint(self, stamp: np.ndarray, rect: Rect, value: bool,
              blocked: np.ndarray | None = None) -> bool:
        """Set (or clear) the stamp's pixels; `blocked` pixels are left alone. True if changed."""
        if value:
            self.ensure(rect)
        else:
            cur = self.rect
            if cur is None:
                return False
            inter = clip_rect((max(rect[0], cur[0]), max(rect[1], cur[1]),
                               min(rect[2], cur[2]), min(rect[3], cur[3])), self.width, self.height)
            if inter is None or inter[0] >= inter[2] or inter[1] >= inter[3]:
                return False
            sx0, sy0 = inter[0] - rect[0], inter[1] - rect[1]
            stamp = stamp[sy0:sy0 + inter[3] - inter[1], sx0:sx0 + inter[2] - inter[0]]
            if blocked is not None:
                blocked = blocked[sy0:sy0 + inter[3] - inter[1], sx0:sx0 + inter[2] - inter[0]]
            rect = inter
        target = self.view(rect)
        effective = stamp if blocked is None else stamp & ~blocked
        before = target[effective]
        changed = bool((before != value).any())
        target[effective] = value
        return changed

    def result(self) -> tuple[np.ndarray, Offset]:
        return tight_crop(self.data, self.offset)


def patch_of(mask: np.ndarray, offset: Offset, rect: Rect) -> np.ndarray:
    """The mask's pixels inside rect, as a bool array of the rect's size."""
    x0, y0, x1, y1 = rect
    out = np.zeros((y1 - y0, x1 - x0), bool)
    r = mask_rect(mask, offset)
    if r is None:
        return out
    ix0, iy0, ix1, iy1 = max(x0, r[0]), max(y0, r[1]), min(x1, r[2]), min(y1, r[3])
    if ix0 < ix1 and iy0 < iy1:
        out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = \
            mask[iy0 - offset[1]:iy1 - offset[1], ix0 - offset[0]:ix1 - offset[0]]
    return out


def with_patch(mask: np.ndarray, offset: Offset, rect: Rect, patch: np.ndarray
               ) -> tuple[np.ndarray, Offset]:
    """The mask with `rect` replaced by `patch`, tight-cropped."""
    full = union_rect(mask_rect(mask, offset), rect)
    x0, y0 = full[0], full[1]
    canvas = np.zeros((full[3] - y0, full[2] - x0), bool)
    if mask.size:
        canvas[offset[1] - y0:offset[1] - y0 + mask.shape[0],
               offset[0] - x0:offset[0] - x0 + mask.shape[1]] = mask
    canvas[rect[1] - y0:rect[3] - y0, rect[0] - x0:rect[2] - x0] = patch
    return tight_crop(canvas, (x0, y0))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill every background region not connected (4-connectivity) to the border."""
    if mask.size == 0:
        return mask.copy()
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = padded.copy()
    ff_mask = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(flood, ff_mask, (0, 0), 1, flags=4)
    holes = flood[1:-1, 1:-1] == 0
    return mask | holes


def remove_islands(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    """Drop connected parts (8-connectivity) smaller than min_pixels."""
    if mask.size == 0:
        return mask.copy()
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_pixels
    return keep[labels]


def union_masks(parts: list[tuple[np.ndarray, Offset]]) -> tuple[np.ndarray, Offset]:
    rects = [mask_rect(m, o) for m, o in parts if m.size]
    if not rects:
        return np.zeros((0, 0), bool), (0, 0)
    full = rects[0]
    for r in rects[1:]:
        full = union_rect(full, r)
    canvas = np.zeros((full[3] - full[1], full[2] - full[0]), bool)
    for m, o in parts:
        if m.size:
            canvas[o[1] - full[1]:o[1] - full[1] + m.shape[0],
                   o[0] - full[0]:o[0] - full[0] + m.shape[1]] |= m
    return tight_crop(canvas, (full[0], full[1]))
