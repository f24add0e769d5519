import json

import pytest

from model.data.coco import load_dataset
from model.errors import CocoFormatError
from tests.helpers import make_coco


def broken(tmp_path, mutate):
    src = make_coco(tmp_path)
    data = json.loads(src.read_text())
    mutate(data)
    src.write_text(json.dumps(data))
    with pytest.raises(CocoFormatError) as e:
        load_dataset(src)
    assert str(src) in str(e.value)
    return str(e.value)


def test_not_json_and_missing_file(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{not json")
    with pytest.raises(CocoFormatError, match="not valid JSON"):
        load_dataset(p)
    with pytest.raises(CocoFormatError, match="file not found"):
        load_dataset(tmp_path / "nope.json")


def test_missing_top_level_keys(tmp_path):
    msg = broken(tmp_path, lambda d: (d.pop("images"), d.pop("categories")))
    assert "missing top-level key 'images'" in msg and "'categories'" in msg


def test_wrong_types(tmp_path):
    def mutate(d):
        d["annotations"][0]["bbox"] = "wide"
        d["annotations"][1]["segmentation"] = 42
        d["images"][1]["width"] = "80"
    msg = broken(tmp_path, mutate)
    assert "annotation id 4: 'bbox'" in msg
    assert "annotation id 9: segmentation must be" in msg
    assert "image id 5: missing or invalid 'width'" in msg


def test_missing_annotation_keys(tmp_path):
    def mutate(d):
        del d["annotations"][2]["category_id"]
        del d["annotations"][3]["segmentation"]
        del d["annotations"][3]["bbox"]  # a box alone is a box-only annotation; nothing is not
    msg = broken(tmp_path, mutate)
    assert "annotation id 10: missing 'category_id'" in msg
    assert "annotation id 22: missing 'segmentation' (and no 'bbox' either)" in msg


def test_unknown_image_and_category(tmp_path):
    def mutate(d):
        d["annotations"][0]["image_id"] = 99
        d["annotations"][4]["category_id"] = 12
    msg = broken(tmp_path, mutate)
    assert "annotation id 4: image_id 99 is not an image" in msg
    assert "annotation id 23: category_id 12 is not a category" in msg


def test_duplicate_ids(tmp_path):
    def mutate(d):
        d["annotations"][1]["id"] = 4
        d["images"][1]["id"] = 0
        d["categories"][1]["id"] = 0
    msg = broken(tmp_path, mutate)
    assert "annotation id 4 is used 2 times" in msg
    assert "image id 0 is used 2 times" in msg
    assert "category id 0 is used more than once" in msg


def test_mask_size_disagrees_with_image(tmp_path):
    def mutate(d):
        d["annotations"][0]["segmentation"]["size"] = [32, 80]
    msg = broken(tmp_path, mutate)
    assert "annotation id 4: mask size 32x80" in msg and "64x80" in msg


def test_bad_uncompressed_rle_and_polygon(tmp_path):
    def mutate(d):
        d["annotations"][2]["segmentation"]["counts"] = [1, 2, 3]
        d["annotations"][4]["segmentation"] = [[1, 2, 3]]
    msg = broken(tmp_path, mutate)
    assert "annotation id 10: RLE 'counts' sum to 6" in msg
    assert "annotation id 23: polygon 0 has an odd number" in msg


def test_many_problems_are_summarised(tmp_path):
    def mutate(d):
        for i in range(30):
            d["annotations"].append({"id": 100 + i, "image_id": 77, "category_id": 0,
                                     "segmentation": []})
    msg = broken(tmp_path, mutate)
    assert "30 problems" in msg and "and 18 more" in msg
