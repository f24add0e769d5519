"""Export, in process: names derived from file_names (unique, dots kept, short),
references confined to the dataset's folder, a failure mid-write, box-only and empty
segmentations, instances the label images hide, unreadable images, long class names."""
from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

import cv2
import numpy as np
import pytest

import main
import model.formats.mask_pngs as mask_pngs
import model.formats.raster as raster
from model.data.annotations import Category, Dataset, Instance
from model.data.coco import load_dataset
from model.formats.export import export
from model.formats.mask_pngs import write_masks
from model.formats.names import output_names
from model.errors import ImageReadError
from tests.helpers import rle_full, write_image
from tests.model.formats.test_export_confinement import coco, snapshot, square

MANIFEST = ".maskloop-export.json"


# ------------------------------------------------------------------------ names

def test_output_names_are_relative_unique_short_and_keep_every_dot():
    given = ["frame.001.jpg", "frame.002.jpg", "a.b.c.tif", "..dots.png", "dots.png",
             "/tmp/v/photo.png", "../x.png", "sub/../../y.png", "C:\\pics\\z.png", "CON.png",
             "x" * 300 + ".png", unicodedata.normalize("NFD", "é.png"), "é.png",
             "Frame.001.JPG", ".png", "", "a/./b.png", "images/train/c.png", "n.json",
             "tab\there.png", "...", "sub/.hidden/d.png", "trailing. .png"]
    ds = Dataset()
    for n in given:
        ds.add_image(n)
    names = [str(n) for n in output_names(ds).values()]
    assert names[:9] == ["frame.001.jpg", "frame.002.jpg", "a.b.c.tif", "__dots.png",
                         "dots.png", "photo.png", "x.png", "sub/y.png", "z.png"]
    assert names[17] == "train/c.png"
    stems = set()
    for name in names:
        p = Path(name)
        assert not p.is_absolute() and ".." not in p.parts and p.parts
        assert not any(part.startswith(".") or part.endswith((".", " ")) for part in p.parts)
        assert all(len((part + ".json").encode()) <= 255 for part in p.parts)
        assert "\t" not in name and p.stem.upper() != "CON"
        stem = unicodedata.normalize("NFC", str(p.with_suffix(""))).casefold()
        assert stem not in stems, name  # no two on a case-insensitive file system
        stems.add(stem)
    assert [str(n) for n in output_names(ds).values()] == names  # stable


# ------------------------------------------------------------------ confinement

def test_a_coco_file_name_through_a_linked_folder_is_not_copied(tmp_path, capsys):
    (tmp_path / "outside").mkdir()
    write_image(tmp_path / "outside" / "secret.png", 64, 80, seed=7)
    data = coco(tmp_path / "data", ["a.png"])
    (tmp_path / "data" / "link").symlink_to(tmp_path / "outside", target_is_directory=True)
    raw = json.loads(data.read_text())
    raw["images"].append({"id": 2, "file_name": "link/secret.png", "width": 80, "height": 64})
    data.write_text(json.dumps(raw))
    ds = load_dataset(data)
    with pytest.raises(ImageReadError, match="outside"):
        ds.image_path(ds.images[1])
    out = tmp_path / "y"
    assert main.main(["export", str(data), "--out", str(out), "--format", "yolo-seg"]) == 0
    assert "link/secret.png" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "images").rglob("*.png")) == ["a.png"]
    assert main.main(["export", str(data), "--out", str(out), "--format", "yolo-seg",
                      "--follow-symlinks"]) == 0  # asked for: followed
    assert sorted(p.name for p in (out / "images").rglob("*.png")) == ["a.png", "secret.png"]


