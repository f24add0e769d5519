"""Masks as polygon-only data: holes bridged so every polygon rasteriser leaves them
empty, parts kept, pycocotools' rasterisation close to the mask; the report's line.

Also holds `synthetic_dataset`, the COCO-style dataset the format round trips share."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw
from pycocotools import mask as mask_utils

from model.data import masks as M
from model.data.annotations import Category, Dataset, Instance
from model.data.polygons import join_parts, mask_to_polygons
from model.formats.polygon_conversion import polygons_iou
from model.formats.folder import FolderExport
from model.data.images import natural_key
from model.formats.names import output_names
from model.formats.writer_reports import PolygonReport
from model.errors import FormatError

H, W = 128, 128
IMG_H, IMG_W = 96, 112
UNICODE_CLASS = "Zelle/猫: α_β"  # a slash, a colon, an underscore and CJK


def square_ring(side: int = 60, hole: int = 20) -> np.ndarray:
    m = np.ones((side, side), bool)
    a = (side - hole) // 2
    m[a:a + hole, a:a + hole] = False
    return m


def disc(h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def two_holes() -> np.ndarray:
    m = disc(90, 90, 45, 45, 40)
    return m & ~disc(90, 90, 30, 45, 8) & ~disc(90, 90, 62, 40, 10)


def two_blobs() -> np.ndarray:
    m = np.zeros((50, 70), bool)
    m[5:20, 5:25] = True
    m[30:45, 40:65] = disc(15, 25, 12, 7, 9)
    return m


def full(mask: np.ndarray, offset, h: int = H, w: int = W) -> np.ndarray:
    return M.paste(mask, offset, h, w)


def coco_raster(polys, h: int = H, w: int = W) -> np.ndarray:
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, h, w))).astype(bool)


def grey_png(path: Path, h: int, w: int) -> Path:
    """A plain grey test image (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((h, w, 3), 90, np.uint8))
    return path


def synthetic_dataset(tmp_path: Path) -> Dataset:
    """Two images (one with a unicode name in a subfolder): a ring with a hole, a
    two-part instance, a crowd region, a unicode class; no two masks overlap."""
    root = tmp_path / "src"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(3)
    names = ["plain.png", "sub/bild_ü_猫.png"]
    for name in names:
        assert cv2.imwrite(str(root / name), rng.integers(0, 255, (IMG_H, IMG_W, 3), np.uint8))
    cats = [Category(4, "ring"), Category(7, UNICODE_CLASS), Category(9, "crowd")]
    ds = Dataset(cats, image_root=root)
    a = ds.add_image(names[0], IMG_W, IMG_H)
    ds.add_instance(a, Instance(4, square_ring(40, 14), (8, 8)))
    ds.add_instance(a, Instance(7, two_blobs(), (42, 46)))
    crowd = np.zeros((10, 30), bool)
    crowd[2:9, 1:28] = True
    ds.add_instance(a, Instance(9, crowd, (5, 80), iscrowd=True))
    b = ds.add_image(names[1])  # size read from the file
    ds.add_instance(b, Instance(7, disc(40, 40, 20, 20, 15), (72, 0)))
    ds.add_instance(b, Instance(4, two_holes()[10:80, 10:80], (2, 20)))
    ds.add_image("plain10.png", IMG_W, IMG_H)  # no instances; written to disk below
    cv2.imwrite(str(root / "plain10.png"), np.zeros((IMG_H, IMG_W, 3), np.uint8))
    return ds


def matched(src: Dataset, back: Dataset) -> list[tuple]:
    """(source image, read-back image) pairs, matched by file name: readers sort
    naturally and may put the images under another folder."""
    by_name = {Path(r.file_name).name: r for r in back.images}
    assert sorted(by_name) == sorted(Path(r.file_name).name for r in src.images)
    return [(r, by_name[Path(r.file_name).name]) for r in src.images]


# ----------------------------------------------------------------------- bridge

@pytest.mark.parametrize("tolerance", [0.0, 0.5])
def test_a_ring_becomes_one_polygon_whose_hole_every_rasteriser_leaves_empty(tolerance):
    ring, off = square_ring(), (10, 20)
    polys, bridged = mask_to_polygons(ring, off, tolerance)
    assert len(polys) == 1 and bridged == 1
    assert polygons_iou(polys, ring, off, H, W) >= 0.99
    truth = full(ring, off)
    assert np.array_equal(coco_raster(polys), truth)  # square edges come back exactly
    hole, solid = (50, 40), (25, 15)  # (y, x): inside the hole, on the ring
    im = Image.new("L", (W, H))
    ImageDraw.Draw(im).polygon([tuple(p) for p in np.reshape(polys[0], (-1, 2))], fill=1)
    pil = np.asarray(im)
    cv = np.zeros((H, W), np.uint8)
    cv2.fillPoly(cv, [np.round(np.reshape(polys[0], (-1, 2))).astype(np.int32)], 1)
    for raster in (pil, cv):
        assert raster[hole] == 0 and raster[solid] == 1
    # nonzero-winding fillers (Qt, Skia, SVG's default) too: the hole runs the other way
    ring_path = np.reshape(polys[0], (-1, 2))
    assert winding(ring_path, (40.5, 50.5)) == 0 and abs(winding(ring_path, (15.5, 25.5))) == 1


