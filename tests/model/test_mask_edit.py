import numpy as np
import pytest

from model.editing import pixel_ops as E
from model.data.masks import tight_crop
from tests.helpers import ring, two_parts


def brute_capsule(p0, p1, r, w, h):
    """Reference: every pixel centre within r of the segment (plain loops)."""
    out = np.zeros((h, w), bool)
    (ax, ay), (bx, by) = p0, p1
    for y in range(h):
        for x in range(w):
            cx, cy = x + 0.5, y + 0.5
            dx, dy = bx - ax, by - ay
            t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, ((cx - ax) * dx + (cy - ay) * dy) / (dx * dx + dy * dy)))
            px, py = ax + t * dx, ay + t * dy
            out[y, x] = (cx - px) ** 2 + (cy - py) ** 2 <= r * r
    return out


def paste(stamp_rect, w, h):
    stamp, (x0, y0, x1, y1) = stamp_rect
    out = np.zeros((h, w), bool)
    out[y0:y1, x0:x1] = stamp
    return out


@pytest.mark.parametrize("p0,p1,r", [((10, 10), (10, 10), 3.0), ((5.5, 7.2), (30.1, 20.9), 4.5),
                                     ((-3, 5), (12, -4), 6.0), ((39, 29), (39, 2), 1.0)])
def test_capsule_matches_brute_force(p0, p1, r):
    assert np.array_equal(paste(E.capsule(p0, p1, r, 40, 30), 40, 30), brute_capsule(p0, p1, r, 40, 30))


def brute_polygon(points, w, h):
    out = np.zeros((h, w), bool)
    n = len(points)
    for y in range(h):
        for x in range(w):
            cx, cy, inside = x + 0.5, y + 0.5, False
            for k in range(n):
                (x0, y0), (x1, y1) = points[k], points[(k + 1) % n]
                if (y0 <= cy) != (y1 <= cy) and cx < x0 + (cy - y0) * (x1 - x0) / (y1 - y0):
                    inside = not inside
            out[y, x] = inside
    return out


@pytest.mark.parametrize("pts", [[(2, 2), (20, 3.3), (15.7, 18), (4, 12)],
                                 [(0, 0), (30, 0), (30, 20), (15, 5), (0, 20)],
                                 [(5, 5), (25, 5), (5, 25), (25, 25)]])  # self-crossing bow tie
def test_polygon_matches_brute_force(pts):
    assert np.array_equal(paste(E.polygon_mask(pts, 32, 28), 32, 28), brute_polygon(pts, 32, 28))


def test_working_mask_grows_and_crops():
    wm = E.WorkingMask(np.ones((2, 2), bool), (10, 10), 100, 80)
    stamp, rect = E.capsule((80, 70), (95, 75), 3, 100, 80)
    wm.paint(stamp, rect, True)
    mask, off = wm.result()
    last_col = rect[0] + int(np.flatnonzero(stamp.any(axis=0))[-1])
    assert off == (10, 10) and mask.shape[1] == last_col + 1 - 10
    wm.paint(np.ones((2, 2), bool), (10, 10, 12, 12), False)
    assert wm.result()[1][0] > 12


def test_patch_round_trip_and_hole_tools():
    m, off = tight_crop(ring(40, 40, 20, 20, 15, 5))
    rect = (10, 10, 30, 30)
    p = E.patch_of(m, off, rect)
    back = E.with_patch(m, off, rect, p)
    assert back[1] == off and np.array_equal(back[0], m)
    filled = E.fill_holes(m)
    assert filled.sum() > m.sum() and not (m & ~filled).any()
    parts, poff = tight_crop(two_parts(50, 60))
    kept = E.remove_islands(parts, 200)  # the parts are 150 and 225 px
    assert kept.sum() == 225
    u, uoff = E.union_masks([(m, off), (parts, poff)])
    assert u.sum() == m.sum() + parts.sum() - (E.patch_of(m, off, (0, 0, 60, 50))
                                                & E.patch_of(parts, poff, (0, 0, 60, 50))).sum()