def test_a_single_labelme_file_pointing_outside_is_refused_naming_file_and_reference(
        tmp_path, capsys):
    (tmp_path / "pics").mkdir()
    write_image(tmp_path / "pics" / "p.png", 64, 80)
    (tmp_path / "ann").mkdir()
    f = tmp_path / "ann" / "p.json"
    f.write_text(json.dumps({"version": "5.5.0", "flags": {}, "imagePath": "../pics/p.png",
                             "imageData": None, "imageHeight": 64, "imageWidth": 80,
                             "shapes": [{"label": "cell", "points": [[1, 1], [20, 1], [20, 20]],
                                         "shape_type": "polygon"}]}))
    out = tmp_path / "o.json"
    assert main.main(["export", str(f), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and str(f) in err and "'../pics/p.png'" in err
    assert not out.exists()
    assert main.main(["export", str(f), "--out", str(out), "--images",
                      str(tmp_path / "pics")]) == 0  # the user named the folder: allowed
    assert len(json.loads(out.read_text())["annotations"]) == 1


@pytest.mark.parametrize("layout", ["yolo-seg", "masks"])
def test_an_image_linked_from_outside_a_yolo_or_mask_folder_is_named_and_not_copied(
        tmp_path, capsys, layout):
    (tmp_path / "outside").mkdir()
    secret = write_image(tmp_path / "outside" / "secret.png", 64, 80, seed=7)
    src = tmp_path / "in"
    if layout == "yolo-seg":
        yolo_folder(src)
        (src / "labels" / "evil.txt").write_text(LABEL)
    else:
        mask_folder(src)
        (src / "masks" / "evil").mkdir()
        cv2.imwrite(str(src / "masks" / "evil" / "001_cell.png"),
                    square(1).astype(np.uint8) * 255)
    (src / "images" / "evil.png").symlink_to(secret)
    out = tmp_path / "out"
    assert main.main(["export", str(src), "--out", str(out), "--format", "masks"]) == 0
    err = capsys.readouterr().err
    assert any("evil.png" in ln and "outside" in ln for ln in err.splitlines())
    assert secret.read_bytes() not in {p.read_bytes() for p in out.rglob("*") if p.is_file()}


# ------------------------------------------------------------- all or nothing

def test_an_error_mid_write_leaves_the_old_export_and_no_temp_folder(tmp_path, monkeypatch):
    data = coco(tmp_path / "data", [f"im{k}.png" for k in range(5)])
    out = tmp_path / "out"
    export(load_dataset(data), out, "masks")
    old = snapshot(out)
    beside = sorted(p.name for p in tmp_path.iterdir())
    calls = []

    def failing(mask):
        calls.append(1)
        if len(calls) == 4:
            raise OSError(28, "No space left on device")
        return raster.mask_png(mask)
    monkeypatch.setattr(mask_pngs, "mask_png", failing)
    changed = load_dataset(data)
    changed.categories[0].name = "other"
    with pytest.raises(OSError, match="No space"):
        export(changed, out, "masks")
    assert snapshot(out) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == beside  # no temp folder left


# ---------------------------------------------------------- box-only (5 and 6)

def box_only_coco(tmp_path: Path) -> Path:
    write_image(tmp_path / "a.png", 64, 80)
    m = square(1)
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": rle_full(m),
             "area": float(m.sum()), "bbox": [11.0, 9.0, 20.0, 12.0], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [40.0, 30.0, 10.0, 8.0],
             "area": 80.0, "iscrowd": 0},  # a detection: no segmentation
            {"id": 3, "image_id": 1, "category_id": 1, "segmentation": [],
             "bbox": [50.0, 40.0, 3.0, 2.0], "area": 6.0, "iscrowd": 0}]  # supervision's tiny one
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": 80,
                                            "height": 64}], "annotations": anns,
                                "categories": [{"id": 1, "name": "cell"}]}))
    return path


@pytest.mark.parametrize("fmt", ["coco-rle", "coco-polygon", "coco-polygon-only"])
def test_box_only_and_empty_segmentations_stay_boxes_and_are_counted(tmp_path, capsys, fmt):
    path = box_only_coco(tmp_path)
    out = tmp_path / "out.json"
    assert main.main(["export", str(path), "--out", str(out), "--format", fmt]) == 0
    said = capsys.readouterr().out
    assert "2 box-only" in said or "box-only: 2" in said
    if fmt != "coco-polygon-only":
        assert "round trip: 1/1 masks pixel-identical" in said  # the boxes are not masks
    anns = {a["id"]: a for a in json.loads(out.read_text())["annotations"]}
    assert set(anns) == {1, 2, 3}
    assert "segmentation" not in anns[2] and anns[3]["segmentation"] == []  # as they came
    assert anns[2]["bbox"] == [40.0, 30.0, 10.0, 8.0] and anns[3]["area"] == 6.0
    back = load_dataset(out)
    assert [i.box_only for _r, i in back.instances()] == [False, True, True]


# ------------------------------------------------------------- label images (12)

def test_the_report_names_instances_the_label_images_hide(tmp_path):
    write_image(tmp_path / "a.png", 64, 80)
    ds = Dataset([Category(1, "cell")], image_root=tmp_path)
    rec = ds.add_image("a.png", 80, 64)
    small, big = np.zeros((64, 80), bool), np.zeros((64, 80), bool)
    small[10:20, 10:20] = True
    big[5:30, 5:30] = True
    ds.add_instance(rec, Instance(1, small))  # #1, under #2 entirely
    ds.add_instance(rec, Instance(1, big))
    report = write_masks(ds, tmp_path / "m")
    assert report.hidden == [f"a.png #1 (id {rec.instances[0].id}, cell)"]
    text = report.summary()
    assert "1 instance entirely covered" in text and "a.png #1" in text and "masks/" in text
    labels = cv2.imread(str(tmp_path / "m" / "labels" / "a.png"), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(labels)) == {0, 2}
    assert len(list((tmp_path / "m" / "masks" / "a").iterdir())) == 2  # masks/ keeps both


