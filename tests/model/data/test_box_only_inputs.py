"""Boxes without masks: `segmentation: null` and `{}` read as box-only, as `[]` is (and
written back as they came, so MaskLoop reads its own file again), and `evaluate` on a
truth with such boxes."""
from __future__ import annotations

import json

import pytest

from model.cli.entry import main
from model.data.coco import load_dataset, save_dataset
from model.errors import CocoFormatError

H, W = 64, 80
SQUARE = [[40, 40, 50, 40, 50, 50, 40, 50]]


def coco(tmp_path, seg, with_bbox: bool = True, name: str = "gt.json"):
    box_only = {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                "segmentation": seg, "extra": "kept"}
    if with_bbox:
        box_only.update(bbox=[10, 10, 20, 20], area=400)
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": W, "height": H}],
           "categories": [{"id": 1, "name": "thing"}],
           "annotations": [box_only,
                           {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 0,
                            "bbox": [40, 40, 10, 10], "area": 100, "segmentation": SQUARE}]}
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path, doc


@pytest.mark.parametrize("seg", [None, {}, []], ids=["null", "empty-dict", "empty-list"])
def test_no_mask_is_a_box_and_is_written_back_as_it_came(tmp_path, seg):
    path, doc = coco(tmp_path, seg)
    ds = load_dataset(path)
    box, square = ds.images[0].instances
    assert box.box_only and not square.box_only
    assert box.bbox == [10, 10, 20, 20] and box.mask.size == 0
    out = tmp_path / "saved.json"
    report = save_dataset(ds, out)
    assert report.box_only == 1
    saved = json.loads(out.read_text())["annotations"]
    assert saved[0] == {**doc["annotations"][0]}  # the same segmentation, bbox and extra
    again = load_dataset(out)  # what MaskLoop writes, it reads
    assert again.images[0].instances[0].box_only


@pytest.mark.parametrize("seg", [None, {}])
def test_no_mask_and_no_box_is_refused_naming_the_annotation(tmp_path, seg):
    path, _doc = coco(tmp_path, seg, with_bbox=False)
    with pytest.raises(CocoFormatError) as e:
        load_dataset(path)
    assert e.value.problems == [f"annotation id 1: segmentation {json.dumps(seg)} is no mask, "
                                "and there is no 'bbox' either"]


@pytest.mark.parametrize("seg", [None, {}, []], ids=["null", "empty-dict", "empty-list"])
def test_evaluate_against_a_truth_with_boxes_without_masks(tmp_path, capsys, seg):
    gt, _doc = coco(tmp_path, seg)
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([
        {"image_id": 1, "category_id": 1, "score": 0.9, "segmentation": SQUARE},
        {"image_id": 1, "category_id": 1, "score": 0.8, "bbox": [10, 10, 20, 20]}]))
    assert main(["evaluate", str(gt), str(pred), "--json"]) == 0
    cap = capsys.readouterr()
    metrics = json.loads(cap.out)
    assert metrics["bbox"]["AP50"] == pytest.approx(1.0)
    # one of the two objects has no mask: no predicted mask can match it
    assert 0.0 < metrics["segm"]["AP50"] < 1.0
    assert cap.err == (f"note: {gt} has 1 annotation(s) with a box and no mask: segm AP "
                       "counts them as objects no predicted mask can match\n")