def winding(poly: np.ndarray, point) -> int:
    """How often a closed path turns around a point (0: outside under the nonzero rule)."""
    v = poly - np.asarray(point, float)
    a = np.arctan2(v[:, 1], v[:, 0])
    turn = np.diff(np.append(a, a[0]))
    turn = (turn + np.pi) % (2 * np.pi) - np.pi
    return int(round(turn.sum() / (2 * np.pi)))


def test_the_bridge_takes_the_shortest_way_to_the_hole():
    m = np.ones((60, 60), bool)
    m[10:30, 35:55] = False  # 5 px from the right edge, 35 from the left
    polys, bridged = mask_to_polygons(m, (0, 0), 0.0)
    p = np.reshape(polys[0], (-1, 2))
    repeated = [tuple(v) for v in p if (np.all(p == v, axis=1)).sum() > 1]
    assert bridged == 1 and len(set(repeated)) == 2  # one vertex on each end, used twice
    a, b = (np.array(v) for v in set(repeated))
    assert np.linalg.norm(a - b) <= 5 + 1.5
    assert polygons_iou(polys, m, (0, 0), 60, 60) == 1.0


def test_separate_blobs_are_separate_polygons_and_two_holes_are_both_bridged():
    blobs, off = two_blobs(), (3, 4)
    polys, bridged = mask_to_polygons(blobs, off)
    assert len(polys) == 2 and bridged == 0
    assert polygons_iou(polys, blobs, off, H, W) >= 0.95
    holes, off = two_holes(), (5, 5)
    polys, bridged = mask_to_polygons(holes, off)
    assert len(polys) == 1 and bridged == 2
    assert polygons_iou(polys, holes, off, H, W) >= 0.95
    got = coco_raster(polys)
    assert not got[50, 35] and not got[45, 67]  # both hole centres (y, x) stay empty


def test_an_island_inside_a_hole_is_its_own_polygon():
    m = disc(100, 100, 50, 50, 45) & ~disc(100, 100, 50, 50, 30) | disc(100, 100, 50, 50, 15)
    polys, bridged = mask_to_polygons(m, (0, 0))
    assert len(polys) == 2 and bridged == 1
    assert polygons_iou(polys, m, (0, 0), 100, 100) >= 0.97


def test_join_parts_makes_one_polygon_of_several_that_rasterises_the_same():
    blobs, off = two_blobs(), (3, 4)
    polys, _ = mask_to_polygons(blobs, off)
    joined = join_parts(polys)
    assert np.array_equal(coco_raster([joined]), coco_raster(polys))
    assert join_parts([]) == []


def test_simplification_trades_points_for_a_little_iou():
    m = disc(80, 80, 40, 40, 35)
    exact, _ = mask_to_polygons(m, (0, 0), 0.0)
    coarse, _ = mask_to_polygons(m, (0, 0), 2.0)
    assert len(coarse[0]) < len(exact[0]) / 2
    assert polygons_iou(exact, m, (0, 0), 80, 80) > 0.995
    assert 0.95 <= polygons_iou(coarse, m, (0, 0), 80, 80) < 1.0


def test_random_blobs_come_back_at_high_iou_and_exactly_unsimplified():
    rng = np.random.default_rng(0)
    ious, exact = [], []
    for _ in range(25):
        noise = cv2.GaussianBlur(rng.normal(size=(64, 64)), (0, 0), float(rng.uniform(2, 5)))
        m = noise > np.quantile(noise, rng.uniform(0.5, 0.8))
        ious.append(polygons_iou(mask_to_polygons(m, (0, 0))[0], m, (0, 0), 64, 64))
        exact.append(polygons_iou(mask_to_polygons(m, (0, 0), 0.0)[0], m, (0, 0), 64, 64))
    assert np.mean(ious) >= 0.995 and min(ious) >= 0.98
    assert exact == [1.0] * 25  # unsimplified, every mask comes back pixel for pixel


def test_thin_and_tiny_instances_are_not_lost_and_empty_ones_give_nothing():
    line = np.ones((1, 30), bool)
    polys, _ = mask_to_polygons(line, (7, 9), 0.5)
    assert polys and polygons_iou(polys, line, (7, 9), 40, 40) == 1.0
    bent = np.zeros((10, 10), bool)
    bent[0, :] = bent[:, 9] = True  # a one-pixel L
    diagonal = np.eye(12, dtype=bool)  # pixels touching at corners only
    for thin in (bent, diagonal):
        polys, _ = mask_to_polygons(thin, (0, 0), 0.5)
        assert len(polys) == 1 and polygons_iou(polys, thin, (0, 0), 40, 40) == 1.0
    dot = np.ones((1, 1), bool)
    assert polygons_iou(mask_to_polygons(dot, (3, 3))[0], dot, (3, 3), 10, 10) == 1.0
    assert mask_to_polygons(np.zeros((4, 4), bool), (0, 0)) == ([], 0)
    assert polygons_iou([], np.ones((2, 2), bool), (0, 0), 8, 8) == 0.0


