"""What other tools' files hold, said when it is read (issue 28): crowd flags that mark
ordinary objects (item 15), a Label Studio export whose unlabelled images are not on disk
(item 17), and label images that hold fewer instances than their classes.csv lists
(item 18)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import main
from model.data import masks as M
from model.data.annotations import Category, Dataset, Instance
from model.data.coco import load_dataset
from model.errors import CocoFormatError
from model.formats.crowd import brush_crowds, crowd_sign
from model.formats.mask_pngs import read_masks, write_masks
from tests.helpers import make_coco, ring, two_parts

H, W = 64, 80


def png(path: Path, h: int = H, w: int = W) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 90, np.uint8))
    return path


def uncompressed(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE (counts a list, column-major), as COCO's own crowd regions
    and supervision's mask_to_rle write it."""
    return {"size": [H, W], "counts": M.rle_counts_from_crop(*M.tight_crop(mask), H, W)}


def square(x: int, y: int, side: int = 8) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y:y + side, x:x + side] = True
    return m


# ------------------------------------------------------- item 15: crowd regions that are objects

def supervision_coco(tmp_path: Path, old: bool = False, origin: bool = True) -> Path:
    """What supervision's DetectionDataset.as_coco writes (save_coco_annotations): `info`
    empty, every class `common-objects`, crowd (uncompressed RLE) for every object with a
    hole or several parts, one polygon for the rest. 0.31 writes iscrowd 1 and the mask's
    area; `old` versions wrote iscrowd true/false and the box's area. Without `origin`,
    the file's info and supercategories are another tool's."""
    png(tmp_path / "a.png")
    objects = [(ring(H, W, 20, 20, 12, 5), True), (two_parts(H, W), True),
               (square(60, 40), False)]
    anns = []
    for k, (mask, crowd) in enumerate(objects, 1):
        ys, xs = np.nonzero(mask)
        x0, y0, x1, y1 = float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())
        seg = uncompressed(mask) if crowd else [[x0, y0, x1, y0, x1, y1, x0, y1]]
        anns.append({"id": k, "image_id": 1, "category_id": 1 + k % 2,
                     "bbox": [x0, y0, x1 - x0, y1 - y0], "segmentation": seg,
                     "area": (x1 - x0) * (y1 - y0) if old else float(mask.sum()),
                     "iscrowd": crowd if old else int(crowd)})
    supercategory = "common-objects" if origin else "shape"
    doc = {"info": {} if origin else {"description": "shapes"},
           "licenses": [{"id": 1, "url": "https://creativecommons.org/licenses/by/4.0/",
                         "name": "CC BY 4.0"}],
           "categories": [{"id": 1, "name": "cell", "supercategory": supercategory},
                          {"id": 2, "name": "blob", "supercategory": supercategory}],
           "images": [{"id": 1, "license": 1, "file_name": "a.png", "height": H, "width": W,
                       "date_captured": "01/02/2026,10:00:00"}],
           "annotations": anns}
    p = tmp_path / "supervision.json"
    p.write_text(json.dumps(doc))
    return p


def plain_coco(tmp_path: Path, crowd: list[tuple[int, int, object]]) -> Path:
    """One ordinary instance per image, and crowd regions (image id, category id,
    segmentation) with `iscrowd: 1`."""
    png(tmp_path / "a.png")
    png(tmp_path / "b.png")
    anns = [{"id": k, "image_id": k, "category_id": 1, "iscrowd": 0, "area": 64.0,
             "bbox": [2.0, 2.0, 8.0, 8.0], "segmentation": uncompressed(square(2, 2))}
            for k in (1, 2)]
    for k, (image, cat, seg) in enumerate(crowd, 3):
        anns.append({"id": k, "image_id": image, "category_id": cat, "iscrowd": 1,
                     "area": 64.0, "bbox": [0.0, 0.0, 1.0, 1.0], "segmentation": seg})
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": W, "height": H},
                      {"id": 2, "file_name": "b.png", "width": W, "height": H}],
           "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "car"}],
           "annotations": anns}
    p = tmp_path / "c.json"
    p.write_text(json.dumps(doc))
    return p


