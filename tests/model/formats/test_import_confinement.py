"""Every file an importer opens stays inside the dataset's folder unless --follow-symlinks
(issue 28, items 13 and 20): images, and the annotation files too. A symbolic link that
leads out (to a file, or a linked folder) is refused with one warning naming the link,
and read when the flag is given; every reader takes the flag."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import main
from model.data.images import read_size
from model.formats import registry
from model.formats.sources import open_path

H, W = 32, 40
SECRET_LINES = ["root:x:0:0:root:/root:/bin/bash", "daemon:x:1:1:daemon:/usr/sbin:/bin/sh"]
POLY = "0 0.1 0.1 0.5 0.1 0.5 0.5\n"


def png(path: Path, value: int = 90, dtype=np.uint8, array: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), array if array is not None else np.full((H, W), value, dtype))
    return path


def square() -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[4:12, 5:15] = 255
    return m


def link(at: Path, target: Path) -> Path:
    at.parent.mkdir(parents=True, exist_ok=True)
    at.symlink_to(target, target_is_directory=target.is_dir())
    return at


def links_out(warnings: list[str], name: Path) -> list[str]:
    return [w for w in warnings if w.startswith(f"{name}: a symbolic link to")
            and "outside" in w and "--follow-symlinks" in w]


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder outside every dataset, holding what a link may lead to."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "passwd").write_text("\n".join(SECRET_LINES) + "\n")
    return out


def yolo(root: Path) -> Path:
    png(root / "images" / "a.png")
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "a.txt").write_text(POLY)
    return root


# ------------------------------------------------------------------ item 20: YOLO

def test_the_issue_repro_passwd_as_classes_txt_never_reaches_data_yaml(tmp_path, outside,
                                                                       capsys):
    y = yolo(tmp_path / "y")
    link(y / "classes.txt", outside / "passwd")
    out = tmp_path / "o"
    assert main.main(["export", str(y), "--out", str(out), "--format", "yolo-seg"]) == 0
    text = (out / "data.yaml").read_text()
    assert "root:x" not in text and "daemon" not in text and '0: "class0"' in text
    err = capsys.readouterr().err
    assert err.count(f"{y / 'classes.txt'}: a symbolic link to a file outside {y}") == 1
    assert "--follow-symlinks reads it" in err
    # asked for: the link is followed
    assert main.main(["export", str(y), "--out", str(out), "--format", "yolo-seg",
                      "--follow-symlinks"]) == 0
    assert "root:x:0:0" in (out / "data.yaml").read_text()


@pytest.mark.parametrize("names_file", ["data.yaml", "classes.txt", "labels/classes.txt"])
def test_a_yolo_names_file_behind_a_link_is_not_read(tmp_path, outside, names_file):
    y = yolo(tmp_path / "y")
    (outside / "names").write_text("names: [secret]\n" if names_file.endswith("yaml")
                                   else "secret\n")
    link(y / names_file, outside / "names")
    ds = open_path(y)
    assert [c.name for c in ds.categories] == ["class0"]
    assert len(links_out(ds.warnings, y / names_file)) == 1
    assert [c.name for c in open_path(y, follow_symlinks=True).categories] == ["secret"]


def test_a_yolo_label_file_behind_a_link_is_not_read(tmp_path, outside):
    y = yolo(tmp_path / "y")
    (outside / "b.txt").write_text(POLY)
    png(y / "images" / "b.png")
    link(y / "labels" / "b.txt", outside / "b.txt")
    ds = open_path(y)
    assert [len(r.instances) for r in ds.images] == [1, 0]
    assert len(links_out(ds.warnings, y / "labels" / "b.txt")) == 1
    assert not any("without an image" in w for w in ds.warnings)
    assert [len(r.instances) for r in open_path(y, follow_symlinks=True).images] == [1, 1]


def test_a_linked_yolo_labels_folder_is_said_once_not_once_a_file(tmp_path, outside):
    y = tmp_path / "y"
    for k in range(5):
        png(y / "images" / f"i{k}.png")
        (outside / "labels").mkdir(exist_ok=True)
        (outside / "labels" / f"i{k}.txt").write_text(POLY)
    (outside / "labels" / "classes.txt").write_text("secret\n")
    link(y / "labels", outside / "labels")
    ds = open_path(y)
    assert ds.source_format == "yolo-seg" and ds.num_instances() == 0
    assert [c.name for c in ds.categories] == []
    said = [w for w in ds.warnings if str(y / "labels") in w and "symbolic link" in w]
    assert len(said) == 1 and "a folder outside" in said[0] and "nothing in it" in said[0]
    ds = open_path(y, follow_symlinks=True)
    assert ds.num_instances() == 5 and [c.name for c in ds.categories] == ["secret"]


# ---------------------------------------------------------- item 20: mask PNGs, label images

def masks_folder(root: Path) -> Path:
    png(root / "images" / "a.png")
    png(root / "masks" / "a" / "001_cell.png", array=square())
    return root


@pytest.mark.parametrize("linked", ["masks/a/002_cell.png", "masks/b", "masks"])
def test_mask_files_and_mask_folders_behind_links_are_not_read(tmp_path, outside, linked):
    d = masks_folder(tmp_path / "d")
    png(d / "images" / "b.png")
    theirs = outside / "theirs"
    png(theirs / "001_cell.png", array=square())  # a folder of masks, outside
    if linked == "masks/a/002_cell.png":
        target, before, after = theirs / "001_cell.png", [1, 0], [2, 0]
    elif linked == "masks/b":
        target, before, after = theirs, [1, 0], [1, 1]
    else:  # the whole masks/ folder: masks/a/ and masks/b/ outside
        (d / "masks").rename(outside / "masks")
        png(outside / "masks" / "b" / "001_cell.png", array=square())
        target, before, after = outside / "masks", [0, 0], [1, 1]
    link(d / linked, target)
    ds = open_path(d, format_in="masks")
    assert [len(r.instances) for r in ds.images] == before
    assert len(links_out(ds.warnings, d / linked)) == 1
    assert [len(r.instances) for r in open_path(d, format_in="masks",
                                                follow_symlinks=True).images] == after


def label_folder(root: Path) -> Path:
    png(root / "images" / "a.png")
    lab = np.zeros((H, W), np.uint16)
    lab[4:12, 5:15] = 3
    png(root / "labels" / "a.png", array=lab)
    return root


def test_a_label_image_behind_a_link_is_not_read(tmp_path, outside):
    d = label_folder(tmp_path / "d")
    png(d / "images" / "b.png")
    lab = np.zeros((H, W), np.uint16)
    lab[20:30, 20:30] = 9
    link(d / "labels" / "b.png", png(outside / "b.png", array=lab))
    ds = open_path(d)
    assert ds.source_format == "labels" and [len(r.instances) for r in ds.images] == [1, 0]
    assert len(links_out(ds.warnings, d / "labels" / "b.png")) == 1
    assert [len(r.instances) for r in open_path(d, follow_symlinks=True).images] == [1, 1]


def test_a_classes_csv_behind_a_link_is_not_read(tmp_path, outside):
    d = label_folder(tmp_path / "d")
    (outside / "classes.csv").write_text("label,class\n3,secret\n")
    link(d / "classes.csv", outside / "classes.csv")
    ds = open_path(d)
    assert [c.name for c in ds.categories] == ["object"]
    assert len(links_out(ds.warnings, d / "classes.csv")) == 1
    assert [c.name for c in open_path(d, follow_symlinks=True).categories] == ["secret"]


def test_a_linked_images_folder_of_a_mask_folder_is_said_once(tmp_path, outside):
    d = tmp_path / "d"
    for k in range(3):
        png(outside / "imgs" / f"i{k}.png")
        png(d / "masks" / f"i{k}" / "001_cell.png", array=square())
    link(d / "images", outside / "imgs")
    ds = open_path(d)
    assert ds.images == []
    assert len([w for w in ds.warnings if "symbolic link" in w]) == 1
    assert len(links_out(ds.warnings, d / "images")) == 1
    assert open_path(d, follow_symlinks=True).num_instances() == 3


# ----------------------------------------------------------- item 20: labelme, COCO

def labelme_json(path: Path, image: str = "a.png") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "version": "5.5.0", "imagePath": image, "imageHeight": H, "imageWidth": W,
        "imageData": None, "flags": {},
        "shapes": [{"label": "cell", "points": [[2, 2], [20, 2], [10, 15]],
                    "shape_type": "polygon", "group_id": None, "flags": {}}]}))
    return path


def test_a_labelme_json_behind_a_link_is_not_read(tmp_path, outside):
    d = tmp_path / "d"
    png(d / "a.png")
    labelme_json(d / "a.json")
    png(d / "b.png")
    link(d / "b.json", labelme_json(outside / "b.json", "b.png"))
    ds = open_path(d)
    assert ds.source_format == "labelme"
    assert [(r.file_name, len(r.instances)) for r in ds.images] == [("a.png", 1), ("b.png", 0)]
    assert len(links_out(ds.warnings, d / "b.json")) == 1
    assert [len(r.instances) for r in open_path(d, follow_symlinks=True).images] == [1, 1]


def test_a_folder_whose_only_labelme_json_is_a_link_out_says_so(tmp_path, outside):
    d = tmp_path / "d"
    png(d / "b.png")
    link(d / "b.json", labelme_json(outside / "b.json", "b.png"))
    ds = open_path(d)
    assert ds.source_format == "images" and ds.num_instances() == 0
    assert len(links_out(ds.warnings, d / "b.json")) == 1
    assert open_path(d, follow_symlinks=True).num_instances() == 1


def coco_doc(file_name: str = "a.png") -> dict:
    return {"images": [{"id": 1, "file_name": file_name, "width": W, "height": H}],
            "categories": [{"id": 1, "name": "secret"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                             "bbox": [2, 2, 10, 10], "area": 100,
                             "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]]}]}


@pytest.mark.parametrize("where", ["annotations.json", "annotations/instances_default.json"])
def test_a_folder_coco_file_behind_a_link_is_not_read(tmp_path, outside, where):
    d = tmp_path / "d"
    png(d / "images" / "default" / "a.png")
    (outside / "x.json").write_text(json.dumps(coco_doc()))
    link(d / where, outside / "x.json")
    ds = open_path(d)
    assert ds.num_instances() == 0 and "secret" not in [c.name for c in ds.categories]
    assert len(links_out(ds.warnings, d / where)) == 1
    ds = open_path(d, follow_symlinks=True)
    assert ds.num_instances() == 1


# ------------------------------------------------------- item 13: every reader takes the flag

def one_linked_image(root: Path, fmt: str, target: Path) -> Path:
    """A dataset of format `fmt` whose one image is a link to `target`, outside it, with
    one instance on it."""
    image = {"images": "a.png", "labelme": "a.png", "coco": "a.png"}.get(fmt, "images/a.png")
    link(root / image, target)
    if fmt == "coco":
        (root / "annotations.json").write_text(json.dumps(coco_doc()))
    elif fmt == "labelme":
        labelme_json(root / "a.json")
    elif fmt == "yolo-seg":
        (root / "labels").mkdir()
        (root / "labels" / "a.txt").write_text(POLY)
    elif fmt == "masks":
        png(root / "masks" / "a" / "001_cell.png", array=square())
    elif fmt == "labels":
        png(root / "labels" / "a.png", array=square() // 255)
    return root


@pytest.mark.parametrize("fmt", [f.name for f in registry.readers()])  # a new one too
def test_every_reader_honours_follow_symlinks(tmp_path, outside, fmt):
    target = png(outside / "photo.png")
    d = one_linked_image(tmp_path / "d", fmt, target)
    ds = open_path(d, format_in=fmt)
    rec = ds.images[0] if ds.images else None
    if rec is not None:
        with pytest.raises(Exception, match="--follow-symlinks"):
            read_size(ds.image_path(rec))
    assert any("--follow-symlinks" in w for w in ds.warnings) or fmt in ("coco", "images")
    ds = open_path(d, format_in=fmt, follow_symlinks=True)
    (rec,) = ds.images
    assert read_size(ds.image_path(rec)) == (W, H)
    assert len(rec.instances) == (0 if fmt == "images" else 1)
    assert not any("--follow-symlinks" in w for w in ds.warnings)


def test_yolo_with_follow_symlinks_reads_and_exports_a_linked_image(tmp_path, outside,
                                                                   capsys):
    """The issue's repro: 1 image, 0 annotations, exit 0 and a warning that still
    offered --follow-symlinks, with the flag given."""
    d = one_linked_image(tmp_path / "d", "yolo-seg", png(outside / "photo.png"))
    out = tmp_path / "o.json"
    assert main.main(["export", str(d), "--out", str(out), "--follow-symlinks"]) == 0
    err = capsys.readouterr().err
    assert "1 image(s), 1 instance(s)" in err and "--follow-symlinks" not in err
    assert len(json.loads(out.read_text())["annotations"]) == 1
