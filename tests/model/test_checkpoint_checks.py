"""A checkpoint's numbers are checked on load like any other input (issue 18, items 21 and 25):
resize bounds that ask for gigabytes or skip every image, and NaN or infinite weights that
would predict nothing, are refused with the file and the field named."""
from __future__ import annotations

import math

import pytest
import torch

import main
from model.net import checkpoint as C
from model.errors import UsageError, WeightsError
from model.net.predictor import Predictor
from model.training.train import TrainConfig, run_training
from model.net.weights import resolve_weights
from tests.helpers import shapes_dataset, write_image


def tiny_state() -> dict:
    """The keys that make a state_dict a v1 Mask R-CNN with 2 classes, at toy sizes: the
    checks run before anything is built, so the rest of the model need not be there."""
    return {"roi_heads.mask_predictor.mask_fcn_logits.weight": torch.zeros(3, 4, 1, 1),
            "roi_heads.box_predictor.cls_score.weight": torch.zeros(3, 8),
            "roi_heads.box_head.fc6.weight": torch.zeros(8, 16),
            "backbone.body.bn1.running_mean": torch.zeros(4),
            "backbone.body.bn1.num_batches_tracked": torch.tensor(3)}


def write_ckpt(path, **fields):
    ck = {"format": C.FORMAT, "arch": "maskrcnn_resnet50_fpn", "num_classes": 3,
          "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
          "min_size": 800, "max_size": 1333, "model": tiny_state(), "history": [],
          "model_id": "m"}
    ck.update(fields)
    torch.save(ck, path)
    return path


@pytest.mark.parametrize("fields, said", [
    ({"min_size": 800, "max_size": 100000}, "max_size 100000"),
    ({"min_size": -1}, "min_size -1"),
    ({"min_size": 0}, "min_size 0"),
    ({"min_size": 8}, "min_size 8"),
    ({"min_size": 800, "max_size": 500}, "max_size 500 is below min_size 800"),
    ({"min_size": 800.5}, "min_size 800.5"),
    ({"min_size": True}, "min_size True"),
    ({"max_size": "1333"}, "max_size '1333'"),
    ({"max_size": math.nan}, "max_size nan"),
])
def test_resize_bounds_of_a_checkpoint_are_checked_on_load(tmp_path, fields, said):
    path = write_ckpt(tmp_path / "bad.pt", **fields)
    for load in (resolve_weights, C.load):  # predicting, fine-tuning from it, resuming it
        with pytest.raises(WeightsError) as e:
            load(path)
        assert str(path) in str(e.value) and said in str(e.value), str(e.value)
    good = resolve_weights(write_ckpt(tmp_path / "ok.pt", min_size=64, max_size=96))
    assert (good.min_size, good.max_size) == (64, 96)
    unsaid = write_ckpt(tmp_path / "none.pt")  # an older checkpoint without them: defaults
    del_ck = torch.load(unsaid, weights_only=True)
    del del_ck["min_size"], del_ck["max_size"]
    torch.save(del_ck, unsaid)
    assert resolve_weights(unsaid).min_size is None


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_weights_are_refused_on_load(tmp_path, bad):
    sd = tiny_state()
    sd["roi_heads.box_predictor.cls_score.weight"][1, 2] = bad
    ck = write_ckpt(tmp_path / "nan.pt", model=sd)
    bare = tmp_path / "nan.pth"
    torch.save(sd, bare)  # a bare state_dict is checked the same way
    for path, loads in ((ck, (resolve_weights, C.load)), (bare, (resolve_weights,))):
        for load in loads:
            with pytest.raises(WeightsError) as e:
                load(path)
            msg = str(e.value)
            assert str(path) in msg and "roi_heads.box_predictor.cls_score.weight" in msg, msg
            assert ("NaN" if math.isnan(bad) else "infinite") in msg, msg


def test_the_predictor_and_the_cli_say_which_file_and_field(tmp_path, capsys):
    path = write_ckpt(tmp_path / "huge.pt", max_size=100000)
    with pytest.raises(WeightsError, match="max_size 100000"):
        Predictor(weights=path, device="cpu")
    img = write_image(tmp_path / "a.png")
    assert main.main(["predict", str(img), "--out", str(tmp_path / "o.json"),
                      "--weights", str(path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "huge.pt" in err[0] \
        and "max_size 100000" in err[0]


@pytest.mark.parametrize("flag, value", [("--min-size", "8"), ("--max-size", "100000"),
                                         ("--min-size", "5000")])
@pytest.mark.parametrize("command", ["predict", "train"])
def test_size_flags_are_held_to_the_same_bounds(tmp_path, capsys, command, flag, value):
    with pytest.raises(SystemExit) as e:
        main.main([command, str(tmp_path), "--out", str(tmp_path / "o.x"), flag, value])
    assert e.value.code == 2 and flag in capsys.readouterr().err


def test_training_refuses_sizes_it_could_not_load_back(tmp_path):
    """What MaskLoop writes it must read back: a run whose sizes a checkpoint may not hold
    stops before any work."""
    coco = shapes_dataset(tmp_path / "d", n=2, size=64)
    cfg = TrainConfig(coco=coco, out=tmp_path / "m.pt", weights="none", iterations=1,
                      min_size=96, max_size=64, workers=0, val_fraction=0.0)
    with pytest.raises(UsageError, match="max_size 64 is below min_size 96"):
        run_training(cfg)
    assert not (tmp_path / "m.pt").exists()
    with pytest.raises(UsageError, match="max_size 64 is below min_size 96"):
        Predictor(weights="none", device="cpu", min_size=96, max_size=64)
