"""Polygon vertex editing on top of a mask-first document.

An instance's outline becomes editable rings (the outer contours and, as rings of
their own, the holes), simplified with a tolerance the user sets. A ring sits on the
pixel edges of the mask, so an unchanged ring rasterises back onto it. Committing
changes only the pixels between the old rings and the new ones: what the rings did
not touch stays exactly as it was, simplification or not.
"""
from __future__ import annotations

import cv2
import numpy as np

from model.editing.pixel_ops import Rect, clip_rect, patch_of, polygon_mask, union_rect, with_patch
from model.data.masks import Offset

Ring = np.ndarray  # (K, 2) float vertices, image pixels, pixel (x, y) covers [x, x+1)

_EDGE = 0.4  # towards a boundary pixel's edge: diagonal steps stay off the tie line


def _to_edges(points: np.ndarray, outward: float) -> np.ndarray:
    """Move contour vertices (boundary pixel centres) onto the pixel edges, outward of
    the region the ring encloses (into the hole for a hole's ring)."""
    x, y = points[:, 0], points[:, 1]
    area2 = np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)
    orient = 1.0 if area2 > 0 else -1.0
    e_in = points - np.roll(points, 1, axis=0)
    e_out = np.roll(points, -1, axis=0) - points
    n_in = np.sign(np.stack([e_in[:, 1], -e_in[:, 0]], 1) * orient)
    n_out = np.sign(np.stack([e_out[:, 1], -e_out[:, 0]], 1) * orient)
    return points + 0.5 + outward * _EDGE * np.sign(n_in + n_out)


def rings(mask: np.ndarray, offset: Offset, tolerance: float = 1.0) -> list[Ring]:
    """Outer rings first, then hole rings; each simplified to `tolerance` pixels."""
    if mask.size == 0:
        return []
    padded = np.pad(mask.astype(np.uint8), 1)
    contours, hierarchy = cv2.findContours(padded, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    outer, holes = [], []
    for c, h in zip(contours, hierarchy[0]):
        pts = c.reshape(-1, 2).astype(np.float64) - 1.0
        is_hole = h[3] >= 0
        if len(pts) >= 3:
            pts = _to_edges(pts, -1.0 if is_hole else 1.0)
        else:  # a dot or a line: its pixels' outline
            x0, y0 = pts.min(0)
            x1, y1 = pts.max(0) + 1
            pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
        if tolerance > 0 and len(pts) > 3:
            simple = cv2.approxPolyDP(pts.astype(np.float32).reshape(-1, 1, 2), tolerance, True)
            if len(simple) >= 3:
                pts = simple.reshape(-1, 2).astype(np.float64)
        ring = pts + np.asarray(offset, np.float64)
        (holes if is_hole else outer).append(ring)
    return outer + holes


def raster(ring_list: list[Ring], rect: Rect) -> np.ndarray:
    """Pixels of `rect` inside the rings, even-odd: a hole ring inside an outer one
    cuts it out."""
    out = np.zeros((rect[3] - rect[1], rect[2] - rect[0]), bool)
    for ring in ring_list:
        if len(ring) < 3:
            continue
        poly = polygon_mask([tuple(p) for p in ring], rect[2], rect[3])
        if poly is None:
            continue
        area, r = poly
        x0, y0 = max(r[0], rect[0]), max(r[1], rect[1])
        if r[2] <= x0 or r[3] <= y0:
            continue
        out[y0 - rect[1]:r[3] - rect[1], x0 - rect[0]:r[2] - rect[0]] ^= \
            area[y0 - r[1]:, x0 - r[0]:]
    return out


def _extent(ring_list: list[Ring]) -> Rect | None:
    pts = [r for r in ring_list if len(r)]
    if not pts:
        return None
    allp = np.concatenate(pts)
    return (int(np.floor(allp[:, 0].min())), int(np.floor(allp[:, 1].min())),
            int(np.ceil(allp[:, 0].max())) + 1, int(np.ceil(allp[:, 1].max())) + 1)


def apply_rings(mask: np.ndarray, offset: Offset, old: list[Ring], new: list[Ring],
                width: int, height: int) -> tuple[np.ndarray, Offset]:
    """The mask with the pixels between the old rings and the new ones changed: inside
    the new but not the old are added, inside the old but not the new removed."""
    rect = union_rect(_extent(old), _extent(new))
    if rect is None:
        return mask, offset
    rect = clip_rect(rect, width, height)
    if rect is None:
        return mask, offset
    r0, r1 = raster(old, rect), raster(new, rect)
    cur = patch_of(mask, offset, rect)
    patch = (cur & ~(r0 & ~r1)) | (r1 & ~r0)
    return with_patch(mask, offset, rect, patch)


def nearest_vertex(ring_list: list[Ring], x: float, y: float, radius: float
                   ) -> tuple[int, int] | None:
    """(ring, vertex) within `radius` of (x, y), the closest."""
    best, where = radius * radius, None
    for r, ring in enumerate(ring_list):
        d = (ring[:, 0] - x) ** 2 + (ring[:, 1] - y) ** 2
        k = int(np.argmin(d)) if len(d) else -1
        if k >= 0 and d[k] <= best:
            best, where = float(d[k]), (r, k)
    return where


def nearest_edge(ring_list: list[Ring], x: float, y: float, radius: float
                 ) -> tuple[int, int, tuple[float, float]] | None:
    """(ring, index to insert at, point on the edge) within `radius` of (x, y)."""
    best, where = radius * radius, None
    p = np.array([x, y])
    for r, ring in enumerate(ring_list):
        a, b = ring, np.roll(ring, -1, axis=0)
        ab = b - a
        t = np.clip(((p - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-12), 0, 1)
        q = a + t[:, None] * ab
        d = ((q - p) ** 2).sum(1)
        k = int(np.argmin(d))
        if d[k] <= best:
            best, where = float(d[k]), (r, k + 1, (float(q[k, 0]), float(q[k, 1])))
    return where
