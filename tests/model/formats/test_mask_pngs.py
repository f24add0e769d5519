"""Mask PNGs (layout A) and label images (layout B): COCO-style data -> masks -> back is
pixel-identical, crowd included; label images of non-overlapping instances too; 16-bit
ids, class tables, awkward class names, size mismatches and layout detection."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from model.data.annotations import Category, Dataset, Instance
from model.formats.mask_pngs import (is_mask_folder, parse_mask_name, read_masks, safe_class,
                                     write_masks)
from tests.model.formats.test_polygon_formats import UNICODE_CLASS, matched, synthetic_dataset


def same_pixels(a: Instance, b: Instance, h: int, w: int) -> bool:
    return np.array_equal(a.full_mask(h, w), b.full_mask(h, w))


def check_identical(src: Dataset, back: Dataset, keep_crowd: bool = True) -> None:
    names, back_names = src.category_names(), back.category_names()
    for a, b in matched(src, back):
        kept = [i for i in a.instances if keep_crowd or not i.iscrowd]
        assert len(kept) == len(b.instances), a.file_name
        for x, y in zip(kept, b.instances):
            assert back_names[y.category_id] == names[x.category_id]
            assert y.iscrowd == x.iscrowd
            assert same_pixels(x, y, a.height, a.width), (a.file_name, names[x.category_id])


def test_coco_style_data_to_mask_pngs_and_back_is_pixel_identical(tmp_path):
    src = synthetic_dataset(tmp_path)
    out = tmp_path / "m"
    report = write_masks(src, out)
    assert (report.images, report.instances, report.crowd, report.overlaps) == (3, 5, 1, 0)
    folder = out / "masks" / "plain"
    assert sorted(p.name for p in folder.iterdir()) == [
        "001_ring.png", f"002_{safe_class(UNICODE_CLASS)}.png", "003_crowd__crowd.png"]
    assert (out / "masks" / "sub" / "bild_ü_猫").is_dir()
    png = cv2.imread(str(folder / "001_ring.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint8 and png.shape == (96, 112) and set(np.unique(png)) == {0, 255}
    assert is_mask_folder(out) == "masks"
    back = read_masks(out)
    assert back.warnings == [] and back.source_format == "masks"
    assert [r.file_name for r in back.images] == [
        "images/plain.png", "images/plain10.png", "images/sub/bild_ü_猫.png"]
    check_identical(src, back)


def test_label_images_alone_give_the_same_instances_without_crowd(tmp_path):
    src = synthetic_dataset(tmp_path)
    out = tmp_path / "m"
    write_masks(src, out)
    labels = cv2.imread(str(out / "labels" / "plain.png"), cv2.IMREAD_UNCHANGED)
    assert labels.dtype == np.uint16 and set(np.unique(labels)) == {0, 1, 2}
    with open(out / "classes.csv", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["image", "label", "class"] and ["plain", "2", UNICODE_CLASS] in rows
    shutil.rmtree(out / "masks")
    assert is_mask_folder(out) == "labels"
    back = read_masks(out)
    assert back.source_format == "labels" and back.warnings == []
    check_identical(src, back, keep_crowd=False)


def test_overlaps_go_to_the_later_instance_and_are_counted(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((20, 20, 3), np.uint8))
    ds = Dataset([Category(1, "x")], image_root=tmp_path)
    rec = ds.add_image("a.png", 20, 20)
    ds.add_instance(rec, Instance(1, np.ones((10, 10), bool), (0, 0)))
    ds.add_instance(rec, Instance(1, np.ones((10, 10), bool), (5, 5)))
    report = write_masks(ds, tmp_path / "out")
    assert report.overlaps == 25 and "25 pixels claimed" in report.summary()
    labels = cv2.imread(str(tmp_path / "out" / "labels" / "a.png"), cv2.IMREAD_UNCHANGED)
    assert labels[7, 7] == 2 and labels[2, 2] == 1
    back = read_masks(tmp_path / "out")  # masks/ keeps both whole
    assert [i.area for i in back.images[0].instances] == [100, 100]


def test_a_re_export_leaves_no_stale_masks(tmp_path):
    src = synthetic_dataset(tmp_path)
    write_masks(src, tmp_path / "m")
    src.images[0].instances.pop(0)
    write_masks(src, tmp_path / "m")
    assert len(read_masks(tmp_path / "m").images[0].instances) == 2


@pytest.mark.parametrize("name", ["cell", "a_b_c", "x/y\\z:w*?", "100%", "猫 cat",
                                  "ends__crowd", "tab\tname", ""])
def test_class_names_survive_the_file_name(name):
    encoded = safe_class(name)
    assert not set(encoded) & set('/\\:*?"<>|\t')
    n, back, crowd = parse_mask_name(f"012_{encoded}")
    assert (n, back, crowd) == (12, name, False)  # an empty name stays empty (issue 18)
    assert parse_mask_name(f"3_{encoded}__crowd") == (3, name, True)
    assert parse_mask_name("mask") is None


def napari_folder(tmp_path: Path, table: str | None) -> Path:
    """A Cellpose/napari-style folder: 16-bit label TIFFs with ids past 255."""
    (tmp_path / "images").mkdir(parents=True)
    (tmp_path / "labels").mkdir()
    for name in ("cells2", "cells10"):
        cv2.imwrite(str(tmp_path / "images" / f"{name}.png"), np.zeros((30, 40), np.uint8))
    lab = np.zeros((30, 40), np.uint16)
    lab[2:8, 3:9] = 300
    lab[10:20, 10:30] = 1000
    lab[25:28, 0:2] = 7
    cv2.imwrite(str(tmp_path / "labels" / "cells10.tif"), lab)
    if table is not None:
        (tmp_path / "classes.csv").write_text(table, encoding="utf-8")
    return tmp_path


def test_16_bit_label_images_with_a_per_image_class_table(tmp_path):
    root = napari_folder(tmp_path, "image,label,class\ncells10,1000,nucleus\ncells10,7,débris\n")
    assert is_mask_folder(root) == "labels"
    ds = read_masks(root)
    assert [r.file_name for r in ds.images] == ["images/cells2.png", "images/cells10.png"]
    assert not ds.images[0].instances
    names = ds.category_names()
    got = [(names[i.category_id], i.bbox, i.area) for i in ds.images[1].instances]
    assert got == [("débris", [0, 25, 2, 3], 6), ("object", [3, 2, 6, 6], 36),
                   ("nucleus", [10, 10, 20, 10], 200)]


def test_a_table_for_all_images_and_none_at_all(tmp_path):
    root = napari_folder(tmp_path / "a", "label,class\n300,cell\n")
    names = read_masks(root).category_names()
    assert sorted(names.values()) == ["cell", "object"]
    root = napari_folder(tmp_path / "b", None)
    assert list(read_masks(root).category_names().values()) == ["object"]


def test_a_mask_of_another_size_is_skipped_naming_both_files(tmp_path):
    (tmp_path / "masks" / "a").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((20, 20, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "masks" / "a" / "1_x.png"), np.full((10, 20), 255, np.uint8))
    cv2.imwrite(str(tmp_path / "masks" / "a" / "2_y.png"), np.full((20, 20), 255, np.uint8))
    ds = read_masks(tmp_path)  # images right in the root
    assert [r.file_name for r in ds.images] == ["a.png"]
    assert [ds.category_names()[i.category_id] for i in ds.images[0].instances] == ["y"]
    (warning,) = ds.warnings
    assert str(tmp_path / "masks" / "a" / "1_x.png") in warning
    assert str(tmp_path / "a.png") in warning


def test_layout_detection(tmp_path):
    assert is_mask_folder(tmp_path) is None
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0 0 1 0 1 1\n")
    cv2.imwrite(str(tmp_path / "labels" / "b.png"), np.zeros((4, 4), np.uint8))
    assert is_mask_folder(tmp_path) is None  # a YOLO folder's labels/


def test_unusable_label_images_and_table_rows_are_named(tmp_path):
    root = napari_folder(tmp_path, "label,class\nseven,cell\n7,cell\n")
    bad = np.zeros((30, 40), np.float32)
    bad[0, 0] = np.nan
    cv2.imwrite(str(root / "labels" / "cells2.tif"), bad)
    ds = read_masks(root)
    assert not ds.images[0].instances and len(ds.images[1].instances) == 3
    assert any("cells2.tif" in w and "whole numbers" in w for w in ds.warnings)
    assert any("classes.csv, line 2" in w and "'seven'" in w for w in ds.warnings)
