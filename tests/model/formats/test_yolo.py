"""YOLO-seg: a hand-written label file and data.yaml read as Ultralytics means them, bad
lines skipped with the file and line named; COCO-style data -> YOLO -> back keeps every
non-crowd instance, one line per object; data.yaml's three names forms."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from model.data.annotations import Category, Dataset, Instance
from model.formats.mask_pngs import is_mask_folder
from model.formats.yolo import is_yolo, parse_data_yaml, read_yolo, write_yolo
from model.editing.review import mask_iou
from tests.model.formats.peer_rules import supervision_mask, ultralytics_mask
from tests.model.formats.test_polygon_formats import (UNICODE_CLASS, matched, grey_png,
                                               synthetic_dataset)

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "formats" / "yolo"



@pytest.fixture
def shapes(tmp_path) -> Path:
    root = tmp_path / "shapes"
    shutil.copytree(FIXTURE, root)
    grey_png(root / "images" / "train" / "img1.png", 80, 100)
    grey_png(root / "images" / "val" / "img10.png", 80, 100)
    grey_png(root / "images" / "val" / "img9.png", 80, 100)
    return root


def test_a_hand_written_yolo_dataset_reads_as_ultralytics_means_it(shapes):
    assert is_yolo(shapes) and is_mask_folder(shapes) is None
    ds = read_yolo(shapes)
    assert [(c.id, c.name) for c in ds.categories] == [
        (1, "square"), (2, "triangle: tall"), (3, "café # not a comment")]
    assert [r.file_name for r in ds.images] == [
        "images/train/img1.png", "images/val/img9.png", "images/val/img10.png"]
    rec = ds.images[0]
    assert (rec.width, rec.height) == (100, 80)
    square, triangle, box = rec.instances
    # vertices are pixels, the outline drawn in: x 10..30, y 10..30 is 21 x 21 pixels
    assert square.category_id == 1 and square.area == 441 and square.bbox == [10, 10, 21, 21]
    assert triangle.category_id == 2
    lines = (shapes / "labels" / "train" / "img1.txt").read_text().splitlines()
    for rule in (ultralytics_mask, supervision_mask):
        assert np.array_equal(square.full_mask(80, 100), rule(lines[0], 80, 100))
        assert np.array_equal(triangle.full_mask(80, 100), rule(lines[1], 80, 100))
    assert box.box_only and box.category_id == 3 and box.bbox == [75.0, 32.0, 10.0, 16.0]
    assert not ds.images[1].instances and not ds.images[2].instances
    label = shapes / "labels" / "train" / "img1.txt"
    bad = {n: w for w in ds.warnings for n in range(4, 9) if f"{label}, line {n}:" in w}
    assert sorted(bad) == [4, 5, 6, 7, 8]
    assert "NaN" in bad[4] and "odd" in bad[5] and "out of range" in bad[6]
    assert "not a number" in bad[7] and "outside [0, 1]" in bad[8]
    assert any("without an image" in w and "img2.txt" in w for w in ds.warnings)


@pytest.mark.parametrize("text", [
    "names: [square, 'triangle: tall', \"caf\\u00e9\"]\n",
    "names:\n- square\n- 'triangle: tall'  # a comment\n- café\n",
    "nc: 3\nnames:\n  0: square\n  2: café\n  1: \"triangle: tall\"\n",
    "names: {0: square, 1: 'triangle: tall', 2: café}\n",
])
def test_data_yaml_names_in_every_form_ultralytics_writes(text):
    assert parse_data_yaml(text)["names"] == ["square", "triangle: tall", "café"]


COCO8_SEG = """\
# Ultralytics YOLO, AGPL-3.0 license: the shape of coco8-seg.yaml (not its text)
path: coco8-seg # dataset root dir
train: images/train # train images (relative to 'path') 4 images
val: images/val # val images (relative to 'path') 4 images
test: # test images (optional)

# Classes
names:
  0: person
  1: bicycle

# Download script/URL (optional)
download: |
  from pathlib import Path
  x = {'a': 1}
