"""`--score-threshold auto` (the offer gate, model/effort/gate.py) in `simulate` and
`predict`: fitted on the images played so far, or on the input's done images."""
from __future__ import annotations

import json

import numpy as np
import pytest

from model.cli.entry import main
from model.data.annotations import Category, Instance
from model.data.coco import load_dataset
from model.data.synthetic import shapes_dataset

CORNERS = [(0, 0), (68, 0), (0, 68), (68, 68)]  # 4x4 squares no object of a 72 px image reaches


@pytest.fixture()
def gt(tmp_path):
    return shapes_dataset(tmp_path / "set", n=8, size=72)


def _garbage(k, score):
    x, y = CORNERS[k % 4]
    return {"category_id": 5, "bbox": [x, y, 4, 4], "area": 16, "score": score,
            "segmentation": [[x, y, x + 4, y, x + 4, y + 4, x, y + 4]], "iscrowd": 0}


def _predictions(gt, tmp_path, good: float | None, junk: list[float]):
    """Per image: the ground truth scored `good` (None: left out) and garbage scored
    `junk` (each a 4x4 square in a corner, where no object is)."""
    d = json.loads(gt.read_text())
    anns, next_id = [], 1
    for img in d["images"]:
        mine = [a for a in d["annotations"] if a["image_id"] == img["id"]]
        made = [] if good is None else [dict(a, score=good) for a in mine]
        made += [_garbage(k, s) for k, s in enumerate(junk)]
        for a in made:
            a.pop("review", None)
            a.pop("source", None)
            anns.append(dict(a, id=next_id, image_id=img["id"]))
            next_id += 1
    d["annotations"] = anns
    p = tmp_path / "pred.json"
    p.write_text(json.dumps(d))
    return p