def test_supervisions_crowd_flags_are_said_once_with_crowd_as_instances(tmp_path, capsys):
    src = supervision_coco(tmp_path)
    ds = load_dataset(src)
    assert [i.iscrowd for _r, i in ds.instances()] == [True, True, False]
    assert "supervision's as_coco" in crowd_sign(ds) and len(brush_crowds(ds)) == 2
    out = tmp_path / "o.json"
    assert main.main(["export", str(src), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    (note,) = [line for line in err.splitlines() if line.startswith("note:")]
    assert note.startswith("note: 2 crowd region(s) (iscrowd: 1) look like ordinary "
                           "instances: the file is supervision's as_coco output")
    assert note.endswith("--crowd-as-instances treats them as ordinary instances")
    assert main.main(["export", str(src), "--out", str(out), "--crowd-as-instances"]) == 0
    assert "note:" not in capsys.readouterr().err
    assert [a["iscrowd"] for a in json.loads(out.read_text())["annotations"]] == [0, 0, 0]


def test_older_supervisions_signs_are_read_from_the_annotations(tmp_path):
    """iscrowd as true/false, and a crowd region's area its box's: signs of their own,
    whatever the file's info says."""
    why = crowd_sign(load_dataset(supervision_coco(tmp_path, old=True, origin=False)))
    assert why.startswith("the file writes iscrowd as true/false")
    src = supervision_coco(tmp_path, old=True, origin=False)
    doc = json.loads(src.read_text())
    for a in doc["annotations"]:
        a["iscrowd"] = int(a["iscrowd"])
    src.write_text(json.dumps(doc))
    assert crowd_sign(load_dataset(src)).startswith("their area is their box's")
    # the same file with the masks' areas: crowd regions as COCO keeps them
    assert crowd_sign(load_dataset(supervision_coco(tmp_path, origin=False))) is None


@pytest.mark.parametrize("crowd, why", [
    ([(1, 1, [[0, 0, 9, 0, 9, 9, 0, 9]])], "1 of them are polygons"),
    ([(1, 1, uncompressed(square(30, 30))), (1, 1, uncompressed(square(50, 30)))],
     "1 image(s) hold several crowd regions of one class")])
def test_crowd_regions_unlike_cocos_are_said(tmp_path, capsys, crowd, why):
    src = plain_coco(tmp_path, crowd)
    assert why in crowd_sign(load_dataset(src))
    assert main.main(["export", str(src), "--out", str(tmp_path / "o.json")]) == 0
    err = capsys.readouterr().err
    assert err.count("note:") == 1 and why in err and "--crowd-as-instances" in err


def test_crowd_regions_as_coco_keeps_them_are_not_questioned(tmp_path, capsys):
    """One RLE crowd region per class and image (two classes, two images): what COCO has."""
    src = plain_coco(tmp_path, [(1, 1, uncompressed(square(30, 30))),
                                (1, 2, uncompressed(square(50, 30))),
                                (2, 1, uncompressed(square(30, 30)))])
    assert crowd_sign(load_dataset(src)) is None
    assert crowd_sign(load_dataset(make_coco(tmp_path))) is None
    assert main.main(["export", str(src), "--out", str(tmp_path / "o.json")]) == 0
    assert "note:" not in capsys.readouterr().err


# --------------------------------------------- item 17: Label Studio's JSON-only COCO export

def label_studio_json_only(tmp_path: Path, labelled: int = 2, unlabelled: int = 5) -> Path:
    """Label Studio's COCO export without its images: labelled images carry their size
    (from the annotation results), unlabelled ones none, and the files are elsewhere."""
    images, anns = [], []
    for k in range(labelled + unlabelled):
        img = {"id": k, "file_name": f"images/{k:02d}-photo.jpg"}
        if k < labelled:
            img.update(width=W, height=H)
            anns.append({"id": k + 1, "image_id": k, "category_id": 0, "iscrowd": 0,
                         "bbox": [1, 1, 5, 5], "area": 25,
                         "segmentation": [[1, 1, 6, 1, 6, 6, 1, 6]], "ignore": 0})
        images.append(img)
    doc = {"images": images, "categories": [{"id": 0, "name": "cat"}], "annotations": anns,
           "info": {"year": 2026, "version": "1.0", "description": "",
                    "contributor": "Label Studio", "url": "", "date_created": ""}}
    p = tmp_path / "result.json"
    p.write_text(json.dumps(doc))
    return p


def test_label_studio_unlabelled_images_not_on_disk_are_left_out_and_counted(tmp_path,
                                                                             capsys):
    src = label_studio_json_only(tmp_path)
    ds = load_dataset(src)
    assert [r.file_name for r in ds.images] == ["images/00-photo.jpg", "images/01-photo.jpg"]
    assert ds.num_instances() == 2
    (said,) = ds.warnings
    assert said.startswith("5 image(s) have no width/height and their files cannot be read, "
                           "so they are left out with their 0 annotation(s)")
    assert "images/02-photo.jpg: file not found" in said and "and 2 more" in said
    assert "05-photo" not in said  # a few names, not all
    out = tmp_path / "o.json"
    assert main.main(["export", str(src), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "5 image(s)" in err
    data = json.loads(out.read_text())
    assert len(data["images"]) == 2 and len(data["annotations"]) == 2


def test_an_image_without_size_or_file_leaves_with_its_annotations(tmp_path):
    """An image some annotation points at but no size resolves for (polygons give no
    size) is left out with them, and counted."""
    src = label_studio_json_only(tmp_path, labelled=2, unlabelled=1)
    doc = json.loads(src.read_text())
    del doc["images"][1]["width"], doc["images"][1]["height"]
    src.write_text(json.dumps(doc))
    ds = load_dataset(src)
    assert [r.id for r in ds.images] == [0] and ds.num_instances() == 1
    assert "2 image(s)" in ds.warnings[0] and "with their 1 annotation(s)" in ds.warnings[0]


def test_when_no_image_resolves_the_file_is_refused(tmp_path, capsys):
    src = label_studio_json_only(tmp_path, labelled=0, unlabelled=3)
    with pytest.raises(CocoFormatError, match="no width/height"):
        load_dataset(src)
    assert main.main(["export", str(src), "--out", str(tmp_path / "o.json")]) == 2


# ------------------------------------------- item 18: label images that hide instances

def covered(tmp_path: Path, n_small: int = 7) -> Dataset:
    """One image: n_small squares, then one big square that covers them all."""
    png(tmp_path / "src" / "a.png")
    ds = Dataset([Category(1, "cell"), Category(2, "blob")], image_root=tmp_path / "src")
    rec = ds.add_image("a.png", W, H)
    for k in range(n_small):
        ds.add_instance(rec, Instance(1, square(4 + 6 * k, 10, 4)))
    big = np.zeros((H, W), bool)
    big[5:20, 0:W] = True
    ds.add_instance(rec, Instance(2, big))
    return ds


def test_the_masks_export_lists_every_hidden_instance_in_its_report_file(tmp_path):
    ds = covered(tmp_path)
    out = tmp_path / "m"
    report = write_masks(ds, out)
    text = report.summary()
    assert "7 instances entirely covered by later ones" in text
    assert "hidden_in_label_images.csv lists them all" in text and "and 2 more" in text
    with open(out / "hidden_in_label_images.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    ids = [i.id for i in ds.images[0].instances]
    assert [(r["image"], int(r["label"]), r["class"], int(r["annotation_id"])) for r in rows] \
        == [("a", k, "cell", ids[k - 1]) for k in range(1, 8)]
    assert all((out / r["mask"]).is_file() for r in rows)  # the mask that keeps it
    manifest = json.loads((out / ".maskloop-export.json").read_text())
    assert "hidden_in_label_images.csv" in manifest["files"]
    # nothing hidden: no such file
    report = write_masks(covered(tmp_path / "none", 0), tmp_path / "m2")
    assert not report.hidden and not (tmp_path / "m2" / "hidden_in_label_images.csv").exists()


def test_reading_label_images_says_what_classes_csv_lists_beyond_them(tmp_path, capsys):
    ds = covered(tmp_path)
    out = tmp_path / "m"
    write_masks(ds, out)
    assert not any("classes.csv" in w for w in read_masks(out).warnings)  # masks/: all 8
    back = read_masks(out, "labels")
    assert back.num_instances() == 1
    (said,) = [w for w in back.warnings if "classes.csv" in w]
    assert said.startswith(f"{out / 'classes.csv'} lists 8 instance(s) by image, but the label "
                           "images hold 1 of them: 7 are in no label image (masks/ beside "
                           "them holds every instance: --format-in masks reads it): "
                           "a #1 (cell), a #2 (cell)")
    assert said.endswith("and 2 more")
    assert main.main(["export", str(out), "--format-in", "labels",
                      "--out", str(tmp_path / "o.json")]) == 0
    assert "lists 8 instance(s) by image" in capsys.readouterr().err


def test_a_napari_table_for_every_image_is_not_a_list_of_instances(tmp_path):
    """`label,class` rows name classes by id for every image: nothing to count."""
    root = tmp_path / "d"
    png(root / "images" / "a.png")
    lab = np.zeros((H, W), np.uint16)
    lab[2:8, 3:9] = 3
    (root / "labels").mkdir()
    cv2.imwrite(str(root / "labels" / "a.png"), lab)
    (root / "classes.csv").write_text("label,class\n3,cell\n4,debris\n")
    assert read_masks(root).warnings == []


def test_an_unhashable_image_id_beside_a_sizeless_image_is_an_error_not_a_traceback(tmp_path,
                                                                                   capsys):
    src = label_studio_json_only(tmp_path, labelled=1, unlabelled=1)
    doc = json.loads(src.read_text())
    doc["annotations"][0]["image_id"] = [0]
    src.write_text(json.dumps(doc))
    assert main.main(["export", str(src), "--out", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {src}: invalid COCO file") and "image_id [0]" in err
