"""Other tools' dataset folders (issue 28, item 16): the COCO file inside CVAT's, Datumaro's
and MMDetection's COCO layouts is found and read with its images; CVAT XML, Pascal VOC,
Cityscapes and Datumaro JSON folders are named in an error (exit 2) instead of being read
as images without annotations."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import main
from model.data.images import read_size
from model.errors import FormatError
from model.formats.sources import open_path

H, W = 32, 40


def png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((H, W, 3), 90, np.uint8))
    return path


def coco_doc(names: list[str]) -> dict:
    return {"images": [{"id": k, "file_name": n, "width": W, "height": H}
                       for k, n in enumerate(names, 1)],
            "categories": [{"id": 1, "name": "cell"}],
            "annotations": [{"id": k, "image_id": k, "category_id": 1, "iscrowd": 0,
                             "bbox": [2, 2, 10, 10], "area": 100,
                             "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]]}
                            for k in range(1, len(names) + 1)]}


def coco_layout(root: Path, images: str = "images/default", subset: str = "default",
                n: int = 3) -> Path:
    """CVAT's COCO 1.0 export (Datumaro's coco): annotations/instances_<subset>.json,
    the images under `images`."""
    names = [f"frame_{k:06d}.png" for k in range(n)]
    for name in names:
        png(root / images / name)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / f"instances_{subset}.json").write_text(json.dumps(coco_doc(names)))
    return root


@pytest.mark.parametrize("images", ["images/default", "images", "default"])
def test_the_coco_file_of_a_cvat_or_datumaro_folder_is_read_with_its_images(tmp_path, images,
                                                                            capsys):
    d = coco_layout(tmp_path / "task", images)
    ds = open_path(d)
    assert ds.source_format == "coco" and ds.num_instances() == 3
    assert ds.path == d / "annotations" / "instances_default.json"
    assert ds.image_root == d / images
    assert all(read_size(ds.image_path(r)) == (W, H) for r in ds.images)
    out = tmp_path / "o"
    assert main.main(["export", str(d), "--out", str(out), "--format", "yolo-seg"]) == 0
    assert len(list((out / "images").iterdir())) == 3
    assert len(list((out / "labels").iterdir())) == 3
    err = capsys.readouterr().err
    assert f"read {d} as COCO ({d / 'annotations' / 'instances_default.json'}): 3 image(s), " \
           "3 instance(s)" in err
    assert "warning" not in err


def test_the_layouts_json_opened_on_its_own_finds_its_images(tmp_path):
    d = coco_layout(tmp_path / "task")
    ds = open_path(d / "annotations" / "instances_default.json")
    assert ds.image_root == d / "images" / "default"
    assert read_size(ds.image_path(ds.images[0])) == (W, H)
    # --images still decides
    ds = open_path(d / "annotations" / "instances_default.json", image_root=tmp_path)
    assert ds.image_root == tmp_path


def test_a_layout_without_its_images_reads_its_annotations(tmp_path):
    d = coco_layout(tmp_path / "task")
    for p in (d / "images" / "default").iterdir():
        p.unlink()
    ds = open_path(d)
    assert ds.num_instances() == 3 and ds.image_root == d / "images" / "default"


def test_a_folder_with_several_subsets_names_them(tmp_path, capsys):
    d = coco_layout(tmp_path / "task", "images/train", "train")
    coco_layout(d, "images/val", "val")
    with pytest.raises(FormatError, match="instances_train.json, annotations/instances_val"):
        open_path(d)
    assert main.main(["export", str(d), "--out", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {d}: holds 2 COCO files") and "open one of them" in err
    ds = open_path(d / "annotations" / "instances_val.json")
    assert ds.image_root == d / "images" / "val" and ds.num_instances() == 3


def cvat_xml(d: Path) -> Path:
    png(d / "images" / "a.png")
    (d / "annotations.xml").write_text('<?xml version="1.0" encoding="utf-8"?>\n<annotations>'
                                       '<version>1.1</version><image id="0" name="a.png" '
                                       'width="40" height="32"><polygon label="cell" '
                                       'points="2,2;12,2;12,12"/></image></annotations>')
    return d / "annotations.xml"


def voc_instances(d: Path) -> Path:
    png(d / "JPEGImages" / "a.jpg")
    png(d / "SegmentationObject" / "a.png")
    png(d / "SegmentationClass" / "a.png")
    return d / "SegmentationObject"


def cityscapes(d: Path) -> Path:
    png(d / "leftImg8bit" / "train" / "aachen" / "aachen_000000_000019_leftImg8bit.png")
    png(d / "gtFine" / "train" / "aachen" / "aachen_000000_000019_gtFine_instanceIds.png")
    return d / "gtFine"


def datumaro_json(d: Path) -> Path:
    png(d / "images" / "default" / "a.png")
    (d / "annotations").mkdir(parents=True)
    p = d / "annotations" / "default.json"
    p.write_text(json.dumps({"dm_format_version": "1.0", "infos": {}, "categories": {},
                             "items": [{"id": "a", "annotations": []}]}))
    return p


def voc_in_devkit(d: Path) -> Path:
    return voc_instances(d / "VOCdevkit" / "VOC2012")


def voc_boxes(d: Path) -> Path:
    png(d / "JPEGImages" / "a.jpg")
    (d / "Annotations").mkdir(parents=True)
    (d / "Annotations" / "a.xml").write_text("<annotation><object><name>cat</name></object>"
                                             "</annotation>")
    return d / "Annotations"


@pytest.mark.parametrize("make, what", [
    (cvat_xml, "CVAT XML"), (voc_instances, "Pascal VOC instance segmentation"),
    (voc_in_devkit, "Pascal VOC instance segmentation"), (cityscapes, "Cityscapes"),
    (datumaro_json, "Datumaro JSON"), (voc_boxes, "Pascal VOC")])
def test_layouts_maskloop_does_not_read_are_named_not_read_as_bare_images(tmp_path, capsys,
                                                                         make, what):
    d = tmp_path / "export"
    marker = make(d)
    out = tmp_path / "o.json"
    assert main.main(["export", str(d), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {marker}: a {what} dataset, which MaskLoop does not read")
    assert "datum convert" in err and "--format-in images" in err
    assert err.count("\n") == 1 and not out.exists()
    # what the message offers works: the images alone
    assert main.main(["export", str(d), "--out", str(out), "--format-in", "images"]) == 0
    assert len(json.loads(out.read_text())["images"]) >= 1


def test_a_plain_image_folder_is_still_images(tmp_path):
    png(tmp_path / "shots" / "a.png")
    png(tmp_path / "shots" / "sub" / "b.png")
    (tmp_path / "shots" / "notes.xml").write_text("<notes/>")
    ds = open_path(tmp_path / "shots")
    assert ds.source_format == "images" and len(ds.images) == 2 and ds.warnings == []
