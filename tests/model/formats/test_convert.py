"""`main.py export` as a converter: COCO -> each format -> COCO keeps every instance;
formats are told from the files; CVAT/Datumaro crowd masks; polygon-only COCO."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

import main
from model.data.coco import load_dataset
from model.formats.crowd import brush_crowds, datumaro_style
from model.formats.detect import detect
from model.editing.review import mask_iou
from model.formats.sources import open_path
from tests.helpers import make_coco


def instances(ds) -> dict:
    """(image file, ordinal) -> instance, for comparing datasets whose ids differ."""
    out = {}
    for rec in ds.images:
        for k, inst in enumerate(i for i in rec.instances if not i.iscrowd):
            out[(Path(rec.file_name).name, k)] = inst
    return out


@pytest.fixture
def coco(tmp_path) -> Path:
    return make_coco(tmp_path)


@pytest.mark.parametrize("fmt", ["yolo-seg", "labelme", "masks", "coco-polygon-only"])
def test_coco_to_each_format_and_back_keeps_every_instance(coco, tmp_path, fmt, capsys):
    src = load_dataset(coco)
    out = tmp_path / ("out.json" if fmt.startswith("coco") else "out")
    assert main.main(["export", str(coco), "--out", str(out), "--format", fmt]) == 0
    said = capsys.readouterr().out
    back_json = tmp_path / "back.json"
    assert main.main(["export", str(out), "--out", str(back_json)]) == 0
    err = capsys.readouterr().err
    if not fmt.startswith("coco"):
        assert "read " in err and "as " in err  # the format is named
    back = load_dataset(back_json)
    a, b = instances(src), instances(back)
    assert set(a) == set(b)
    names = {c.id: c.name for c in src.categories}
    back_names = {c.id: c.name for c in back.categories}
    for key, inst in a.items():
        got = b[key]
        assert back_names[got.category_id] == names[inst.category_id]
        iou = mask_iou(inst, got)
        if fmt == "masks":
            assert iou == 1.0, key  # pixel-identical
        else:  # a two-part object is one YOLO line: its readers draw the bridge (20 px)
            assert iou >= (0.94 if fmt == "yolo-seg" else 0.95), (key, iou)
    if fmt != "masks":
        assert "mean mask IoU" in said and "bridged" in said


def test_polygon_only_has_no_rle_bridges_holes_and_loads_everywhere(coco, tmp_path, capsys):
    out = tmp_path / "poly.json"
    assert main.main(["export", str(coco), "--out", str(out), "--format",
                      "coco-polygon-only"]) == 0
    said = capsys.readouterr().out
    assert "1 crowd" in said and "1 hole" in said  # make_coco: a ring and a crowd region
    data = json.loads(out.read_text())
    assert all(isinstance(a["segmentation"], list) and a["iscrowd"] == 0
               for a in data["annotations"])
    coco_api = COCO(str(out))
    src = load_dataset(coco)
    ring = next(i for _r, i in src.instances() if i.id == 4)
    got = coco_api.annToMask(coco_api.loadAnns([4])[0]).astype(bool)
    truth = ring.full_mask(64, 80)
    assert not got[30, 30] and truth[30, 30] == got[30, 30]  # the hole stays a hole
    assert (got & truth).sum() / (got | truth).sum() >= 0.95
    # the extra keys of an annotation survive
    assert next(a for a in data["annotations"] if a["id"] == 4)["attributes"] == \
        {"occluded": True}


def datumaro_file(tmp_path: Path) -> Path:
    """What CVAT's COCO 1.0 export writes: every annotation with attributes, brush masks
    as crowd RLE beside polygons, Datumaro's empty info."""
    from tests.helpers import write_image
    write_image(tmp_path / "f.png", 64, 80)
    m = np.zeros((64, 80), np.uint8, order="F")
    m[10:30, 10:40] = 1
    rle = mask_utils.encode(m)
    rle["counts"] = rle["counts"].decode()
    data = {"licenses": [{"name": "", "id": 0, "url": ""}],
            "info": {"contributor": "", "date_created": "", "description": "", "url": "",
                     "version": "", "year": ""},
            "categories": [{"id": 1, "name": "cell", "supercategory": ""}],
            "images": [{"id": 1, "width": 80, "height": 64, "file_name": "f.png", "license": 0,
                        "flickr_url": "", "coco_url": "", "date_captured": 0}],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 1, "segmentation": rle,
                 "area": 600.0, "bbox": [10, 10, 30, 20], "iscrowd": 1,
                 "attributes": {"occluded": False}},
                {"id": 2, "image_id": 1, "category_id": 1,
                 "segmentation": [[50, 40, 70, 40, 70, 60, 50, 60]], "area": 400.0,
                 "bbox": [50, 40, 20, 20], "iscrowd": 0, "attributes": {"occluded": False}}]}
    path = tmp_path / "cvat.json"
    path.write_text(json.dumps(data))
    return path


def test_datumaro_crowd_masks_are_recognised_and_made_instances(tmp_path, capsys):
    path = datumaro_file(tmp_path)
    ds = load_dataset(path)
    assert datumaro_style(ds) and [i.id for _r, i in brush_crowds(ds)] == [1]
    assert brush_crowds(load_dataset(make_coco(tmp_path))) == []  # real crowd regions stay
    out = tmp_path / "o.json"
    assert main.main(["export", str(path), "--out", str(out)]) == 0
    assert "--crowd-as-instances" in capsys.readouterr().err
    assert json.loads(out.read_text())["annotations"][0]["iscrowd"] == 1
    assert main.main(["export", str(path), "--out", str(out), "--crowd-as-instances"]) == 0
    anns = json.loads(out.read_text())["annotations"]
    assert [a["iscrowd"] for a in anns] == [0, 0]
    assert anns[0]["segmentation"] == json.loads(path.read_text())["annotations"][0][
        "segmentation"]  # the mask itself is untouched
    ds = open_path(path, crowd_as_instances=True)
    assert not any(i.iscrowd for _r, i in ds.instances())


def test_formats_are_told_from_the_files(coco, tmp_path, capsys):
    assert detect(coco) == "coco" and open_path(coco).source_format == "coco"
    for fmt in ("yolo-seg", "labelme", "masks"):
        out = tmp_path / fmt
        assert main.main(["export", str(coco), "--out", str(out), "--format", fmt]) == 0
        assert detect(out) == fmt
        assert open_path(out).source_format == fmt
    (tmp_path / "plain").mkdir()
    assert detect(tmp_path / "plain") == "images"
    # a JSON that is neither says so, and names the formats MaskLoop does open
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"something": []}))
    assert main.main(["export", str(odd), "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert str(odd) in err and "labelme" in err and "COCO" in err


def test_export_refuses_a_file_for_a_folder_format_and_the_reverse(coco, tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert main.main(["export", str(coco), "--out", str(f), "--format", "yolo-seg"]) == 2
    assert main.main(["export", str(coco), "--out", str(tmp_path), "--format",
                      "coco-polygon-only"]) == 2
    assert f.read_text() == "x"
