"""`main.py simulate`: the simulated annotator from the command line."""
from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_util
from pycocotools.coco import COCO

from model.cli.entry import main
from model.data.synthetic import shapes_dataset
from model.effort.actions import Tally
from model.effort.timings import seconds


@pytest.fixture()
def gt(tmp_path):
    return shapes_dataset(tmp_path / "set", n=2, size=72)


def _predictions(gt, tmp_path, drop_last=True):
    """The ground truth as predictions (scored), the last object missed."""
    d = json.loads(gt.read_text())
    anns = d["annotations"][:-1] if drop_last else d["annotations"]
    for a in anns:
        a["score"] = 0.9
        a.pop("review", None)
        a.pop("source", None)
    d["annotations"] = anns
    p = tmp_path / "pred.json"
    p.write_text(json.dumps(d))
    return p


def test_json_has_the_figures(gt, tmp_path, capsys):
    pred = _predictions(gt, tmp_path)
    assert main(["simulate", str(gt), "--predictions", str(pred), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("instances", "actions", "actions_per_instance", "by_kind", "per_image"):
        assert key in out
    assert out["instances"] == 4
    assert out["by_kind"]["accept"] == 3  # three perfect predictions, one drawn
    assert out["actions"] == 3 + sum(out["per_image"][1]["per_instance"][1]["by_kind"].values())
    assert out["actions_per_instance"] == pytest.approx(out["actions"] / 4)
    assert [im["image_id"] for im in out["per_image"]] == [1, 2]
    assert "at_0.85" in out and out["at_0.85"]["actions"] <= out["actions"]
    # seconds beside actions (issue 29), priced on every gesture, time-only ones too
    for summary in (out, out["at_0.85"]):
        t = Tally()
        for kind, n in summary["gestures"].items():
            t.add(kind, n)
        assert t.actions == summary["actions"]
        assert summary["seconds"] == round(seconds(t), 1)
        assert summary["seconds_per_instance"] == round(seconds(t) / 4, 2)
    assert out["gestures"]["accept"] == 3 and out["gestures"]["object"] == 1


def test_no_predictions_is_the_no_model_cost(gt, capsys):
    assert main(["simulate", str(gt), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["by_kind"]["accept"] == 0 and out["actions"] >= 2 * out["instances"]
    assert set(out["how"]) <= {"box", "polygon"}


def test_text_report(gt, tmp_path, capsys):
    pred = _predictions(gt, tmp_path)
    assert main(["simulate", str(gt), "--predictions", str(pred)]) == 0
    text = capsys.readouterr().out
    assert "s0.png" in text and "s1.png" in text
    assert "actions per instance at IoU 0.9" in text and "at IoU 0.85" in text
    assert "seconds per instance" in text
    header = next(line for line in text.splitlines() if line.startswith("image"))
    assert header.split()[:6] == ["image", "objects", "actions", "per", "obj", "seconds"]


def test_out_is_coco_with_the_ground_truths_ids(gt, tmp_path, capsys):
    pred = _predictions(gt, tmp_path)
    out = tmp_path / "final" / "final.json"
    assert main(["simulate", str(gt), "--predictions", str(pred), "--out", str(out),
                 "--json"]) == 0
    truth, final = COCO(str(gt)), COCO(str(out))
    assert sorted(final.getImgIds()) == sorted(truth.getImgIds())
    assert sorted(final.getAnnIds()) == sorted(truth.getAnnIds())
    for ann_id in truth.getAnnIds():
        a, b = truth.anns[ann_id], final.anns[ann_id]
        assert a["image_id"] == b["image_id"] and a["category_id"] == b["category_id"]
        ma, mb = truth.annToMask(a).astype(bool), final.annToMask(b).astype(bool)
        assert np.count_nonzero(ma & mb) / np.count_nonzero(ma | mb) >= 0.9
        rle = final.annToRLE(b)
        assert mask_util.area(rle) == np.count_nonzero(mb)


def test_bad_input_is_one_error_naming_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["simulate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(bad) in err and "Traceback" not in err


def test_bad_predictions_name_their_file(gt, tmp_path, capsys):
    bad = tmp_path / "pred.json"
    bad.write_text(json.dumps([{"image_id": 1}]))
    assert main(["simulate", str(gt), "--predictions", str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err


def test_iou_out_of_range_is_a_usage_error(gt, capsys):
    with pytest.raises(SystemExit) as e:
        main(["simulate", str(gt), "--iou", "0"])
    assert e.value.code == 2
    assert "(0, 1]" in capsys.readouterr().err


def test_order_attention_plays_the_images_the_model_is_least_sure_of_first(tmp_path, capsys):
    """--order attention: the app's review queue over GT's images, by the attention
    predict stored on the predictions' images; never predicted last; --out keeps GT's
    image order."""
    gt = shapes_dataset(tmp_path / "set", n=3, size=72)
    pred = _predictions(gt, tmp_path, drop_last=False)
    d = json.loads(pred.read_text())
    d["images"][0]["attention"], d["images"][1]["attention"] = 0.2, 0.9  # the third: none
    pred.write_text(json.dumps(d))
    assert main(["simulate", str(gt), "--predictions", str(pred), "--json"]) == 0
    assert [im["image_id"] for im in json.loads(capsys.readouterr().out)["per_image"]] \
        == [1, 2, 3]
    out = tmp_path / "final.json"
    assert main(["simulate", str(gt), "--predictions", str(pred), "--order", "attention",
                 "--json", "--out", str(out)]) == 0
    got = capsys.readouterr()
    assert [im["image_id"] for im in json.loads(got.out)["per_image"]] == [2, 1, 3]
    assert "warning" not in got.err
    assert [im["id"] for im in json.loads(out.read_text())["images"]] == [1, 2, 3]


def test_order_attention_without_any_attention_says_so(gt, tmp_path, capsys):
    pred = _predictions(gt, tmp_path)
    assert main(["simulate", str(gt), "--predictions", str(pred), "--order", "attention",
                 "--json"]) == 0
    got = capsys.readouterr()
    assert [im["image_id"] for im in json.loads(got.out)["per_image"]] == [1, 2]
    assert got.err.strip().splitlines()[-1] == (
        "warning: no image's predictions carry an attention (predict stores it): the images "
        "are played in file order")
