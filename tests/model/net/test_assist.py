"""Model-assisted drawing's core: the model's own heads on a user's box, the
low-threshold candidates for a click, and the classical fallbacks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from model.net import assist as A
from model.net.predictor import Predictor
from model.editing.review import mask_iou
from model.data.annotations import Instance
from tests.helpers import disc


@pytest.fixture(scope="module")
def predictor():
    torch.manual_seed(0)
    return Predictor(weights="none", device="cpu", score_threshold=0.0, min_size=96,
                     max_size=128)


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    img[disc(96, 128, 60, 40, 20)] = (250, 240, 30)
    return img


@torch.inference_mode()
def test_heads_on_a_box_equal_the_models_own_mask_head(predictor, image):
    feats = A.compute_features(predictor, image)
    model = predictor.model
    proposals, _ = model.rpn(feats.batch, feats.maps)
    det = model.roi_heads(feats.maps, proposals, feats.batch.image_sizes)[0][0]
    assert len(det["boxes"]) > 0
    probs, labels, _scores = A.heads(predictor, feats, det["boxes"], det["labels"].tolist())
    assert labels == det["labels"].tolist()
    assert torch.equal(probs, det["masks"])  # the same RoIs through the same head: identical


def test_box_masks_stay_inside_the_box_and_use_a_known_class(predictor, image):
    feats = A.compute_features(predictor, image)
    box = (40.0, 20.0, 82.0, 61.0)
    (bm,) = A.box_masks(predictor, feats, [box], [1])  # COCO label 1: person
    assert bm.category_id == 1 and 0.0 <= bm.score <= 1.0
    if bm.mask.size:
        x, y = bm.offset
        assert x >= 40 and y >= 20 and x + bm.mask.shape[1] <= 82 and y + bm.mask.shape[0] <= 61
    (free,) = A.box_masks(predictor, feats, [box])  # no class given: the box head's best
    assert free.category_id is not None


def test_candidates_cover_clicks_best_first(predictor, image):
    feats = A.compute_features(predictor, image)
    cands = A.candidates(predictor, feats, score_floor=0.0, max_detections=50)
    assert cands and all(c.source == "model" and c.review == "unreviewed" for c in cands)
    scores = [c.score for c in cands]
    assert scores == sorted(scores, reverse=True)
    c0 = cands[0]
    ys, xs = np.nonzero(c0.mask)
    x, y = int(xs[0]) + c0.offset[0], int(ys[0]) + c0.offset[1]
    hits = A.covering(cands, x, y)
    assert hits[0].score == max(c.score for c in hits) and c0 in hits
    assert A.covering(cands, -5, -5) == []


def test_the_predictors_assist_interface_uses_cached_features(predictor, image):
    """The app's assist jobs call these methods on whatever predictor is loaded (the
    tests' fake offers the same ones), never reach into assist's internals."""
    assert predictor.supports_assist and predictor.knows_class(1) and \
        not predictor.knows_class(None)
    cache = A.FeatureCache()
    box = (40.0, 20.0, 82.0, 61.0)
    (bm,) = predictor.assist_boxes(image, "img", [box], [1], cache)
    feats = A.compute_features(predictor, image)
    (direct,) = A.box_masks(predictor, feats, [box], [1])
    assert np.array_equal(bm.mask, direct.mask) and bm.offset == direct.offset
    assert predictor.assist_candidates(image, "img", cache)
    assert len(cache._items) == 1  # one image, its features computed once


def test_classical_fallbacks_find_an_object_in_its_box():
    img = np.full((80, 100, 3), 30, np.uint8)
    obj = disc(80, 100, 50, 40, 18)
    img[obj] = (220, 200, 40)
    truth = Instance(1, obj)
    box = (28.0, 18.0, 73.0, 63.0)
    cut = Instance(1, *A.grabcut(img, box))
    assert mask_iou(cut, truth) > 0.85
    tight = tuple(float(v) for v in (truth.bbox[0], truth.bbox[1], truth.bbox[0] + truth.bbox[2],
                                     truth.bbox[1] + truth.bbox[3]))
    ell = Instance(1, *A.ellipse(tight, 100, 80))
    assert mask_iou(ell, truth) > 0.9
    fill = Instance(1, *A.box_fill(box, 100, 80))
    assert fill.mask.all() and fill.offset == (28, 18) and fill.mask.shape == (45, 45)
    assert A.box_fill((-5, -5, -1, -1), 100, 80)[0].size == 0
    assert A.classical_mask(img, box)[0].any()


def test_from_boxes_fills_box_only_annotations_and_keeps_every_field(tmp_path, capsys):
    import json

    import main
    from model.data.coco import load_dataset
    from tests.helpers import write_image
    img = np.full((64, 80, 3), 40, np.uint8)
    img[disc(64, 80, 30, 30, 12)] = (230, 210, 50)
    (tmp_path / "i").mkdir()
    from PIL import Image
    Image.fromarray(img).save(tmp_path / "i" / "a.png")
    write_image(tmp_path / "i" / "b.png", 64, 80)
    doc = {"info": {"x": 1}, "images": [
        {"id": 3, "file_name": "i/a.png", "width": 80, "height": 64, "extra": "kept"},
        {"id": 4, "file_name": "i/b.png", "width": 80, "height": 64}],
        "annotations": [
            {"id": 11, "image_id": 3, "category_id": 1, "bbox": [16, 16, 29, 29], "area": 841,
             "iscrowd": 0, "attributes": {"occluded": False}},  # Label Studio style: no mask
            {"id": 12, "image_id": 4, "category_id": 18, "bbox": [5, 5, 20, 20],
             "segmentation": [], "iscrowd": 0},  # an empty polygon list: box-only too
            {"id": 13, "image_id": 4, "category_id": 1, "iscrowd": 0, "area": 100.0,
             "bbox": [40, 40, 10, 10], "segmentation": [[40, 40, 50, 40, 50, 50, 40, 50]]}],
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}]}
    src = tmp_path / "boxes.json"
    src.write_text(json.dumps(doc))
    ds = load_dataset(src)
    assert [i.box_only for r in ds.images for i in r.instances] == [True, True, False]
    out = tmp_path / "masks.json"
    assert main.main(["predict", str(src), "--from-boxes", "--method", "grabcut",
                      "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    assert got["info"] == {"x": 1} and got["images"][0]["extra"] == "kept"
    anns = {a["id"]: a for a in got["annotations"]}
    assert set(anns) == {11, 12, 13}
    a = anns[11]
    assert a["bbox"] == [16, 16, 29, 29] and a["attributes"] == {"occluded": False}
    assert a["category_id"] == 1 and a["source"] == "model" and a["review"] == "unreviewed"
    assert isinstance(a["segmentation"]["counts"], str) and a["model"] == "grabcut"
    assert anns[13] == doc["annotations"][2]  # a real mask is untouched
    back = load_dataset(out)
    m = next(i for r in back.images for i in r.instances if i.id == 11)
    from model.editing.review import mask_iou
    assert mask_iou(m, Instance(1, disc(64, 80, 30, 30, 12))) > 0.8
    assert "filled" in capsys.readouterr().err
