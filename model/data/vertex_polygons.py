"""Masks as polygons through pixel centres, for YOLO-seg and labelme, whose tools fill
a polygon's vertices as pixels with its outline drawn in (vertex_fill.py). polygons.py
does the same for pycocotools' pixel edges (COCO).

A part's outline is OpenCV's trace of its boundary pixels (RETR_CCOMP,
CHAIN_APPROX_SIMPLE): a vertex at the centre of each corner pixel, every edge running
along, across or diagonally through boundary pixels, so the drawn outline is those
pixels and the even-odd inside the rest: filled by either rule, an unsimplified part
comes back pixel for pixel (tests check blobs, lines, dots, diagonal chains, holes). A
hole's trace runs through the part's own pixels round it, so its outline is drawn and
its inside, the hole, left empty.

Holes, and for YOLO-seg (one line an object) the other parts, are cut into one ring by
zero-width bridges. These tools draw a bridge as a line, so it is placed with care:
  - the rings are joined in Prim's order (next, the ring nearest to those already
    joined), so a bridge is as short as can be and crosses no other ring: a hole's
    bridge runs over the part's own pixels, and parts' bridges over the fewest pixels
    of background (the only pixels the YOLO rule adds, counted in the report's IoU);
  - both ends are pixel centres on the rings (a vertex, or a whole-pixel point of an
    edge), so the rings themselves are not moved.
Simplified at `tolerance` px by cv2.approxPolyDP (a subset of the traced vertices, so
they stay pixel centres); a ring that would keep under 80% of its area keeps every
corner. Work is bounded as in polygons.py (TooComplex).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from model.data import masks as M
from model.data.polygons import Budget, TooComplex, closest, signed_area, check_outline

__all__ = ["TooComplex", "vertex_polygons", "vertex_polygon", "bridge"]

_KEEP_AREA = 0.8


def _contours(mask: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """OpenCV's trace of a bool crop: corner pixels per contour (int64 n x 2, x y) and
    the RETR_CCOMP tree (next, previous, first child, parent; parent >= 0: a hole)."""
    check_outline(mask)
    contours, hierarchy = cv2.findContours(M.as_uint8(mask), cv2.RETR_CCOMP,
                                           cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return [], np.zeros((0, 4), np.int32)
    return [c.reshape(-1, 2).astype(np.int64) for c in contours], hierarchy[0]


def _simplified(contour: np.ndarray, tolerance: float) -> np.ndarray:
    if tolerance <= 0 or len(contour) <= 3:
        return contour
    simple = cv2.approxPolyDP(contour.reshape(-1, 1, 2).astype(np.int32), tolerance, True)
    simple = simple.reshape(-1, 2).astype(np.int64)
    if len(simple) >= 3 and abs(signed_area(simple)) >= _KEEP_AREA * abs(
            signed_area(contour)):
        return simple
    return contour  # a thin part would simplify to a line: it keeps every corner


def _part_rings(mask: np.ndarray, tolerance: float) -> list[tuple[np.ndarray, list]]:
    """(outer ring, [hole rings]) per 8-connected part, each hole turning the other way
    round (so nonzero-winding fillers leave it empty too)."""
    contours, tree = _contours(mask)
    out = []
    for k, contour in enumerate(contours):
        if tree[k][3] >= 0:
            continue
        outer = _simplified(contour, tolerance)
        holes, child = [], tree[k][2]
        while child >= 0:
            hole = _simplified(contours[child], tolerance)
            if len(hole) >= 3 and np.sign(signed_area(hole)) == np.sign(signed_area(outer)):
                hole = hole[::-1]
            holes.append(hole)
            child = tree[child][0]
        out.append((outer, holes))
    return out


# ------------------------------------------------------------------------ bridges

def _edge_stop(ring: np.ndarray, j: int, q: np.ndarray) -> tuple[int, float, np.ndarray]:
    """The point of ring's edge j nearest to q that is a pixel centre, as a stop (edge,
    t along it, point); t == 0 is the vertex itself."""
    n = len(ring)
    a, b = ring[j], ring[(j + 1) % n]
    e = b - a
    g = math.gcd(int(abs(e[0])), int(abs(e[1])))
    if g == 0:
        return j, 0.0, a
    t = float(np.dot(q - a, e)) / float(np.dot(e, e))
    k = min(max(round(t * g), 0), g)
    if k == 0:
        return j, 0.0, a
    if k == g:
        return (j + 1) % n, 0.0, b
    return j, k / g, a + (e // g) * k


def _nearest(a: np.ndarray, b: np.ndarray, budget: Budget
             ) -> tuple[float, tuple, tuple]:
    """(squared distance, stop on a, stop on b) of the shortest segment between two
    rings, vertex to edge either way."""
    budget.spend(2 * len(a) * len(b))
    af, bf = a.astype(np.float64), b.astype(np.float64)
    d1, i, j, q = closest(bf, af)  # b's vertex i nearest to a's edge j
    d2, k, m, r = closest(af, bf)  # a's vertex k nearest to b's edge m
    if d1 <= d2:
        return d1, _edge_stop(a, j, q), (int(i), 0.0, b[i])
    return d2, (int(k), 0.0, a[k]), _edge_stop(b, m, r)


def bridge(rings: list[np.ndarray], budget: Budget | None = None) -> np.ndarray:
    """The rings (integer n x 2) as one ring, joined by zero-width bridges in Prim's
    order from rings[0]; each ring is walked whole from where its bridge meets it."""
    budget = budget or Budget()
    n = len(rings)
    if n == 1:
        return rings[0]
    lo = np.array([r.min(axis=0) for r in rings], np.float64)
    hi = np.array([r.max(axis=0) for r in rings], np.float64)
    joined = np.zeros(n, bool)
    best_d = np.full(n, np.inf)
    best: list = [None] * n
    stops: list[list] = [[] for _ in range(n)]
    entry: list = [None] * n
    entry[0] = (0, 0.0, rings[0][0])

    def offer(i: int) -> None:
        """Ring i has joined: the rings not joined yet that it is nearer to learn so
        (only those whose boxes are nearer than their best so far are measured). Each box
        compared counts against the budget too: a mask of 10^5 specks is too complex,
        not minutes of work."""
        budget.spend(n)
        gap = np.maximum(0.0, np.maximum(lo[i] - hi, lo - hi[i]))
        near = np.flatnonzero(~joined & ((gap ** 2).sum(axis=1) < best_d))
        for j in near.tolist():
            d, on_i, on_j = _nearest(rings[i], rings[j], budget)
            if d < best_d[j]:
                best_d[j], best[j] = d, (i, on_i, on_j)

    joined[0] = True
    offer(0)
    for _ in range(n - 1):
        j = int(np.argmin(np.where(joined, np.inf, best_d)))
        i, on_i, on_j = best[j]
        joined[j] = True
        stops[i].append((on_i, j))
        entry[j] = on_j
        offer(j)
    return _walk(rings, stops, entry)


def _pieces(ring: np.ndarray, entry: tuple, stops: list, root: bool):
    """One ring's walk from its entry point round to it again: arrays of points, and
    the index of each child ring where the walk goes down its bridge."""
    n = len(ring)
    e, te, p = entry
    order = (e + 1 + np.arange(n - 1 if te == 0 else n)) % n  # the vertices after p
    placed = []
    for (j, t, q), child in stops:
        r = (j - e) % n
        if r == 0 and te > 0 and t < te:
            r = n  # on the entry's edge, before the entry: at the very end
        placed.append((r, t, q, child))
    placed.sort(key=lambda s: (s[0], s[1]))
    yield p[None]
    done = 0
    for r, t, q, child in placed:
        yield ring[order[done:r]]
        done = r
        if t > 0:
            yield q[None]  # a stop at a vertex: that vertex was just walked
        yield child
        yield q[None]
    yield ring[order[done:]]
    if not root:
        yield p[None]


def _walk(rings: list[np.ndarray], stops: list[list], entry: list) -> np.ndarray:
    out = []
    stack = [_pieces(rings[0], entry[0], stops[0], True)]
    while stack:  # not recursive: a chain of a thousand rings is a thousand deep
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
        elif isinstance(item, int):
            stack.append(_pieces(rings[item], entry[item], stops[item], False))
        elif len(item):
            out.append(item)
    pts = np.concatenate(out)
    keep = np.any(pts != np.roll(pts, 1, axis=0), axis=1)  # no point twice in a row
    return pts[keep] if keep.any() else pts[:1]


# ------------------------------------------------------------------------- output

def flat(ring: np.ndarray, offset: M.Offset) -> list[float]:
    """A ring (crop pixels) as flat x y ... in image pixels, at least three points (a
    one-pixel part is one point three times, a two-pixel one a line out and back)."""
    p = np.resize(ring, (max(len(ring), 3), 2)) + np.asarray(offset, np.int64)
    return [float(v) for v in p.ravel().tolist()]


def vertex_polygons(mask: np.ndarray, offset: M.Offset, tolerance: float = 0.5
                    ) -> tuple[list[list[float]], int]:
    """One polygon through pixel centres per 8-connected part of a bool crop placed at
    offset (x, y), its holes bridged in; (polygons, holes bridged). For labelme, whose
    shapes of one group_id are one instance."""
    mask = np.asarray(mask, bool)
    if mask.size == 0 or not mask.any():
        return [], 0
    budget = Budget()
    polys, holes = [], 0
    for outer, hs in _part_rings(mask, tolerance):
        polys.append(flat(bridge([outer] + hs, budget), offset))
        holes += len(hs)
    return polys, holes


def vertex_polygon(mask: np.ndarray, offset: M.Offset, tolerance: float = 0.5
                   ) -> tuple[list[float], int, int]:
    """The whole mask as one polygon through pixel centres (parts and holes bridged in,
    the largest part first), for YOLO-seg's one line an object: (polygon, holes
    bridged, parts joined besides the first); an empty polygon for an empty mask."""
    mask = np.asarray(mask, bool)
    if mask.size == 0 or not mask.any():
        return [], 0, 0
    parts = sorted(_part_rings(mask, tolerance), key=lambda p: -abs(signed_area(p[0])))
    rings = [outer for outer, _ in parts] + [h for _, hs in parts for h in hs]
    return (flat(bridge(rings), offset), sum(len(hs) for _, hs in parts), len(parts) - 1)
