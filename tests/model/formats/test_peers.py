"""YOLO-seg and labelme files as their peer tools read and write them (issue 28, items 11
and 12), by the rules each documents (tests/model/formats/peer_rules.py): Ultralytics and
supervision fill the vertices with cv2.fillPoly, labelme with PIL's polygon and its
outline; a vertex is a pixel, not a pixel's corner as in COCO. Both directions: what
MaskLoop exports, the peers read pixel for pixel; what the peers write, MaskLoop reads
as they do. test_peer_tools.py runs the same checks with the real peers where installed.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from model.data.annotations import Category, Dataset, Instance
from model.formats.labelme import read_labelme, write_labelme
from model.formats.yolo import read_yolo, write_yolo
from tests.model.formats.peer_rules import (contour_polygons, iou, labelme_instance_masks,
                                    labelme_shape_mask, supervision_mask, ultralytics_dataset,
                                    ultralytics_mask, yolo_file_masks, yolo_line)
from tests.model.formats.test_polygon_formats import grey_png

H, W = 64, 80


def square(n: int) -> np.ndarray:
    return np.ones((n, n), bool)


def ring() -> np.ndarray:
    m = np.ones((12, 12), bool)
    m[4:8, 4:8] = False
    return m


def diagonal() -> np.ndarray:
    return np.eye(15, dtype=bool)  # one pixel thick, corners touching


def two_parts() -> np.ndarray:
    m = np.zeros((4, 14), bool)
    m[:, :4] = m[:, 10:] = True  # 6 pixels apart
    return m


# (name, crop, offset): no two touch
SHAPES = [("1x1", square(1), (2, 2)), ("2x2", square(2), (6, 2)), ("3x3", square(3), (10, 2)),
          ("20x20", square(20), (2, 10)), ("ring", ring(), (30, 10)),
          ("diagonal", diagonal(), (50, 10)), ("two parts", two_parts(), (30, 40))]
SINGLE = [s for s in SHAPES if s[0] != "two parts"]


def shapes_dataset(tmp_path: Path) -> Dataset:
    root = tmp_path / "src"
    grey_png(root / "a.png", H, W)
    ds = Dataset([Category(1, "thing")], image_root=root)
    rec = ds.add_image("a.png", W, H)
    for _name, crop, offset in SHAPES:
        ds.add_instance(rec, Instance(1, crop, offset))
    return ds


def truth(crop: np.ndarray, offset) -> np.ndarray:
    m = np.zeros((H, W), bool)
    x, y = offset
    m[y:y + crop.shape[0], x:x + crop.shape[1]] = crop
    return m


# ----------------------------------------------------------- export, peer reads

@pytest.mark.parametrize("tolerance", [0.0, 0.5])
def test_yolo_seg_export_is_read_pixel_for_pixel_by_ultralytics_and_supervision(
        tmp_path, tolerance):
    report = write_yolo(shapes_dataset(tmp_path), tmp_path / "y", tolerance)
    text = (tmp_path / "y" / "labels" / "a.txt").read_text()
    for rule in (ultralytics_mask, supervision_mask):
        got = yolo_file_masks(text, H, W, rule)
        assert len(got) == len(SHAPES)
        for (name, crop, offset), mask in zip(SHAPES, got):
            want = truth(crop, offset)
            if name != "two parts":
                assert np.array_equal(mask, want), (rule.__name__, name, tolerance)
            else:  # one line an object: the bridge between the parts is drawn as a line
                assert not (want & ~mask).any()
                assert np.count_nonzero(mask & ~want) == 6  # the gap between them
    ious = [iou(m, truth(c, o)) for m, (_, c, o) in zip(
        yolo_file_masks(text, H, W, ultralytics_mask), SHAPES)]
    # the report measures what the readers read, not pycocotools' reading
    assert report.mean_iou == pytest.approx(np.mean(ious))
    assert report.worst_iou == pytest.approx(min(ious)) == pytest.approx(32 / 38)
    assert report.parts_joined == 1 and report.holes_bridged == 1


def test_a_3x3_square_is_9_pixels_for_the_yolo_readers_and_the_report_says_so(tmp_path):
    ds = Dataset([Category(1, "dot")], image_root=tmp_path / "src")
    grey_png(tmp_path / "src" / "a.png", 10, 10)
    ds.add_instance(ds.add_image("a.png", 10, 10), Instance(1, square(3), (3, 4)))
    report = write_yolo(ds, tmp_path / "y")
    line = (tmp_path / "y" / "labels" / "a.txt").read_text().strip()
    for rule in (ultralytics_mask, supervision_mask):
        got = rule(line, 10, 10)
        assert got.sum() == 9 and got[4:7, 3:6].all()  # not 16 (pycocotools' corners)
    assert report.worst_iou == 1.0


@pytest.mark.parametrize("tolerance", [0.0, 0.5])
def test_labelme_export_is_read_pixel_for_pixel_by_labelme(tmp_path, tolerance):
    report = write_labelme(shapes_dataset(tmp_path), tmp_path / "lm", tolerance)
    data = json.loads((tmp_path / "lm" / "a.json").read_text())
    got = labelme_instance_masks(data)
    assert len(got) == len(SHAPES)
    for (name, crop, offset), (_label, mask) in zip(SHAPES, got):
        assert np.array_equal(mask, truth(crop, offset)), (name, tolerance)
    assert report.worst_iou == 1.0 and report.holes_bridged == 1
    assert all(len(s["points"]) >= 3 for s in data["shapes"])  # labelme needs three


def test_simplified_polygons_are_measured_by_the_readers_rule(tmp_path):
    ds = Dataset([Category(1, "blob")], image_root=tmp_path / "src")
    grey_png(tmp_path / "src" / "a.png", H, W)
    rec = ds.add_image("a.png", W, H)
    yy, xx = np.mgrid[:H, :W]
    for cx, cy, r in ((15, 15, 9.3), (50, 30, 13.6), (30, 50, 5.2)):
        ds.add_instance(rec, Instance(1, (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r))
    masks = [i.full_mask(H, W) for i in rec.instances]
    report = write_yolo(ds, tmp_path / "y", tolerance=2.0)
    text = (tmp_path / "y" / "labels" / "a.txt").read_text()
    ious = [iou(a, b) for a, b in zip(yolo_file_masks(text, H, W, supervision_mask), masks)]
    assert min(ious) < 1 and report.worst_iou == pytest.approx(min(ious))
    report = write_labelme(ds, tmp_path / "lm", tolerance=2.0)
    got = labelme_instance_masks(json.loads((tmp_path / "lm" / "a.json").read_text()))
    ious = [iou(m, b) for (_, m), b in zip(got, masks)]
    assert min(ious) < 1 and report.worst_iou == pytest.approx(min(ious))


# ----------------------------------------------------------- peer writes, MaskLoop reads

def yolo_folder(root: Path, lines: list[str]) -> Path:
    grey_png(root / "images" / "a.png", H, W)
    (root / "labels").mkdir(parents=True)
    (root / "labels" / "a.txt").write_text("".join(ln + "\n" for ln in lines))
    return root


@pytest.mark.parametrize("fmt", ["{:.5f}", "{:g}", "{:.3f}"])
def test_label_lines_written_as_supervision_writes_them_read_as_their_pixels(tmp_path, fmt):
    """supervision writes OpenCV's contour of the mask over the image size (five decimals);
    Ultralytics' predictions six significant digits: the written value may fall just under
    the pixel, and MaskLoop rounds as supervision does (its 20x20 was read as 19x19)."""
    shapes = [(n, c, o) for n, c, o in SINGLE if n not in ("1x1", "ring", "diagonal")]
    shapes.append(("thick diagonal", np.eye(12, dtype=bool) | np.eye(12, k=1, dtype=bool),
                   (60, 40)))
    lines = [yolo_line(0, contour_polygons(truth(c, o))[0], H, W, fmt) for _, c, o in shapes]
    ds = read_yolo(yolo_folder(tmp_path / "y", lines))
    got = ds.images[0].instances
    assert len(got) == len(shapes) and not ds.warnings[1:]
    for (name, crop, offset), inst, line in zip(shapes, got, lines):
        mask = inst.full_mask(H, W)
        assert np.array_equal(mask, supervision_mask(line, H, W)), name  # as supervision
        if fmt != "{:.3f}":  # three decimals of 80 px: up to 0.04 px off, still the pixel
            assert np.array_equal(mask, truth(crop, offset)), (name, fmt)


def test_a_polygon_any_reader_fills_is_read_as_it_fills_it(tmp_path):
    """Vertices between pixels, a line (no area), a polygon on the image's far edge: each
    read by the YOLO rule; only the polygon that draws nothing inside the image is
    skipped, with the file and line named."""
    lines = ["0 0.1 0.1 0.43 0.17 0.2 0.52 0.05 0.33",
             "0 0.5 0.5 0.9 0.8 0.5 0.5",  # a line: the tools draw it
             "0 1 0 1 0.5 1 1"]  # x = 1: the column just past the image
    root = yolo_folder(tmp_path / "y", lines)
    ds = read_yolo(root)
    got = ds.images[0].instances
    assert len(got) == 2
    for inst, line in zip(got, lines):
        assert np.array_equal(inst.full_mask(H, W), supervision_mask(line, H, W))
    assert got[1].area >= 32  # the line's pixels
    assert any(f"{root / 'labels' / 'a.txt'}, line 3" in w and "no pixel" in w
               for w in ds.warnings)


def test_yolo_read_back_to_coco_keeps_the_pixels_the_yolo_readers_see(tmp_path):
    """A YOLO polygon is no COCO polygon: saved as COCO it is written as the RLE of what
    the YOLO rule fills, so pycocotools reads the same pixels."""
    from model.data.coco import load_dataset, save_dataset
    line = yolo_line(0, contour_polygons(truth(square(5), (7, 9)))[0], H, W)
    ds = read_yolo(yolo_folder(tmp_path / "y", [line]))
    for fmt in ("rle", "polygon"):
        save_dataset(ds, tmp_path / f"{fmt}.json", fmt)
        ann = json.loads((tmp_path / f"{fmt}.json").read_text())["annotations"][0]
        assert "vertices" not in json.dumps(ann) and ann["area"] == 25
        back = load_dataset(tmp_path / f"{fmt}.json", tmp_path / "y")
        assert np.array_equal(back.images[0].instances[0].full_mask(H, W),
                              truth(square(5), (7, 9)))


def test_labelme_polygons_on_pixel_centres_read_as_labelme_reads_them(tmp_path):
    grey_png(tmp_path / "a.png", H, W)
    shapes = []
    for name, crop, offset in SHAPES:
        for poly in contour_polygons(truth(crop, offset)):
            pts = [[float(x), float(y)] for x, y in poly]
            shapes.append({"label": name, "points": (pts * 3)[:max(3, len(pts))],
                           "group_id": None, "shape_type": "polygon", "flags": {}})
    shapes.append({"label": "box", "points": [[60.4, 40.6], [70.5, 50.5]],
                   "shape_type": "rectangle", "group_id": None, "flags": {}})
    doc = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": "a.png",
           "imageData": None, "imageHeight": H, "imageWidth": W}
    (tmp_path / "a.json").write_text(json.dumps(doc))
    ds = read_labelme(tmp_path / "a.json")
    got = ds.images[0].instances
    assert len(got) == len(shapes)
    for shape, inst in zip(shapes, got):
        assert np.array_equal(inst.full_mask(H, W), labelme_shape_mask(shape, H, W))
    names = ds.category_names()
    for inst in got:  # the hole-free shapes come back as they were drawn
        name = names[inst.category_id]
        if name in ("2x2", "3x3", "20x20", "diagonal"):
            crop, offset = next((c, o) for n, c, o in SHAPES if n == name)
            assert np.array_equal(inst.full_mask(H, W), truth(crop, offset)), name


# ---------------------------------------------------------------- item 12: data.yaml

def test_data_yaml_holds_no_absolute_path_so_a_moved_export_still_checks(tmp_path):
    """Ultralytics' checker takes `path:`, else data.yaml's folder, as the root; an
    absolute path to the first place broke a copied export once the original was gone."""
    out = tmp_path / "first" / "export"
    write_yolo(shapes_dataset(tmp_path), out)
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(out, moved)
    shutil.rmtree(tmp_path / "first")
    text = (moved / "data.yaml").read_text()
    assert "path:" not in text and str(tmp_path) not in text
    data = ultralytics_dataset(moved / "data.yaml", cwd=tmp_path)
    assert data["train"] == data["val"] == str((moved / "images").resolve())
    assert data["names"] == ["thing"]
    assert read_yolo(moved).num_instances() == len(SHAPES)


# ------------------------------------------- item 19: the default tolerance is lossless

def small_discs_coco(tmp_path: Path) -> Path:
    """A COCO file of small discs (the size of nuclei), as RLE, with its image."""
    from model.data import masks as M
    grey_png(tmp_path / "d.png", H, W)
    yy, xx = np.mgrid[:H, :W]
    anns = []
    for k, (cx, cy, r) in enumerate(((10, 10, 3.4), (30, 14, 6.2), (60, 16, 7.4),
                                     (15, 42, 4.4), (45, 45, 5.2)), 1):
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        anns.append({"id": k, "image_id": 1, "category_id": 1, "iscrowd": 0,
                     "segmentation": M.encode_rle(*M.tight_crop(disc), H, W)})
    doc = {"images": [{"id": 1, "file_name": "d.png", "width": W, "height": H}],
           "annotations": anns, "categories": [{"id": 1, "name": "nucleus"}]}
    (tmp_path / "d.json").write_text(json.dumps(doc))
    return tmp_path / "d.json"


def test_every_polygon_format_is_lossless_by_default_and_tolerance_trades(tmp_path, capsys):
    """At --tolerance 0.5 small round objects lost pixels (worst IoU 0.800 on nuclei for
    coco-polygon-only): the default now keeps every pixel by each format's own readers."""
    import main
    from model.data.coco import load_dataset
    from tests.model.formats.peer_rules import coco_mask
    src = small_discs_coco(tmp_path)
    truths = [i.full_mask(H, W) for _, i in load_dataset(src).instances()]
    for fmt in ("coco-polygon-only", "yolo-seg", "labelme"):
        out = tmp_path / fmt
        assert main.main(["export", str(src), "--out", str(out), "--format", fmt]) == 0
        said = capsys.readouterr().out
        assert "mean mask IoU 1.000, worst 1.000" in said, said
        if fmt == "coco-polygon-only":
            anns = json.loads(out.read_text())["annotations"]
            got = [coco_mask(a["segmentation"], H, W) for a in anns]
        elif fmt == "yolo-seg":
            got = yolo_file_masks((out / "labels" / "d.txt").read_text(), H, W,
                                  ultralytics_mask)
        else:
            got = [m for _, m in labelme_instance_masks(json.loads((out / "d.json").read_text()))]
        assert len(got) == len(truths)
        assert all(np.array_equal(a, b) for a, b in zip(got, truths)), fmt
        lossy = tmp_path / f"{fmt}-lossy"
        assert main.main(["export", str(src), "--out", str(lossy), "--format", fmt,
                          "--tolerance", "0.5"]) == 0
        assert "worst 1.000" not in capsys.readouterr().out  # fewer vertices, some pixels