"""


def test_an_ultralytics_style_yaml_with_a_block_scalar():
    got = parse_data_yaml(COCO8_SEG)
    assert got["names"] == ["person", "bicycle"] and got["val"] == "images/val"
    assert got["test"] is None
    assert got["download"] == "from pathlib import Path\nx = {'a': 1}\n"  # YAML's block scalar


def test_data_yaml_other_keys_and_gaps():
    got = parse_data_yaml("path: /data  # root\ntrain: images/train\nnames:\n  1: b\n")
    assert got == {"path": "/data", "train": "images/train", "names": ["class0", "b"]}
    with pytest.raises(ValueError):
        parse_data_yaml("names: oops\n")


def test_names_from_classes_txt_or_made_up(shapes):
    (shapes / "data.yaml").unlink()
    ds = read_yolo(shapes)  # without names any class index is fine: line 6 has 7
    assert [c.name for c in ds.categories] == [f"class{i}" for i in range(8)]
    assert len(ds.images[0].instances) == 4
    (shapes / "classes.txt").write_text("a\nb\nc\nd\n", encoding="utf-8")
    assert [c.name for c in read_yolo(shapes).categories] == ["a", "b", "c", "d"]


def test_coco_style_data_to_yolo_and_back_keeps_every_non_crowd_instance(tmp_path):
    src = synthetic_dataset(tmp_path)
    out = tmp_path / "yolo"
    report = write_yolo(src, out)
    assert report.instances == 4 and report.polygons == 4 and report.crowd_dropped == 1
    assert report.holes_bridged == 3 and report.worst_iou >= 0.95
    assert "1 crowd region dropped" in report.summary()
    assert is_yolo(out) and is_mask_folder(out) is None
    text = (out / "data.yaml").read_text(encoding="utf-8")
    assert "path:" not in text and 'train: "images"' in text  # relative to data.yaml
    assert parse_data_yaml(text)["names"] == ["ring", UNICODE_CLASS, "crowd"]
    lines = (out / "labels" / "plain.txt").read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == ["0", "1"]  # two-part instance: one line
    assert all(0 <= float(v) <= 1 for ln in lines for v in ln.split()[1:])
    assert (out / "labels" / "plain10.txt").read_text() == ""
    copied = out / "images" / "sub" / "bild_ü_猫.png"
    original = src.image_path(src.images[1])
    assert copied.read_bytes() == original.read_bytes()
    assert os.stat(copied).st_ino == os.stat(original).st_ino  # a hard link on one disk
    back = read_yolo(out)
    assert back.warnings == []
    names, back_names = src.category_names(), back.category_names()
    for a, b in matched(src, back):
        kept = [i for i in a.instances if not i.iscrowd]
        assert len(kept) == len(b.instances)
        for x, y in zip(kept, b.instances):
            assert back_names[y.category_id] == names[x.category_id]
            assert mask_iou(x, y) >= 0.95


def test_split_layout_is_written_and_found(tmp_path):
    root = tmp_path / "src"
    ds = Dataset([Category(1, "dot")], image_root=root)
    for split in ("train", "val"):
        grey_png(root / "images" / split / "a.png", 20, 20)
        rec = ds.add_image(f"images/{split}/a.png", 20, 20)
        m = np.ones((4, 5), bool)
        ds.add_instance(rec, Instance(1, m, (3, 2)))
    write_yolo(ds, tmp_path / "out")
    text = (tmp_path / "out" / "data.yaml").read_text()
    assert 'train: "images/train"' in text and 'val: "images/val"' in text
    assert (tmp_path / "out" / "labels" / "val" / "a.txt").is_file()
    back = read_yolo(tmp_path / "out")
    assert [r.file_name for r in back.images] == ["images/train/a.png", "images/val/a.png"]
    assert all(r.instances[0].bbox == [3, 2, 5, 4] for r in back.images)


def test_roboflow_layout_train_images_is_yolo_too(tmp_path):
    grey_png(tmp_path / "train" / "images" / "x.png", 10, 10)
    (tmp_path / "train" / "labels").mkdir(parents=True)
    (tmp_path / "train" / "labels" / "x.txt").write_text("0 0 0 1 0 1 1 0 1\n")
    assert is_yolo(tmp_path)
    ds = read_yolo(tmp_path)
    assert ds.images[0].instances[0].area == 100 and ds.categories[0].name == "class0"


def test_a_plain_image_folder_or_a_mask_folder_is_not_yolo(tmp_path):
    grey_png(tmp_path / "images" / "a.png", 8, 8)
    (tmp_path / "labels").mkdir()
    assert not is_yolo(tmp_path)  # labels/ without any .txt and no data.yaml
    cv2.imwrite(str(tmp_path / "labels" / "a.png"), np.zeros((8, 8), np.uint16))
    assert not is_yolo(tmp_path)
