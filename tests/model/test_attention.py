"""The image attention score (issue 20, section 3): the candidates, the Predictor's
per-instance mask confidence, and the number carried by the cache and `predict`'s output,
validated when read back."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import main
from model.data.annotations import Category, Dataset, Instance
from model.data.coco import load_dataset, save_dataset
from model.data.prediction_cache import read_cache, write_cache
from model.editing import user_actions as E
from model.effort import attention as A
from model.errors import CocoFormatError
from model.net.predictor import Predictions, Predictor, mask_confidence
from tests.helpers import make_coco, write_image

H, W = 64, 80


def square(x, y, s=10, cat=1, score=0.9):
    return Instance(cat, np.ones((s, s), bool), (x, y), score=score, source="model")


def test_the_candidates_on_hand_made_predictions():
    assert A.band([]) == 0.0 and A.band([0.5]) == 1.0
    assert A.band([0.95, 0.05]) == pytest.approx(0.1)
    assert A.mask([], []) == 0.0
    assert A.mask([1.0, 0.0], [0.9, 0.0]) == pytest.approx(0.1)  # weighted by score
    a = [square(0, 0), square(40, 20)]
    assert A.disagreement(a, [square(0, 0), square(40, 20)]) == 0.0
    assert A.disagreement(a, []) == 1.0
    assert A.disagreement(a, [square(0, 0)]) == pytest.approx(1 - 2 / 3)
    assert A.disagreement(a, [square(0, 0, cat=2), square(40, 20)]) == pytest.approx(0.5)
    back = A.flipped_back([square(0, 0, s=10)], W)  # a square at the left edge, mirrored
    assert back[0].offset == (W - 10, 0)


def test_mask_confidence_is_the_distance_from_a_coin_toss():
    probs = torch.full((3, 1, 4, 4), 0.2)
    probs[0] = 1.0  # sure
    probs[1] = 0.75  # half sure
    assert mask_confidence(probs) == pytest.approx([1.0, 0.5, 0.0])
    assert mask_confidence(torch.zeros((0, 1, 28, 28))) == []


@pytest.fixture(scope="module")
def predictor():
    torch.manual_seed(0)
    return Predictor(weights="none", device="cpu", score_threshold=0.0, min_size=64,
                     max_size=96, detections_per_img=10)


@pytest.mark.slow
def test_the_predictor_keeps_a_confidence_per_instance(predictor, tmp_path):
    write_image(tmp_path / "a.png", H, W, seed=3)
    from model.data.images import read_image
    rgb = read_image(tmp_path / "a.png")
    preds = predictor.predict(rgb)
    assert isinstance(preds, Predictions) and len(preds) > 0
    assert len(preds.mask_confidence) == len(preds)
    assert all(0.0 <= c <= 1.0 for c in preds.mask_confidence)
    for method in A.METHODS:
        v = A.attention(preds, method, predictor=predictor, rgb=rgb)
        assert 0.0 <= v <= 1.0
    assert A.attention([square(0, 0)], "mask") is None  # not a Predictor's: unknown


def test_the_cache_carries_the_attention_and_refuses_a_bad_one(tmp_path):
    write_image(tmp_path / "0.png", H, W, seed=0)
    ds = Dataset([Category(1, "cat")], image_root=tmp_path)
    rec = ds.add_image("0.png", W, H)
    p = E.predictions_edit(ds, rec, [square(5, 5)], [Category(1, "cat")], "m", attention=0.25)
    p.categories.apply()
    p.instances.apply()
    assert rec.attention == 0.25
    path = tmp_path / ".maskloop" / "x.predictions.json"
    write_cache(path, ds)
    fresh = Dataset([Category(1, "cat")], image_root=tmp_path)
    fresh.add_image("0.png", W, H)
    assert read_cache(path, fresh).images[0].attention == 0.25
    p.instances.revert()  # undo gives the image its old attention back
    assert rec.attention is None and rec.prediction_model is None
    data = json.loads(path.read_text())
    for bad in (float("nan"), 1.5, -0.1, "0.3", True):
        data["images"][0]["attention"] = bad
        path.write_text(json.dumps(data))
        assert read_cache(path, fresh) is None  # a hand-edited cache: predict again


@pytest.mark.slow
def test_predict_writes_an_attention_per_image_and_load_validates_it(tmp_path, capsys):
    gt = make_coco(tmp_path)
    out = tmp_path / "pred.json"
    assert main.main(["predict", str(gt), "--out", str(out), "--weights", "none", "--device",
                      "cpu", "--min-size", "64", "--max-size", "96",
                      "--score-threshold", "0.3"]) == 0
    data = json.loads(out.read_text())
    values = [img["attention"] for img in data["images"]]
    assert values and all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in values)
    ds = load_dataset(out)
    assert [r.attention for r in ds.images] == values
    save_dataset(ds, tmp_path / "again.json")  # what MaskLoop writes, it reads back
    assert [r.attention for r in load_dataset(tmp_path / "again.json").images] == values
    for bad in (float("nan"), 2.0, "high"):
        data["images"][0]["attention"] = bad
        (tmp_path / "bad.json").write_text(json.dumps(data))
        with pytest.raises(CocoFormatError, match="attention"):
            load_dataset(tmp_path / "bad.json")