# ----------------------------------------------------------------------- report

def test_the_report_line_says_counts_iou_and_crowd():
    r = PolygonReport()
    r.add(0.99, polygons=2, holes_bridged=1)
    r.add(0.95)
    r.crowd_dropped = 1
    assert r.mean_iou == pytest.approx(0.97) and r.worst_iou == 0.95
    assert r.summary() == ("2 instances as 3 polygons; 1 hole bridged; mean mask IoU 0.970, "
                           "worst 0.950; 1 crowd region dropped")
    assert "IoU" not in PolygonReport().summary()


def test_format_error_names_the_file():
    e = FormatError(Path("x/a.json"), "points hold NaN")
    assert str(e) == f"{Path('x/a.json')}: points hold NaN" and isinstance(e, ValueError)


def test_natural_order_and_collision_free_output_names():
    names = ["img10.png", "img2.png", "Img1.png"]
    assert sorted(names, key=natural_key) == ["Img1.png", "img2.png", "img10.png"]
    ds = Dataset()
    for n in ["a.png", "a.jpg", "images/train/b.png", "A.tif"]:
        ds.add_image(n)
    out = [str(p) for p in output_names(ds).values()]
    assert out == ["a.png", "a_2.jpg", "train/b.png", "A_3.tif"]


def test_place_image_links_or_copies(tmp_path, monkeypatch):
    src = tmp_path / "s.png"
    src.write_bytes(b"pixels")
    with FolderExport(tmp_path / "out", "test") as folder:
        folder.place_image(src, "d.png")

        def no_links(*_args, **_kwargs):
            raise OSError("cross-device link")
        monkeypatch.setattr(os, "link", no_links)
        folder.place_image(src, "c.png")
    dst, copy = tmp_path / "out" / "d.png", tmp_path / "out" / "c.png"
    assert dst.read_bytes() == b"pixels" and os.path.samefile(src, dst)
    assert copy.read_bytes() == b"pixels" and not os.path.samefile(src, copy)
    assert sorted(p.name for p in copy.parent.iterdir()) == [".maskloop-export.json", "c.png",
                                                             "d.png"]  # no temp left


# ------------------------------------------- one conversion helper for every polygon writer

def _lazy(mask: np.ndarray, ann_id: int = 1) -> Instance:
    h, w = mask.shape
    return Instance.from_annotation(
        {"id": ann_id, "image_id": 1, "category_id": 1, "iscrowd": 0,
         "segmentation": {"size": [h, w], "counts": M.rle_counts_from_crop(mask, (0, 0), h, w)}},
        h, w)


def test_converted_decodes_a_lazy_mask_for_the_call_alone_and_names_what_is_too_complex():
    from model.data.polygons import TooComplex
    from model.formats.polygon_conversion import converted
    m = disc(H, W, 30, 20, 9)
    inst, report = _lazy(m), PolygonReport()
    got = converted(inst, "a.png", report, lambda mask, offset: int(full(mask, offset).sum()))
    assert got == m.sum() and inst.is_lazy  # decoded for the call, forgotten after
    edited = _lazy(m, 2)
    edited.set_mask(*M.tight_crop(m))  # an edit: the decoded mask is the only copy, kept
    assert converted(edited, "a.png", report, lambda mask, offset: 1) == 1
    assert not edited.is_lazy and edited.area == m.sum()

    def too_complex(mask, offset):
        raise TooComplex("its outline is 9 pixel edges long")
    assert converted(inst, "b.png", report, too_complex) is None and inst.is_lazy
    assert report.complex == 1
    assert report.warnings == ["b.png: instance 1 left out: its outline is 9 pixel edges long"]


@pytest.mark.parametrize("fmt", ["coco-polygon-only", "yolo-seg", "labelme"])
def test_every_polygon_writer_leaves_the_file_s_masks_undecoded(tmp_path, fmt):
    from model.formats import registry
    from model.formats.export import export
    assert fmt in [f.name for f in registry.writers() if f.polygons]
    grey_png(tmp_path / "a.png", H, W)
    ds = Dataset([Category(1, "blob")], image_root=tmp_path)
    rec = ds.add_image("a.png", W, H)
    for k, cx in enumerate((20, 60), 1):
        ds.add_instance(rec, _lazy(disc(H, W, cx, 30, 8), k))
    out = tmp_path / ("out.json" if fmt.startswith("coco") else "out")
    result = export(ds, out, fmt)
    assert "2 instances as 2 polygons" in result.lines[0] and "mean mask IoU 1.000" in result.lines[0]
    assert all(inst.is_lazy for inst in rec.instances)
