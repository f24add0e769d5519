"""Vertex editing: rings from a mask, and commits that change only the pixels between
the old rings and the new ones."""
from __future__ import annotations

import numpy as np

from model.editing import vertices as V
from tests.helpers import disc, ring as ring_mask

H, W = 60, 80


def full(mask, offset):
    out = np.zeros((H, W), bool)
    out[offset[1]:offset[1] + mask.shape[0], offset[0]:offset[0] + mask.shape[1]] = mask
    return out


def test_rings_sit_on_pixel_edges_and_keep_holes():
    sq = np.zeros((H, W), bool)
    sq[10:30, 20:50] = True
    rs = V.rings(sq[10:30, 20:50], (20, 10), tolerance=0.5)
    assert len(rs) == 1 and len(rs[0]) == 4
    assert np.array_equal(V.raster(rs, (0, 0, W, H)), sq)  # the ring rasterises onto the mask
    holed = ring_mask(H, W, 40, 30, 20, 8)
    rs = V.rings(holed, (0, 0), tolerance=0.0)
    assert len(rs) == 2  # the outer ring and the hole's own ring
    assert np.array_equal(V.raster(rs, (0, 0, W, H)), holed)


def test_an_unchanged_commit_changes_nothing_even_when_simplified():
    m = disc(H, W, 40, 30, 17)
    rs = V.rings(m, (0, 0), tolerance=2.5)  # simplified: its raster is not the mask
    assert not np.array_equal(V.raster(rs, (0, 0, W, H)), m)
    out = V.apply_rings(m, (0, 0), rs, [r.copy() for r in rs], W, H)
    assert np.array_equal(full(*out), m)


def test_drag_insert_delete_change_only_between_the_rings():
    m = disc(H, W, 40, 30, 17)
    old = V.rings(m, (0, 0), tolerance=1.5)
    new = [r.copy() for r in old]
    k = int(np.argmin(new[0][:, 0]))  # the leftmost vertex, dragged 8 px further left
    new[0][k, 0] -= 8
    after = full(*V.apply_rings(m, (0, 0), old, new, W, H))
    between = V.raster(old, (0, 0, W, H)) ^ V.raster(new, (0, 0, W, H))
    assert (after != m).any() and not ((after != m) & ~between).any()
    assert after[30, 20] and not m[30, 20]  # the dragged-out area is added
    ins = V.nearest_edge(old, *old[0][0], radius=3)
    assert ins is not None
    r, at, p = ins
    inserted = [x.copy() for x in old]
    inserted[r] = np.insert(inserted[r], at, p, axis=0)  # a vertex on the edge: no change
    assert np.array_equal(full(*V.apply_rings(m, (0, 0), old, inserted, W, H)), m)
    fewer = [np.delete(old[0], k, axis=0)] + old[1:]
    cut = full(*V.apply_rings(m, (0, 0), old, fewer, W, H))
    between = V.raster(old, (0, 0, W, H)) ^ V.raster(fewer, (0, 0, W, H))
    assert (cut != m).any() and not ((cut != m) & ~between).any() and not (cut & ~m).any()


def test_a_hole_survives_vertex_edits_on_its_outer_ring():
    holed = ring_mask(H, W, 40, 30, 20, 8)
    old = V.rings(holed, (0, 0), tolerance=1.0)
    new = [r.copy() for r in old]
    new[0][0] += (3, 0)
    after = full(*V.apply_rings(holed, (0, 0), old, new, W, H))
    assert not after[30, 40] and after[30, 40 - 12]  # the hole is still a hole
    assert V.nearest_vertex(old, *old[1][0], radius=1) == (1, 0)
