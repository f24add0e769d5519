"""Polygons through pixel centres (model/data/vertex_polygons.py) and the rules that fill
them (model/data/vertex_fill.py): unsimplified, every mask comes back pixel for pixel
through both the YOLO rule (cv2.fillPoly) and labelme's (PIL's polygon and outline),
holes, specks, diagonal chains and all; parts joined for YOLO lose no pixel; the fills
counted by bands agree with the whole image's."""
from __future__ import annotations

import numpy as np
import pytest

from model.data import masks as M
from model.data import vertex_fill
from model.data.vertex_fill import fill_iou, fill_labelme, fill_yolo
from model.data.vertex_polygons import vertex_polygon, vertex_polygons
from tests.model.formats.peer_rules import iou, labelme_shape_mask

H, W = 26, 30


def random_masks(n: int, seed: int = 0):
    """Sparse specks, dense masks full of holes, blobs and lines, diagonal chains."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:H, :W]
    for k in range(n):
        kind = k % 4
        if kind == 0:
            m = rng.random((H, W)) < 0.3
        elif kind == 1:
            m = rng.random((H, W)) < 0.62
        elif kind == 2:
            m = np.zeros((H, W), bool)
            for cx, cy, r in rng.uniform((3, 3, 1), (W - 3, H - 3, 7), (3, 3)):
                m |= (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
            m[rng.integers(0, H), :] ^= True
        else:
            m = np.zeros((H, W), bool)
            for _ in range(3):
                x, y = rng.integers(0, W), rng.integers(0, H)
                for _ in range(15):
                    m[y % H, x % W] = True
                    x, y = x + rng.choice([-1, 1]), y + rng.choice([-1, 1])
        if k % 2:
            m[0, :] = m[-1, :] = m[:, 0] = m[:, -1] = False
        yield m


def yolo_full(polys) -> np.ndarray:
    return M.paste(*fill_yolo(polys, H, W), H, W)


def labelme_full(polys) -> np.ndarray:
    out = np.zeros((H, W), bool)
    for p in polys:
        out |= M.paste(*fill_labelme("polygon", p, H, W), H, W)
    return out


def test_unsimplified_polygons_come_back_pixel_for_pixel_by_both_rules():
    for k, m in enumerate(random_masks(160)):
        polys, holes = vertex_polygons(m, (0, 0), 0.0)
        assert np.array_equal(labelme_full(polys), m), k
        assert np.array_equal(np.logical_or.reduce([yolo_full([p]) for p in polys]), m), k
        joined, joined_holes, _parts = vertex_polygon(m, (0, 0), 0.0)
        assert joined_holes == holes
        got = yolo_full([joined])
        assert not (m & ~got).any(), k  # the bridges between parts may only add pixels
        if len(polys) == 1:
            assert np.array_equal(got, m), k  # a hole's bridge runs over the part's pixels


def test_a_bridge_crosses_no_other_hole():
    m = np.ones((20, 40), bool)
    for x in (4, 12, 20, 28):  # four holes in a row: each bridged to its neighbour
        m[8:12, x:x + 4] = False
    polys, holes = vertex_polygons(m, (0, 0), 0.0)
    assert len(polys) == 1 and holes == 4
    full = np.zeros((H, W + 20), bool)
    full[:20, :40] = m
    got = M.paste(*fill_yolo(polys, H, W + 20), H, W + 20)
    assert np.array_equal(got, full)


def test_polygons_have_at_least_three_points_and_sit_on_pixel_centres():
    dot = np.ones((1, 1), bool)
    line = np.ones((1, 2), bool)
    for crop in (dot, line):
        (poly,), _ = vertex_polygons(crop, (5, 7), 0.0)
        assert len(poly) == 6 and all(float(v).is_integer() for v in poly)
        full = np.zeros((H, W), bool)
        full[7, 5:5 + crop.shape[1]] = True
        assert np.array_equal(labelme_full([poly]), full)
        assert np.array_equal(yolo_full([poly]), full)


@pytest.mark.parametrize("rule", ["yolo", "labelme"])
def test_a_fill_counted_by_bands_is_the_whole_images(rule, monkeypatch):
    rng = np.random.default_rng(4)
    for k in range(60):
        n = rng.integers(3, 9)
        poly = rng.integers(-3, 33, (n, 2)).ravel().tolist()
        mask = rng.random((12, 14)) < 0.5
        offset = tuple(int(v) for v in rng.integers(-4, 20, 2))
        full = yolo_full([poly]) if rule == "yolo" else labelme_shape_mask(
            {"points": np.reshape(poly, (-1, 2)).tolist()}, H, W)
        want = iou(full, M.paste(mask, offset, H, W))
        monkeypatch.setattr(vertex_fill, "BAND", 1 << 22)
        assert fill_iou(rule, [poly], mask, offset, H, W) == pytest.approx(want)
        monkeypatch.setattr(vertex_fill, "BAND", 17)  # bands of a row or two
        assert fill_iou(rule, [poly], mask, offset, H, W) == pytest.approx(want), k


def test_labelme_reads_float_points_as_pil_draws_them_on_the_whole_image():
    rng = np.random.default_rng(8)
    for k in range(80):
        kind = ("polygon", "rectangle", "circle")[k % 3]
        n = rng.integers(3, 8) if kind == "polygon" else 2
        pts = (rng.uniform(-2, 32, 2) + rng.uniform(-8, 8, (n, 2))).round(2)
        shape = {"points": pts.tolist(), "shape_type": kind}
        got = M.paste(*fill_labelme(kind, pts.ravel().tolist(), H, W), H, W)
        assert np.array_equal(got, labelme_shape_mask(shape, H, W)), (k, kind)
