"""The importers against what users and peer tools hand them (issue 18): YOLO box lines and
labelme rectangles through predict --from-boxes (item 5), a Label Studio COCO export whose
unlabelled images have no size (9), folders holding two formats (13), labelme's
__ignore__ and a labelme re-save of MaskLoop's file (15), empty class names (16), label
images with scattered ids (18) and long YOLO label files (20)."""
from __future__ import annotations

import gc
import json
import tracemalloc

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

import main
from model.data.annotations import Category, Dataset, Instance
from model.data.coco import load_dataset
from model.errors import CocoFormatError
from model.formats.detect import detect
from model.formats.labelme import read_labelme, write_labelme
from model.formats.mask_pngs import read_masks, write_masks
from model.formats.yolo import read_yolo, write_yolo
from model.formats import yolo_labels
from model.formats.sources import open_path
from tests.model.formats.peer_rules import supervision_mask


def yolo(root, lines, size=(80, 64), names="names: [cat, dog]\n"):
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    Image.new("RGB", size, (90, 90, 90)).save(root / "images" / "a.png")
    (root / "labels" / "a.txt").write_text("".join(f"{line}\n" for line in lines))
    (root / "data.yaml").write_text(names)
    return root


# ------------------------------------------------------------------ item 5: boxes

def test_a_yolo_box_line_is_filled_by_predict_from_boxes(tmp_path, capsys):
    root = yolo(tmp_path / "y", ["1 0.5 0.5 0.5 0.5", "0 0.1 0.1 0.3 0.1 0.2 0.3"])
    box, poly = read_yolo(root).images[0].instances
    assert box.box_only and box.bbox == [20.0, 16.0, 40.0, 32.0] and not poly.box_only
    out = tmp_path / "filled.json"
    assert main.main(["predict", str(root), "--from-boxes", "--method", "box",
                      "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "YOLO-seg" in err and "1 of 1 box-only annotation(s) filled" in err
    got = load_dataset(out, root)
    filled, kept = got.images[0].instances
    assert not filled.box_only and filled.category_id == 2 and filled.area == 40 * 32
    assert filled.source == "model" and kept.area == poly.area
    assert got.image_path(got.images[0]) == root / "images" / "a.png"


def test_labelme_rectangles_are_boxes_for_predict_from_boxes(tmp_path, capsys):
    Image.new("RGB", (80, 60)).save(tmp_path / "a.png")
    shapes = [{"label": "car", "points": [[10, 10], [30, 20]], "shape_type": "rectangle"},
              {"label": "car", "points": [[40, 40], [60, 40], [50, 55]],
               "shape_type": "polygon"}]
    doc = {"version": "5.5.0", "shapes": shapes, "imagePath": "a.png", "imageHeight": 60,
           "imageWidth": 80, "imageData": None, "flags": {}}
    (tmp_path / "a.json").write_text(json.dumps(doc))
    assert not any(i.box_only for i in read_labelme(tmp_path).images[0].instances)
    boxes = open_path(tmp_path, rectangles_as_boxes=True).images[0].instances
    # labelme shows both corners' pixels: the box is the rectangle's own pixels, 21 x 11
    assert [i.box_only for i in boxes] == [True, False] and boxes[0].bbox == [10, 10, 21, 11]
    out = tmp_path / "o.json"
    assert main.main(["predict", str(tmp_path), "--from-boxes", "--method", "box",
                      "--out", str(out)]) == 0
    filled = load_dataset(out, tmp_path).images[0].instances
    as_mask = read_labelme(tmp_path).images[0].instances  # labelme's rule for the rectangle
    assert [a.area for a in filled] == [231, boxes[1].area]
    assert (filled[0].full_mask(60, 80) == as_mask[0].full_mask(60, 80)).all()


def test_from_boxes_says_what_it_read_when_there_is_no_box(tmp_path, capsys):
    root = yolo(tmp_path / "y", ["0 0.1 0.1 0.3 0.1 0.2 0.3"])
    assert main.main(["predict", str(root), "--from-boxes", "--method", "box",
                      "--out", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "YOLO-seg" in err and "no box without a mask" in err


# -------------------------------------------------------- item 9: sizes from headers

def label_studio(tmp_path, images):
    doc = {"images": images, "categories": [{"id": 0, "name": "cat"}],
           "annotations": [{"id": 1, "image_id": 0, "category_id": 0, "iscrowd": 0,
                            "bbox": [1, 1, 5, 5], "area": 25,
                            "segmentation": [[1, 1, 6, 1, 6, 6, 1, 6]]}],
           "info": {"description": "Label Studio"}}
    p = tmp_path / "result.json"
    p.write_text(json.dumps(doc))
    return p


def test_label_studio_unlabelled_images_get_their_size_from_the_header(tmp_path):
    (tmp_path / "images").mkdir()
    for name, size in (("a.png", (40, 30)), ("b.jpg", (64, 48)), ("c.png", (20, 10))):
        Image.new("RGB", size).save(tmp_path / "images" / name)
    p = label_studio(tmp_path, [
        {"id": 0, "file_name": "images/a.png", "width": 40, "height": 30},
        {"id": 1, "file_name": "images/b.jpg", "width": None, "height": None},
        {"id": 2, "file_name": "images/c.png"}])
    ds = load_dataset(p)
    assert [(r.width, r.height) for r in ds.images] == [(40, 30), (64, 48), (20, 10)]
    (said,) = ds.warnings
    assert "2 image(s) have no width/height" in said and "header" in said
    out = tmp_path / "out.json"
    assert main.main(["export", str(p), "--out", str(out)]) == 0
    assert [i["width"] for i in json.loads(out.read_text())["images"]] == [40, 64, 20]


def test_only_a_size_nothing_resolves_is_refused(tmp_path):
    """When no image resolves at all the file is refused, each image with its reason (an
    image some size resolves is kept and the rest left out: tests/model/
    test_import_interop.py)."""
    p = label_studio(tmp_path, [
        {"id": 0, "file_name": "gone.png", "width": None, "height": None},
        {"id": 2, "file_name": "../outside.png", "width": None, "height": None}])
    with pytest.raises(CocoFormatError) as e:
        load_dataset(p)
    assert e.value.problems[0].startswith("image id 0: no width/height")
    assert "file not found" in e.value.problems[0]
    assert "image id 2" in e.value.problems[1] and "outside" in e.value.problems[1]
    assert len(e.value.problems) == 2  # not also "missing or invalid 'width'"


def test_a_mask_without_its_image_gives_its_size(tmp_path):
    doc = {"images": [{"id": 1, "file_name": "gone.png"}], "categories": [{"id": 1, "name": "x"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0}]}
    rle = mask_utils.encode(np.asfortranarray(np.eye(12, 16, dtype=np.uint8)))
    doc["annotations"][0]["segmentation"] = {"size": [12, 16],
                                             "counts": rle["counts"].decode()}
    p = tmp_path / "x.json"
    p.write_text(json.dumps(doc))
    ds = load_dataset(p)
    assert (ds.images[0].width, ds.images[0].height) == (16, 12)
    assert "RLE" in ds.warnings[0]


# ------------------------------------------------------ item 13: two formats in one

def mixed(tmp_path, n_masks=2):
    root = tmp_path / "mixed"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for k in range(n_masks):
        Image.new("L", (20, 16)).save(root / "images" / f"i{k}.png")
        m = np.zeros((16, 20), np.uint8)
        m[2:6, 3:9] = 255
        (root / "masks" / f"i{k}").mkdir(parents=True)
        cv2.imwrite(str(root / "masks" / f"i{k}" / "1_cell.png"), m)
    (root / "labels" / "i0.txt").write_text("0 0.1 0.1 0.5 0.1 0.3 0.5\n")  # the stray
    return root


def test_a_folder_holding_masks_and_a_stray_yolo_label_says_both(tmp_path, capsys):
    root = mixed(tmp_path)
    assert detect(root) == "masks"
    ds = open_path(root)
    assert ds.source_format == "masks" and ds.num_instances() == 2
    note = ds.warnings[0]
    assert "YOLO-seg (1 image(s))" in note and "per-instance mask PNGs (2 image(s))" in note
    assert "--format-in yolo-seg" in note
    out = tmp_path / "o.json"
    assert main.main(["export", str(root), "--out", str(out), "--format-in", "yolo-seg"]) == 0
    assert "as YOLO-seg" in capsys.readouterr().err
    assert len(json.loads(out.read_text())["annotations"]) == 1


def test_a_label_image_and_a_stray_txt_is_read_as_label_images(tmp_path):
    root = tmp_path / "lab"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    Image.new("L", (20, 16)).save(root / "images" / "a.png")
    lab = np.zeros((16, 20), np.uint16)
    lab[1:4, 1:4], lab[8:12, 5:15] = 1, 2
    cv2.imwrite(str(root / "labels" / "a.png"), lab)
    (root / "labels" / "notes.txt").write_text("0 0.1 0.1 0.5 0.1 0.3 0.5\n")
    ds = open_path(root)
    assert ds.source_format == "labels" and ds.num_instances() == 2
    assert "label images" in ds.warnings[0] and "--format-in yolo-seg" in ds.warnings[0]


def test_format_in_names_a_format_the_folder_lacks(tmp_path, capsys):
    root = mixed(tmp_path)
    assert main.main(["export", str(root), "--out", str(tmp_path / "o.json"),
                      "--format-in", "coco"]) == 2
    assert "annotations.json" in capsys.readouterr().err


# ------------------------------------------------------------- item 15: __ignore__

def labelme_doc(shapes):
    return {"version": "5.5.0", "shapes": shapes, "imagePath": "a.png", "imageHeight": 40,
            "imageWidth": 50, "imageData": None, "flags": {}}


def rect(label, x0, y0, x1, y1, **extra):
    return {"label": label, "points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
            "shape_type": "polygon", "group_id": None, "flags": {}, **extra}


def test_labelme_ignore_is_crowd_without_an_ignore_category(tmp_path):
    Image.new("RGB", (50, 40)).save(tmp_path / "a.png")
    shapes = [rect("car", 0, 0, 20, 20), rect("person", 30, 0, 50, 20),
              rect("__ignore__", 28, 2, 45, 18),  # overlaps the person most
              rect("__ignore__", 0, 30, 10, 38, group_id=7), rect("car", 12, 30, 20, 38,
                                                                   group_id=7),
              rect("__ignore__", 40, 30, 48, 38, other_data={"maskloop_class": "truck"})]
    (tmp_path / "a.json").write_text(json.dumps(labelme_doc(shapes)))
    ds = read_labelme(tmp_path)
    names = ds.category_names()
    assert sorted(names.values()) == ["car", "person", "truck"]
    crowd = [(names[i.category_id], i.bbox) for i in ds.images[0].instances if i.iscrowd]
    # labelme's rule: the corners are pixels, the outline drawn in (28..45 is 18 pixels)
    assert crowd == [("person", [28, 2, 18, 17]), ("car", [0, 30, 11, 9]),
                     ("truck", [40, 30, 9, 9])]
    assert not any("__ignore__" in w for w in ds.warnings)


def test_a_labelme_resave_that_nests_maskloop_class_keeps_it(tmp_path):
    src = Dataset([Category(1, "tree"), Category(2, "bush")], image_root=tmp_path)
    Image.new("RGB", (50, 40)).save(tmp_path / "a.png")
    rec = src.add_image("a.png", 50, 40)
    src.add_instance(rec, Instance(1, np.ones((5, 5), bool), (1, 1)))
    src.add_instance(rec, Instance(2, np.ones((6, 6), bool), (30, 20), iscrowd=True))
    write_labelme(src, tmp_path / "lm")
    f = tmp_path / "lm" / "a.json"
    data = json.loads(f.read_text())
    for shape in data["shapes"]:  # what labelme's own save makes of an unknown key
        if "maskloop_class" in shape:
            shape["other_data"] = {"maskloop_class": shape.pop("maskloop_class")}
    f.write_text(json.dumps(data))
    back = read_labelme(f)
    names = back.category_names()
    assert [(names[i.category_id], i.iscrowd) for i in back.images[0].instances] == [
        ("tree", False), ("bush", True)]


# -------------------------------------------------------- item 16: an empty name

@pytest.mark.parametrize("fmt", ["masks", "yolo-seg", "labelme"])
def test_an_empty_class_name_reads_back_empty(tmp_path, fmt):
    src = Dataset([Category(1, ""), Category(2, "x")], image_root=tmp_path)
    Image.new("RGB", (30, 20)).save(tmp_path / "a.png")
    rec = src.add_image("a.png", 30, 20)
    src.add_instance(rec, Instance(1, np.ones((4, 6), bool), (2, 3)))
    src.add_instance(rec, Instance(2, np.ones((5, 5), bool), (20, 10)))
    writer, reader = {"masks": (write_masks, read_masks), "yolo-seg": (write_yolo, read_yolo),
                      "labelme": (write_labelme, read_labelme)}[fmt]
    writer(src, tmp_path / "out")
    back = reader(tmp_path / "out")
    names = back.category_names()
    assert [names[i.category_id] for i in back.images[0].instances] == ["", "x"]


# ------------------------------------------------ item 18: scattered label ids

def scattered(h, w, n):
    return (np.arange(h * w) % n + 1).astype(np.uint16).reshape(h, w)


def peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_scattered_label_ids_cost_their_pixels_not_their_boxes(tmp_path):
    h, w, n = 96, 128, 3000
    roots = {}
    for kind, lab in (("scattered", scattered(h, w, n)),
                      ("compact", np.repeat(np.arange(1, n + 1, dtype=np.uint16),
                                            h * w // n + 1)[:h * w].reshape(h, w))):
        root = tmp_path / kind
        (root / "images").mkdir(parents=True)
        (root / "labels").mkdir()
        Image.new("L", (w, h)).save(root / "images" / "a.png")
        cv2.imwrite(str(root / "labels" / "a.png"), lab)
        roots[kind] = (root, lab)
    got = {}
    peaks = {k: peak_bytes(lambda k=k: got.setdefault(k, read_masks(roots[k][0])))
             for k in roots}
    # the same pixels and ids: the scattered ids' boxes span the image (old: 3000 crops of
    # ~128x63 = 24 MB), their runs do not
    assert peaks["scattered"] < 2 * peaks["compact"] + (1 << 20), peaks
    ds, lab = got["scattered"], roots["scattered"][1]
    insts = ds.images[0].instances
    assert len(insts) == n and all(i.is_lazy for i in insts)
    for k in (0, 1, 1234, n - 1):
        assert np.array_equal(insts[k].full_mask(h, w), lab == k + 1)
        assert insts[k].area == np.count_nonzero(lab == k + 1)


# ------------------------------------------------ item 20: long YOLO label files

def test_a_long_label_file_is_read_without_a_rasterisation_per_line(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    n = 20_000
    c = rng.uniform(0.1, 0.9, (n, 2))
    pts = np.concatenate([c + d for d in ([0, 0], [0.05, 0], [0.02, 0.06])], axis=1)
    lines = [f"{k % 2} " + " ".join(f"{v:.5f}" for v in p) for k, p in enumerate(pts)]
    lines[7] = "0 0.1 nan 0.2 0.2 0.3 0.3"
    root = yolo(tmp_path / "y", lines, size=(200, 160))
    calls = []
    real, fill = mask_utils.frPyObjects, yolo_labels.fill_yolo
    monkeypatch.setattr(mask_utils, "frPyObjects",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(yolo_labels, "fill_yolo", lambda *a, **k: calls.append(1) or fill(*a, **k))
    assert gc.isenabled()
    ds = read_yolo(root)
    assert gc.isenabled()  # the collector's pause while building is put back
    insts = ds.images[0].instances
    assert len(insts) == n - 1 and not calls  # every line parsed at once, none rasterised
    assert all(i.is_lazy for i in insts)
    assert any("line 8:" in w and "NaN" in w for w in ds.warnings)
    for k in (0, 5, 19_990):
        src = k if k < 7 else k + 1
        assert np.array_equal(insts[k].full_mask(160, 200),
                              supervision_mask(lines[src], 160, 200))  # the YOLO rule
        assert insts[k].category_id == src % 2 + 1


def test_a_collector_the_caller_turned_off_stays_off(tmp_path):
    root = yolo(tmp_path / "y", ["0 0.1 0.1 0.9 0.1 0.5 0.9"])
    gc.disable()
    try:
        assert read_yolo(root).num_instances() == 1 and not gc.isenabled()
    finally:
        gc.enable()


def test_a_sliver_is_the_line_the_yolo_tools_draw_and_one_past_the_edge_is_skipped(
        tmp_path):
    lines = ["0 0.1 0.1 0.9 0.1 0.5 0.1001", "0 0.1 0.1 0.9 0.1 0.5 0.9",
             "0 1 0.1 1 0.9 1 0.5"]  # x = 1: the column just right of the image
    ds = read_yolo(yolo(tmp_path / "y", lines))
    sliver, _triangle = ds.images[0].instances
    assert np.array_equal(sliver.full_mask(64, 80), supervision_mask(lines[0], 64, 80))
    assert sliver.area == 65 and sliver.bbox == [8, 6, 65, 1]
    assert any("line 3: the shape draws no pixel inside the image" in w for w in ds.warnings)


@pytest.mark.parametrize("odd", [False, True])  # a non-number: every line read on its own
def test_the_fast_reader_skips_exactly_the_lines_parse_line_refuses(tmp_path, odd):
    from model.formats.yolo_labels import parse_line
    rng = np.random.default_rng(3)
    kinds = ["0 0.1 0.1 0.8 0.1 0.5 0.7", "1 0.5 0.5 0.2 0.3", "", "   ", "2 0.1 0.1 0.5 0.5",
             "0 0.1 1.2 0.8 0.1 0.5 0.7", "0 -0.005 0.1 0.8 0.1 0.5 0.7", "1.5 0.1 0.2 0.3 0.4",
             "0 nan 0.1 0.8 0.1 0.5 0.7", "0 0.1 0.1 0.8", "0 0.1 0.1 0.8 0.1 0.5", "-1 0 0 1 1",
             "1\t0.2  0.2 0.9 0.2\t0.5 0.8\r", "0 0.1 0.1 0.5 0.5 1e-3 0.9"]
    lines = [kinds[k] for k in rng.integers(0, len(kinds), 400)]
    if odd:
        lines[200] = "0 0.1 0.1 0.3 x"
    root = yolo(tmp_path / "y", lines)
    ds = read_yolo(root)
    refused = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                parse_line(line, 2)
            except ValueError:
                refused.append(n)
    said = sorted(int(w.split(", line ")[1].split(":")[0]) for w in ds.warnings
                  if ", line " in w)
    assert said == refused
    assert ds.num_instances() == sum(1 for ln in lines if ln.strip()) - len(refused)