# ---------------------------------------------------------- unreadable images (14)

LABEL = "0 0.1 0.1 0.5 0.1 0.5 0.5\n"


def yolo_folder(root: Path) -> None:
    for d in ("images", "labels"):
        (root / d).mkdir(parents=True)
    write_image(root / "images" / "a.png", 64, 80)
    (root / "images" / "bad.png").write_bytes(b"")
    (root / "images" / "junk.png").write_bytes(b"not an image")
    for n in ("a", "bad"):
        (root / "labels" / f"{n}.txt").write_text(LABEL)


def mask_folder(root: Path) -> None:
    for d in ("images", "masks/a", "masks/bad"):
        (root / d).mkdir(parents=True)
    write_image(root / "images" / "a.png", 64, 80)
    (root / "images" / "bad.png").write_bytes(b"\x89PNG broken")
    for n in ("a", "bad"):
        cv2.imwrite(str(root / "masks" / n / "001_cell.png"), square(1).astype(np.uint8) * 255)


def labelme_folder(root: Path) -> None:
    root.mkdir(parents=True)
    write_image(root / "a.png", 64, 80)
    (root / "bad.png").write_bytes(b"junk")
    (root / "a.json").write_text(json.dumps({
        "version": "5.5.0", "flags": {}, "imagePath": "a.png", "imageData": None,
        "imageHeight": 64, "imageWidth": 80,
        "shapes": [{"label": "cell", "points": [[1, 1], [20, 1], [20, 20]],
                    "shape_type": "polygon"}]}))


def image_folder(root: Path) -> None:
    root.mkdir(parents=True)
    write_image(root / "a.png", 64, 80)
    (root / "bad.png").write_bytes(b"junk")


@pytest.mark.parametrize("make", [yolo_folder, mask_folder, labelme_folder, image_folder])
@pytest.mark.parametrize("fmt", ["masks", "coco-rle"])
def test_an_unreadable_image_is_skipped_counted_and_the_rest_written(tmp_path, capsys, make,
                                                                     fmt):
    make(tmp_path / "in")
    out = tmp_path / ("out.json" if fmt.startswith("coco") else "out")
    assert main.main(["export", str(tmp_path / "in"), "--out", str(out), "--format", fmt]) == 0
    cap = capsys.readouterr()
    skipped = [ln for ln in cap.err.splitlines() if "bad.png: skipped" in ln]
    assert skipped and skipped[0].startswith("warning:")
    assert "skipped " in cap.out and "image(s) that cannot be read" in cap.out
    back = tmp_path / "back.json"
    assert main.main(["export", str(out), "--out", str(back)]) == 0
    images = json.loads(back.read_text())["images"]
    assert [Path(i["file_name"]).name for i in images] == ["a.png"]


def test_nothing_readable_is_a_failure_that_writes_nothing(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.png").write_bytes(b"junk")
    out = tmp_path / "out"
    assert main.main(["export", str(tmp_path / "in"), "--out", str(out), "--format",
                      "masks"]) == 1
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("error:") and "bad.png" in err and "nothing was written" in err
    assert not out.exists()


# --------------------------------------------------------- long class names (22)

def test_class_names_too_long_for_a_file_name_are_shortened_stably_and_read_back(
        tmp_path, capsys):
    long_names = ["c" * 300, "é" * 200, "c" * 300 + "x", "%" * 100 + "tail" * 30]
    data = coco(tmp_path / "data", ["a.png", "b.png", "c.png", "d.png"])
    raw = json.loads(data.read_text())
    raw["categories"] = [{"id": k, "name": n} for k, n in enumerate(long_names, 1)]
    for k, ann in enumerate(raw["annotations"], 1):
        ann["category_id"] = k
    data.write_text(json.dumps(raw))
    out = tmp_path / "m"
    assert main.main(["export", str(data), "--out", str(out), "--format", "masks"]) == 0
    files = [p for p in out.rglob("*")]
    assert all(len(p.name.encode()) <= 255 for p in files)
    first = sorted(str(p.relative_to(out)) for p in files if p.name != MANIFEST)
    assert len({p.name for p in out.glob("masks/*/*.png")}) == 4  # still told apart
    assert main.main(["export", str(data), "--out", str(tmp_path / "m2"), "--format",
                      "masks"]) == 0
    assert sorted(str(p.relative_to(tmp_path / "m2")) for p in (tmp_path / "m2").rglob("*")
                  if p.name != MANIFEST) == first  # stable
    back = tmp_path / "back.json"
    assert main.main(["export", str(out), "--out", str(back)]) == 0
    assert sorted(c["name"] for c in json.loads(back.read_text())["categories"]) == \
        sorted(long_names)
    assert os.path.isfile(out / "classes.csv")
