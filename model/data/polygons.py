"""Masks as polygons that pycocotools rasterises back to the very pixels they came from.

Every pixel is taken as 2x2 half-pixels, so that a one-pixel line is a band with an
inside. The outline runs through the centres of the boundary half-pixels (8-connected,
so parts touching at a corner stay one part), and each edge is then moved outwards
(into the hole, for a hole) by half a half-pixel times max(|nx|, |ny|) of its normal:
an axis-parallel edge lands on the pixel edges, a diagonal one halfway between the
pixel centres inside and outside. Unsimplified, pycocotools rasterises every such ring
back to its pixels exactly (tests check blobs, discs, lines, dots, diagonal chains).

The half-pixel outline is not traced on a doubled image, which costs 8 bytes a pixel
with OpenCV's own padded copy (1.6 GB for a 200 MP mask). OpenCV traces the mask as
it is (one byte a pixel), pixel by pixel (CHAIN_APPROX_NONE); going round each boundary
pixel from the previous one in the chain to the next, the doubled trace passes exactly
the half-pixels in the corners met on the way (a table of 8 x 8 entries). That gives
OpenCV's doubled trace point for point, hierarchy included (tests compare the two).

A hole is cut into its part's ring with a zero-width bridge (out along a segment, round
the hole the other way, back along the same segment): both segments cancel, so every
polygon-only rasteriser (pycocotools, PIL, cv2.fillPoly up to a one-pixel line,
detectron2) leaves it empty. `join_parts` joins parts the same way.

Work is bounded: an outline longer than MAX_OUTLINE pixel edges or with more than
MAX_CORNERS corners, or bridges that would compare more than MAX_BRIDGE_WORK point pairs,
raise TooComplex (polygons that large are no use to any polygon tool; coco-polygon keeps
such a mask as RLE).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from model.data import masks as M

MAX_OUTLINE = 4_000_000  # pixel edges in a mask's outline, holes included (what tracing holds)
MAX_CORNERS = 1_000_000  # corners of that outline (about the vertices written)
MAX_BRIDGE_WORK = 200_000_000  # point-edge pairs compared to place the bridges of one mask
_KEEP_AREA = 0.8  # a simplified ring must keep this share of its traced area, or is not used
_MAX_SHIFT = 3.0  # half-px: a needle-sharp corner's offset point is cut back to this
_CHUNK = 1 << 20  # distances computed at a time when looking for the shortest bridge
_PIECE = 1 << 18  # chain points converted to half-pixels at a time


class TooComplex(ValueError):
    """A mask whose polygons would be too large to write or to build; the message says
    why, in words for a warning."""


# ------------------------------------------------------------------------ tracing

# The 8 neighbours clockwise on screen (y down) from east; the odd ones are diagonal,
# and each diagonal direction names a corner of the pixel and the half-pixel there.
_DIRS = ((1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1))
_CORNER = {1: (1, 1), 3: (0, 1), 5: (0, 0), 7: (1, 0)}  # half-pixel (dx, dy) in 2x2
_DIR_INDEX = np.full((3, 3), -1, np.int8)
for _k, (_dx, _dy) in enumerate(_DIRS):
    _DIR_INDEX[_dy + 1, _dx + 1] = _k


def _emit_table() -> tuple[np.ndarray, np.ndarray]:
    """For (direction to the previous chain pixel, direction to the next): the half-pixels
    passed going round the pixel counterclockwise (OpenCV's sense) from one to the other,
    both ends included, the whole way round when they are the same."""
    count = np.zeros(64, np.int64)
    table = np.zeros((64, 5, 2), np.int32)
    for a in range(8):
        for b in range(8):
            steps = (a - b) % 8 or 8
            corners = [_CORNER[k % 8] for k in range(a, a - steps - 1, -1) if k % 2]
            count[a * 8 + b] = len(corners)
            table[a * 8 + b, :len(corners)] = corners
    return count, table


_COUNT, _TABLE = _emit_table()
_DOT = np.array([(0, 0), (0, 1), (1, 1), (1, 0)], np.int32)  # a one-pixel part


def _prev(a: np.ndarray) -> np.ndarray:
    """np.roll(a, 1, axis=0), in a fifth of its time: each element's predecessor, round
    the ring (the tracing of a million small masks is mostly such calls)."""
    return np.concatenate((a[-1:], a[:-1]))


def _next(a: np.ndarray) -> np.ndarray:
    """np.roll(a, -1, axis=0): each element's successor, round the ring."""
    return np.concatenate((a[1:], a[:1]))


def _half_pixels(chain: np.ndarray, hole: bool) -> np.ndarray:
    """A pixel chain (n x 2, x y) -> the doubled trace's corner points (CHAIN_APPROX_SIMPLE),
    starting where OpenCV's doubled trace starts."""
    if len(chain) == 1:
        return 2 * chain[0] + _DOT
    prev = _prev(chain) - chain
    code = _DIR_INDEX[prev[:, 1] + 1, prev[:, 0] + 1].astype(np.int64) * 8
    del prev
    nxt = _next(chain) - chain
    code += _DIR_INDEX[nxt[:, 1] + 1, nxt[:, 0] + 1]
    del nxt
    pieces = []
    for s in range(0, len(chain), _PIECE):
        c, k = chain[s:s + _PIECE], code[s:s + _PIECE]
        n = _COUNT[k]
        first = np.cumsum(n) - n
        which = np.repeat(np.arange(len(c)), n)
        place = np.arange(which.size) - first[which]
        pieces.append(2 * c[which] + _TABLE[k[which], place])
    p = np.concatenate(pieces)
    p = p[(p != _prev(p)).any(axis=1)]  # no point twice in a row
    step_in = p - _prev(p)
    straight = (step_in == _next(step_in)).all(axis=1)
    p = p[~straight]
    start = 2 * chain[0] + (1, 0) if hole else 2 * chain[0]
    at = np.flatnonzero(np.all(p == start, axis=1))
    return np.roll(p, -int(at[0]), axis=0) if at.size else p


def outline_size(mask: np.ndarray) -> tuple[int, int]:
    """(pixel edges, corners) of the outline between the mask and the background (the
    crop's sides count), a band of rows at a time: what tracing it would hold (a point a
    boundary pixel) and write (a vertex a corner), known before tracing it. A corner is
    a 2 x 2 window with 1 or 3 pixels set; two set across a diagonal are two corners."""
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    if h == 0 or w == 0:
        return 0, 0
    edges = corners = 0
    step = max(1, M.CHUNK // (w + 2))
    above = np.zeros(w + 2, np.uint8)
    for r in range(0, h + 1, step):  # row h: the zero row below the crop
        n = min(step, h + 1 - r)
        band = np.zeros((n + 1, w + 2), np.uint8)  # the row above, then n rows; padded
        band[0] = above
        band[1:1 + min(n, h - r), 1:-1] = mask[r:r + n]
        top, low = band[:-1], band[1:]
        edges += int(np.count_nonzero(low[:, 1:] != low[:, :-1]))
        edges += int(np.count_nonzero(top != low))
        s = top[:, :-1] + top[:, 1:] + low[:, :-1] + low[:, 1:]
        corners += int(np.count_nonzero((s == 1) | (s == 3)))
        corners += 2 * int(np.count_nonzero((s == 2) & (top[:, :-1] == low[:, 1:])))
        above = band[-1]
    return edges, corners


def check_outline(mask: np.ndarray) -> None:
    """Raise TooComplex when the mask's outline is longer than MAX_OUTLINE pixel edges or
    has more than MAX_CORNERS corners (checked only where it could be: a pixel has four
    edges and four corners at most)."""
    if 4 * mask.size > min(MAX_OUTLINE, MAX_CORNERS):
        edges, corners = outline_size(mask)
        if edges > MAX_OUTLINE:
            raise TooComplex(f"its outline is {edges:,} pixel edges long (polygons are "
                             f"traced up to {MAX_OUTLINE:,})")
        if corners > MAX_CORNERS:
            raise TooComplex(f"its outline has {corners:,} corners (polygons are written up "
                             f"to {MAX_CORNERS:,})")


@dataclass
class Trace:
    """A traced mask: half-pixel contours (int32 n x 2, crop half-pixels, as OpenCV traces
    the mask made 2x2), OpenCV's pixel chains (n x 2, crop pixels) and the RETR_CCOMP
    hierarchy (next, previous, first child, parent per contour; parent >= 0: a hole)."""
    contours: list[np.ndarray]
    chains: list[np.ndarray]
    tree: np.ndarray

    def has_hole(self) -> bool:
        return bool((self.tree[:, 3] >= 0).any()) if len(self.tree) else False


SMALL = 1 << 16  # pixels: a crop this small is traced doubled, by OpenCV alone


def _doubled(mask: np.ndarray) -> np.ndarray:
    """The crop made 2x2 a pixel, with a zero border: what the half-pixel trace is."""
    h, w = mask.shape
    out = np.zeros((2 * h + 2, 2 * w + 2), np.uint8)
    out[1:-1:2, 1:-1:2] = mask
    out[2:-1:2, 1:-1:2] = mask
    out[1:-1, 2:-1:2] = out[1:-1, 1:-1:2]
    return out


def trace(mask: np.ndarray) -> Trace:
    """Trace a bool crop (TooComplex past MAX_OUTLINE). A small crop (the many small
    objects of a large dataset) is traced doubled by OpenCV, the very trace the chain
    table reproduces, in a fifth of the time; a large one through the table, in an
    eighth of the memory."""
    check_outline(mask)
    chains, hierarchy = cv2.findContours(M.as_uint8(mask), cv2.RETR_CCOMP,
                                         cv2.CHAIN_APPROX_NONE)
    if hierarchy is None:
        return Trace([], [], np.zeros((0, 4), np.int32))
    tree = hierarchy[0]
    chains = [c.reshape(-1, 2) for c in chains]
    if mask.size <= SMALL:
        doubled, _ = cv2.findContours(_doubled(M.as_uint8(mask)), cv2.RETR_CCOMP,
                                      cv2.CHAIN_APPROX_SIMPLE)
        return Trace([c.reshape(-1, 2) - 1 for c in doubled], chains, tree)
    return Trace([_half_pixels(c, tree[k][3] >= 0) for k, c in enumerate(chains)],
                 chains, tree)


# ------------------------------------------------------------------------- rings

def signed_area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.sum(x * _next(y) - _next(x) * y))


def _offset(p: np.ndarray, outward: float) -> np.ndarray:
    """A contour through half-pixel centres -> half-pixel-corner coordinates (of the same
    grid), each edge moved `outward` (negative: inward) times max(|nx|, |ny|) of its
    normal; a vertex goes where its two moved edges meet. Worked on x and y apart (a
    million small rings are mostly numpy calls: fewer, on 1-D arrays)."""
    x, y = p[:, 0], p[:, 1]
    nx, ny = _next(y) - y, x - _next(x)  # the normal of edge k, from p[k] to p[k+1]
    if signed_area(p) < 0:
        nx, ny = -nx, -ny
    length = np.maximum(np.sqrt(nx * nx + ny * ny), 1e-12)
    nx /= length
    ny /= length
    dist = outward * np.maximum(np.abs(nx), np.abs(ny))
    ix, iy, d_in = _prev(nx), _prev(ny), _prev(dist)  # the edge coming in
    # (ix, iy) . s = d_in and (nx, ny) . s = dist, solved by Cramer's rule for each vertex;
    # where the two edges are parallel, the mean of their moves
    det = ix * ny - iy * nx
    ok = np.abs(det) > 1e-6
    safe = np.where(ok, det, 1.0)
    sx = np.where(ok, (d_in * ny - dist * iy) / safe, (ix * d_in + nx * dist) / 2)
    sy = np.where(ok, (ix * dist - nx * d_in) / safe, (iy * d_in + ny * dist) / 2)
    scale = np.minimum(1.0, _MAX_SHIFT / np.maximum(np.sqrt(sx * sx + sy * sy), 1e-12))
    return np.stack([x + 0.5 + sx * scale, y + 0.5 + sy * scale], axis=1)


def _ring(contour: np.ndarray, tolerance: float, outward: float) -> np.ndarray | None:
    """One half-pixel contour as a ring in image pixels, simplified at `tolerance` px."""
    if tolerance > 0 and len(contour) > 3:
        simple = cv2.approxPolyDP(contour.reshape(-1, 1, 2), tolerance * 2, True)
        # a thin part can simplify to a line; it then keeps every traced point
        if len(simple) >= 3 and abs(cv2.contourArea(simple)) >= _KEEP_AREA * abs(
                cv2.contourArea(contour.reshape(-1, 1, 2))):
            contour = simple
    p = contour.reshape(-1, 2).astype(np.float64)
    if len(p) < 3:
        return None
    return _offset(p, outward) / 2


class Budget:
    """Point-edge pairs the bridges of one mask may compare (see MAX_BRIDGE_WORK)."""

    def __init__(self):
        self.left = MAX_BRIDGE_WORK

    def spend(self, pairs: int) -> None:
        self.left -= pairs
        if self.left < 0:
            raise TooComplex(f"it has too many holes or parts to bridge into one polygon "
                             f"(more than {MAX_BRIDGE_WORK:,} point pairs to compare)")


def closest(points: np.ndarray, ring: np.ndarray) -> tuple[float, int, int, np.ndarray]:
    """(squared distance, i, j, q): points[i] is the point nearest to the closed ring,
    and q the nearest point on the ring's edge j (from ring[j] to ring[j+1])."""
    start = ring
    edge = _next(ring) - ring
    length2 = np.maximum((edge ** 2).sum(axis=1), 1e-12)
    best: tuple[float, int, int, np.ndarray] = (np.inf, 0, 0, ring[0])
    step = max(1, _CHUNK // max(len(ring), 1))
    for s in range(0, len(points), step):
        p = points[s:s + step, None, :]
        t = np.clip(((p - start) * edge).sum(axis=2) / length2, 0.0, 1.0)
        q = start + t[..., None] * edge
        d = ((p - q) ** 2).sum(axis=2)
        i, j = np.unravel_index(int(np.argmin(d)), d.shape)
        if d[i, j] < best[0]:
            best = (float(d[i, j]), s + int(i), int(j), q[i, j])
    return best


def _insert(poly: np.ndarray, j: int, q: np.ndarray) -> tuple[np.ndarray, int]:
    """poly with q on its edge j, and q's index (an existing vertex is not repeated)."""
    nxt = (j + 1) % len(poly)
    if np.allclose(q, poly[j]):
        return poly, j
    if np.allclose(q, poly[nxt]):
        return poly, nxt
    return np.insert(poly, j + 1, q, axis=0), j + 1


def _splice(ring: np.ndarray, other: np.ndarray, budget: Budget) -> np.ndarray:
    """`ring` with `other` cut in along the shortest segment between the two outlines
    (vertex to edge, either way): ..., ring[a], other[b], ..., other[b-1], other[b],
    ring[a], ring[a+1], ..."""
    budget.spend(2 * len(ring) * len(other))
    d1, b, j, q = closest(other, ring)
    d2, a, k, r = closest(ring, other)
    if d1 <= d2:
        ring, a = _insert(ring, j, q)
    else:
        other, b = _insert(other, k, r)
    loop = np.concatenate([other[b:], other[:b + 1]])
    return np.concatenate([ring[:a + 1], loop, ring[a:]])


def flat(p: np.ndarray, offset: M.Offset) -> list[float]:
    """A ring (crop pixels) as a flat COCO polygon in image pixels, to 0.01 px."""
    q = p + np.asarray(offset, np.float64)
    return [round(v, 2) for v in q.ravel().tolist()]


@dataclass
class Part:
    """One 8-connected part of a mask as a ring (crop pixels), its holes bridged in."""
    ring: np.ndarray
    holes: int
    chain: np.ndarray  # OpenCV's pixel chain round the part (crop pixels)

    @property
    def area(self) -> float:
        return abs(signed_area(self.ring))


def parts(mask: np.ndarray, tolerance: float = 0.5, traced: Trace | None = None,
          budget: Budget | None = None) -> list[Part]:
    """One ring per 8-connected part of a bool crop, its holes bridged in, simplified by
    cv2.approxPolyDP at `tolerance` px (0: not simplified). A part too thin to simplify
    keeps every traced point, so even a one-pixel line or dot stays a polygon."""
    mask = np.asarray(mask, bool)
    if mask.size == 0 or not mask.any():
        return []
    t = traced if traced is not None else trace(mask)
    budget = budget or Budget()
    out = []
    for k, contour in enumerate(t.contours):
        if t.tree[k][3] >= 0:
            continue  # a hole: handled with its parent
        outer = _ring(contour, tolerance, 0.5)
        if outer is None:
            continue
        child, holes = t.tree[k][2], 0
        while child >= 0:
            hole = _ring(t.contours[child], tolerance, -0.5)
            if hole is not None:
                if np.sign(signed_area(hole)) == np.sign(signed_area(outer)):
                    hole = hole[::-1]  # opposite turn: nonzero-winding fillers cut it out too
                outer = _splice(outer, hole, budget)
                holes += 1
            child = t.tree[child][0]
        out.append(Part(outer, holes, t.chains[k]))
    return out


def mask_to_polygons(mask: np.ndarray, offset: M.Offset, tolerance: float = 0.5
                     ) -> tuple[list[list[float]], int]:
    """One flat COCO polygon [x0, y0, x1, y1, ...] per connected part of a bool crop placed
    at offset (x, y), holes bridged in (see parts). Returns (polygons, holes bridged);
    raises TooComplex for a mask no polygon tool could use."""
    ps = parts(mask, tolerance)
    return [flat(p.ring, offset) for p in ps], sum(p.holes for p in ps)


def join_parts(polygons: list[list[float]]) -> list[float]:
    """Several polygons as one, each part reached by a zero-width bridge from the ones
    before: YOLO-seg has one line per object, so a two-part object must be one polygon
    (Ultralytics' own COCO converter joins parts the same way)."""
    polygons = [p for p in polygons if len(p) >= 6]
    if len(polygons) == 1:  # the usual object, one part: flat's rounding, no arrays
        return [round(float(v) + 0.0, 2) for v in polygons[0]]
    rings = [np.asarray(p, np.float64).reshape(-1, 2) for p in polygons]
    if not rings:
        return []
    return flat(join_rings(rings), (0, 0))


def join_rings(rings: list[np.ndarray], budget: Budget | None = None) -> np.ndarray:
    """The rings as one, the first one first, the others bridged in."""
    budget = budget or Budget()
    joined = rings[0]
    for ring in rings[1:]:
        joined = _splice(joined, ring, budget)
    return joined


# ------------------------------------------------------------ rasterised polygons

def polygons_counts(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """Column-major run lengths of pycocotools' rasterisation of the polygons' union. The
    union is taken over run intervals in numpy (pycocotools' merge costs parts x runs)."""
    polys = [list(map(float, p)) for p in polygons if len(p) >= 6]
    if not polys:
        return np.array([height * width], np.int64)
    starts, ends = [], []
    for rle in mask_utils.frPyObjects(polys, height, width):
        c = M.rle_string_counts(rle["counts"].decode("ascii"))
        e = np.cumsum(c)
        starts.append((e - c)[1::2])
        ends.append(e[1::2])
    s, e = np.concatenate(starts), np.concatenate(ends)
    keep = e > s
    s, e = s[keep], e[keep]
    if s.size == 0:
        return np.array([height * width], np.int64)
    order = np.argsort(s, kind="stable")
    s, e = s[order], np.maximum.accumulate(e[order])
    new = np.ones(s.size, bool)
    new[1:] = s[1:] > e[:-1]  # a run that starts after every earlier one has ended
    first = np.flatnonzero(new)
    last = np.append(first[1:], s.size) - 1
    marks = np.empty(2 * first.size + 2, np.int64)
    marks[0], marks[1:-1:2], marks[2:-1:2] = 0, s[first], e[last]
    marks[-1] = height * width
    counts = np.diff(marks)
    return counts[:-1] if counts[-1] == 0 else counts


def reproduces(polygons: list[list[float]], mask: np.ndarray, offset: M.Offset,
               height: int, width: int) -> bool:
    """Does pycocotools rasterise the polygons to exactly the mask's pixels?"""
    return np.array_equal(polygons_counts(polygons, height, width),
                          M.crop_counts(mask, offset, height, width))


def exact_polygons(mask: np.ndarray, offset: M.Offset, height: int, width: int
                   ) -> tuple[list[list[float]] | None, str]:
    """Polygons that rasterise back to exactly the mask, for COCO's polygon output, or None
    and why not: 'hole' (COCO polygons are a union and hold no hole), 'complex' (see
    TooComplex) or 'shape' (no polygon reproduces the mask pixel for pixel)."""
    mask, offset = M.clip_to_image(mask, offset, height, width)
    if mask.size == 0:
        return None, "shape"
    try:
        traced = trace(mask)
        if traced.has_hole():
            return None, "hole"
        polys = [flat(p.ring, offset) for p in parts(mask, 0.0, traced)]
    except TooComplex:
        return None, "complex"
    if not polys or not reproduces(polys, mask, offset, height, width):
        return None, "shape"
    return polys, ""
