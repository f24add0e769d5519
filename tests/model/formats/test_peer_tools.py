"""MaskLoop's YOLO-seg and labelme files with the real peer tools (issue 28, items 11 and
12): Ultralytics, supervision and labelme each read what MaskLoop writes pixel for
pixel, and MaskLoop reads what they write as they read it; Ultralytics' own dataset
checker accepts an export that was moved. Each test is skipped where its tool is not
installed (the project does not depend on them); test_formats_peers.py checks the same
by the rules they document, everywhere.

To run them: a separate venv with ultralytics, supervision and labelme besides the
project's dependencies (bench/formats_fidelity.py says how).
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from model.formats.labelme import read_labelme, write_labelme
from model.formats.yolo import read_yolo, write_yolo
from tests.model.formats.peer_rules import iou, yolo_line_coords
from tests.model.formats.test_peers import H, SHAPES, W, shapes_dataset, truth


@pytest.fixture(scope="module")
def ultralytics(tmp_path_factory):
    """Ultralytics, its settings kept in a temporary folder (it writes them on import)."""
    saved = os.environ.get("YOLO_CONFIG_DIR")
    os.environ["YOLO_CONFIG_DIR"] = str(tmp_path_factory.mktemp("ultralytics"))
    try:
        yield pytest.importorskip("ultralytics.data.utils")
    finally:
        if saved is None:
            os.environ.pop("YOLO_CONFIG_DIR", None)
        else:
            os.environ["YOLO_CONFIG_DIR"] = saved


@pytest.mark.parametrize("tolerance", [0.0, 0.5])
def test_ultralytics_polygon2mask_reads_the_yolo_export_pixel_for_pixel(
        tmp_path, ultralytics, tolerance):
    write_yolo(shapes_dataset(tmp_path), tmp_path / "y", tolerance)
    lines = (tmp_path / "y" / "labels" / "a.txt").read_text().splitlines()
    for (name, crop, offset), line in zip(SHAPES, lines):
        pts = yolo_line_coords(line) * np.array([W, H], np.float32)  # as its loader scales
        got = ultralytics.polygon2mask((H, W), [pts.reshape(-1)]).astype(bool)
        want = truth(crop, offset)
        if name == "two parts":  # one line an object: the bridge is drawn
            assert not (want & ~got).any() and np.count_nonzero(got & ~want) == 6
        else:
            assert np.array_equal(got, want), name


def test_ultralytics_checks_a_moved_yolo_export(tmp_path, ultralytics, monkeypatch):
    out = tmp_path / "first" / "export"
    write_yolo(shapes_dataset(tmp_path), out)
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(out, moved)
    shutil.rmtree(tmp_path / "first")
    monkeypatch.chdir(tmp_path)
    data = ultralytics.check_det_dataset(str(moved / "data.yaml"), autodownload=False)
    assert data["train"] == data["val"] == str((moved / "images").resolve())
    assert data["names"] == {0: "thing"} and data["nc"] == 1


def supervision_dataset(sv, root):
    return sv.DetectionDataset.from_yolo(images_directory_path=str(root / "images"),
                                         annotations_directory_path=str(root / "labels"),
                                         data_yaml_path=str(root / "data.yaml"),
                                         force_masks=True)


@pytest.mark.parametrize("tolerance", [0.0, 0.5])
def test_supervision_reads_the_yolo_export_pixel_for_pixel(tmp_path, tolerance):
    sv = pytest.importorskip("supervision")
    write_yolo(shapes_dataset(tmp_path), tmp_path / "y", tolerance)
    _path, _image, det = supervision_dataset(sv, tmp_path / "y")[0]
    assert len(det) == len(SHAPES)
    for (name, crop, offset), got in zip(SHAPES, det.mask):
        want = truth(crop, offset)
        if name == "two parts":
            assert not (want & ~got).any() and np.count_nonzero(got & ~want) == 6
        else:
            assert np.array_equal(got, want), name


def test_what_supervision_writes_maskloop_reads_as_supervision_reads_it(tmp_path):
    sv = pytest.importorskip("supervision")
    cv2 = pytest.importorskip("cv2")
    image = tmp_path / "src" / "a.png"
    image.parent.mkdir()
    cv2.imwrite(str(image), np.full((H, W, 3), 90, np.uint8))
    masks = np.stack([truth(c, o) for name, c, o in SHAPES if name in ("2x2", "3x3", "20x20")])
    det = sv.Detections(xyxy=np.array([[*np.argwhere(m)[:, ::-1].min(0),
                                        *np.argwhere(m)[:, ::-1].max(0) + 1] for m in masks],
                                      np.float32),
                        mask=masks, class_id=np.zeros(len(masks), int))
    ds = sv.DetectionDataset(classes=["thing"], images=[str(image)],
                             annotations={str(image): det})
    out = tmp_path / "sv"
    ds.as_yolo(images_directory_path=str(out / "images"),
               annotations_directory_path=str(out / "labels"),
               data_yaml_path=str(out / "data.yaml"))
    own = supervision_dataset(sv, out)[0][2].mask  # supervision's own round trip
    got = [i.full_mask(H, W) for i in read_yolo(out).images[0].instances]
    assert len(got) == len(own) == len(masks)
    for mine, theirs, want in zip(got, own, masks):
        assert np.array_equal(mine, theirs)
        assert np.array_equal(mine, want)  # its 20x20 was read as 19x19, its 2x2 as 1 px


@pytest.mark.parametrize("tolerance", [0.0, 0.5])
def test_labelme_shape_to_mask_reads_the_labelme_export_pixel_for_pixel(tmp_path, tolerance):
    utils = pytest.importorskip("labelme.utils")
    write_labelme(shapes_dataset(tmp_path), tmp_path / "lm", tolerance)
    data = json.loads((tmp_path / "lm" / "a.json").read_text())
    groups: dict = {}
    for k, shape in enumerate(data["shapes"]):
        key = shape["group_id"] if shape["group_id"] is not None else f"alone {k}"
        m = utils.shape_to_mask((H, W), shape["points"], shape["shape_type"])
        groups[key] = groups[key] | m if key in groups else m
    assert len(groups) == len(SHAPES)
    for (name, crop, offset), got in zip(SHAPES, groups.values()):
        assert np.array_equal(got, truth(crop, offset)), name


def test_maskloop_reads_labelme_shapes_as_labelme_does(tmp_path):
    utils = pytest.importorskip("labelme.utils")
    cv2 = pytest.importorskip("cv2")
    cv2.imwrite(str(tmp_path / "a.png"), np.full((H, W, 3), 90, np.uint8))
    rng = np.random.default_rng(5)
    shapes = []
    for k in range(30):  # points anywhere, as a person clicks them
        kind = ("polygon", "rectangle", "circle")[k % 3]
        n = rng.integers(3, 9) if kind == "polygon" else 2
        c = rng.uniform(8, 56, 2)
        pts = (c + rng.uniform(-7, 7, (n, 2))).round(2).tolist()
        shapes.append({"label": f"s{k}", "points": pts, "shape_type": kind,
                       "group_id": None, "flags": {}})
    doc = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": "a.png",
           "imageData": None, "imageHeight": H, "imageWidth": W}
    (tmp_path / "a.json").write_text(json.dumps(doc))
    got = read_labelme(tmp_path / "a.json").images[0].instances
    assert len(got) == len(shapes)
    for shape, inst in zip(shapes, got):
        want = utils.shape_to_mask((H, W), shape["points"], shape["shape_type"])
        assert iou(inst.full_mask(H, W), want) == 1.0, shape