def _simulate(args, capsys):
    assert main(["simulate", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_simulate_auto_hides_a_useless_models_offers_from_what_it_saw(gt, tmp_path, capsys):
    # garbage scored 0.5 to 0.69: the default 0.7 shows none of it on the first image;
    # the first image's 40 records (all rejects) say nothing pays: hidden from then on
    junk = [0.5 + 0.0049 * k for k in range(40)]
    pred = _predictions(gt, tmp_path, None, junk)
    no_model = _simulate([str(gt)], capsys)
    shown = _simulate([str(gt), "--predictions", str(pred)], capsys)
    auto = _simulate([str(gt), "--predictions", str(pred), "--score-threshold", "auto"], capsys)
    gates = [im["gate"] for im in auto["per_image"]]
    assert not gates[0]["fitted"] and gates[0]["threshold"] == 0.7 and gates[0]["records"] == 0
    assert all(g["fitted"] and g["hidden"] and g["threshold"] is None for g in gates[1:])
    assert [g["records"] for g in gates[1:3]] == [40, 80]
    assert auto["by_kind"]["reject"] == 0  # no offer shown on any image
    assert auto["actions"] == no_model["actions"] and auto["seconds"] == no_model["seconds"]
    # every offer shown is rejected: one reject-all gesture an image, cheaper than 40 rejects
    assert shown["actions"] == no_model["actions"] + 8
    assert shown["gestures"]["reject_all"] == 8 and shown["seconds"] > no_model["seconds"]
    assert auto["gate"]["hidden"] and auto["gate"]["records"] == 8 * 40


def test_simulate_auto_shows_a_good_models_offers_above_its_garbage(gt, tmp_path, capsys):
    pred = _predictions(gt, tmp_path, 0.9, [0.3, 0.35, 0.4, 0.5] * 5)
    auto = _simulate([str(gt), "--predictions", str(pred), "--score-threshold", "auto"], capsys)
    gates = [im["gate"] for im in auto["per_image"]]
    assert gates[0]["threshold"] == 0.7 and not gates[0]["fitted"]
    fitted = [g for g in gates if g["fitted"]]
    assert fitted and all(g["threshold"] == 0.7 for g in fitted)  # between 0.9 and 0.5
    assert auto["by_kind"]["reject"] == 0 and auto["by_kind"]["accept"] == auto["instances"]
    assert main(["simulate", str(gt), "--predictions", str(pred), "--score-threshold",
                 "auto"]) == 0
    text = capsys.readouterr().out
    assert "gate from image 1 (s0.png): Offers at the default 0.70" in text
    assert "Offers at 0.70, fitted on" in text


def test_score_threshold_takes_a_number_or_auto(gt, capsys):
    with pytest.raises(SystemExit) as e:
        main(["simulate", str(gt), "--score-threshold", "often"])
    assert e.value.code == 2
    assert "or auto" in capsys.readouterr().err


# ----------------------------------------------------------------------- predict

class ShapesPredictor:
    """Finds the synthetic set's red discs and green squares by colour (score `good`,
    None: not at all), and adds 4x4 squares in the corners (score `junk`)."""

    categories = [Category(5, "disc"), Category(9, "square")]
    model_id = "shapes-v1"
    made: list = []

    def __init__(self, good=0.9, junk=0.3, trained_on=(), copies=1, **kw):
        self.good, self.junk, self.copies, self.kw = good, junk, copies, kw
        self.trained_on = frozenset(trained_on)
        ShapesPredictor.made.append(self)

    def predict(self, img, cancel=None):
        out = []
        r, g = img[..., 0].astype(int), img[..., 1].astype(int)
        if self.good is not None:
            for cat, m in ((5, (r > 200) & (g < 80)), (9, (g > 200) & (r < 80))):
                if m.any():
                    out.append(Instance(cat, m, (0, 0), score=self.good, source="model",
                                        model=self.model_id))
        for x, y in CORNERS * self.copies:
            out.append(Instance(5, np.ones((4, 4), bool), (x, y), score=self.junk,
                                source="model", model=self.model_id))
        return out

    def predict_batch(self, imgs):
        return [self.predict(i) for i in imgs]


def _predict_auto(gt, tmp_path, monkeypatch, capsys, **kw):
    import model.net.predictor as P
    ShapesPredictor.made = []
    monkeypatch.setattr(P, "Predictor", lambda **a: ShapesPredictor(**kw, **a))
    out = tmp_path / "offers.json"
    assert main(["predict", str(gt), "--out", str(out), "--score-threshold", "auto"]) == 0
    assert ShapesPredictor.made[0].kw["score_threshold"] == 0.05  # the floor, for the fit
    return load_dataset(out), capsys.readouterr().err


def _reopen(gt, n=2):
    """The last n images of the set not done."""
    d = json.loads(gt.read_text())
    for img in d["images"][-n:]:
        img["review"] = "unreviewed"
    gt.write_text(json.dumps(d))


def test_predict_auto_fits_on_done_images_and_writes_the_offers_that_pass(
        gt, tmp_path, monkeypatch, capsys):
    _reopen(gt)
    out, err = _predict_auto(gt, tmp_path, monkeypatch, capsys, trained_on={"s0.png"})
    assert [r.file_name for r in out.images] == ["s6.png", "s7.png"]  # done images not written
    assert all(len(r.instances) == 2 and all(i.score == 0.9 for i in r.instances)
               for r in out.images)  # the corner garbage at 0.3 did not pass
    line = next(x for x in err.splitlines() if x.startswith("offer gate:"))
    # 5 done images it did not train on, 6 predictions each
    assert "Offers at 0.60, fitted on 30 judged offers" in line  # between 0.9 and 0.3
    assert "5 done image(s); 1 the checkpoint trained on left out" in line
    assert "4 offer(s) written on 2 image(s) not done" in line


def test_predict_auto_writes_no_offer_when_nothing_pays(gt, tmp_path, monkeypatch, capsys):
    _reopen(gt)
    out, err = _predict_auto(gt, tmp_path, monkeypatch, capsys, good=None, junk=0.8,
                            copies=2)
    assert [r.file_name for r in out.images] == ["s6.png", "s7.png"]
    assert out.num_instances() == 0
    line = next(x for x in err.splitlines() if x.startswith("offer gate:"))
    assert line.startswith("offer gate: no offers written: Offers hidden: no threshold pays "
                           "on 48 judged offers")


def test_predict_auto_before_enough_records_uses_the_default(gt, tmp_path, monkeypatch, capsys):
    _reopen(gt, 6)  # 2 done images: 12 records
    out, err = _predict_auto(gt, tmp_path, monkeypatch, capsys, good=0.9, junk=0.75)
    assert len(out.images) == 6 and all(len(r.instances) == 6 for r in out.images)
    line = next(x for x in err.splitlines() if x.startswith("offer gate:"))
    assert "Offers at the default 0.70: 12 of the 30 judged offers" in line
