"""A checkpoint's numbers are checked on load like any other input (issue 18, items 21 and 25):
resize bounds that ask for gigabytes or skip every image, and NaN or infinite weights that
would predict nothing, are refused with the file and the field named."""
from __future__ import annotations

import math

import pytest
import torch

import main
from model.net import checkpoint_file as C
from model.errors import UsageError, WeightsError
from model.net.predictor import Predictor
from model.training.config import TrainConfig
from model.training.train import run_training
from model.net.weights import resolve_weights
from tests.helpers import shapes_dataset, tiny_state, write_ckpt, write_image


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
    sd["roi_heads.box_predictor.cls_score.weight"] = torch.zeros(3, 1024)
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


# ------------------------------------------------- every field, typed and in range (issue 28)

def _category(k: int, key: str, value):
    def f(ck):
        ck["categories"][k][key] = value
    return f


def _field(key: str, value):
    def f(ck):
        ck[key] = value
    return f


def _tensor(key: str, value):
    def f(ck):
        ck["model"][key] = value
    return f


HUGE = torch.zeros(()).expand(100000, 100000)  # 1.3 KB on disk, 40 GB as float to check

BAD_FIELDS = {
    "tensor supercategory": (_category(0, "supercategory", torch.tensor([1, 2])),
                             "category 1 in 'categories': 'supercategory' is a tensor"),
    "tensor model_id": (_field("model_id", torch.tensor([1, 2])), "'model_id' is a tensor"),
    "id 2**70": (_category(1, "id", 2 ** 70), "category 2 in 'categories' has id 1180591620717411303424"),
    "duplicate id": (_category(1, "id", 1), "category 2 in 'categories' repeats id 1"),
    "bool id": (_category(0, "id", True), "category 1 in 'categories' has id True"),
    "tensor name": (_category(0, "name", torch.zeros(2)), "category 1 in 'categories': 'name' is a tensor"),
    "negative iteration": (_field("iteration", -1), "'iteration' is -1"),
    "negative epoch": (_field("epoch", -3), "'epoch' is -3"),
    "float iteration": (_field("iteration", 2.5), "'iteration' is 2.5"),
    "tensor arch": (_field("arch", torch.zeros(1)), "'arch' is a tensor"),
    "other arch": (_field("arch", "maskrcnn_resnet50_fpn_v2"), "'arch' says"),
    "text num_classes": (_field("num_classes", "3"), "'num_classes' is '3'"),
    "wrong num_classes": (_field("num_classes", 5), "'num_classes' says 5"),
    "tensor norm": (_field("norm", torch.zeros(1)), "'norm' is a tensor"),
    "history not a list": (_field("history", {"a": 1}), "'history' is a dict"),
    "NaN val AP": (_field("history", [{"val": {"segm": {"AP": math.nan}}}]),
                   "'history' entry 1's segm AP is nan"),
    "NaN best AP": (_field("best_segm_ap", math.nan), "'best_segm_ap' is nan"),
    "newer format": (_field("format", "maskloop-checkpoint/9"), "'format' is 'maskloop-checkpoint/9'"),
    "categories not a list": (_field("categories", "ab"), "'categories' is 'ab'"),
    "stride-0 100000x100000 tensor": (_tensor("backbone.body.conv1.weight", HUGE),
                                      "tensor backbone.body.conv1.weight is 100000x100000, but "
                                      "maskrcnn_resnet50_fpn with 3 classes"),
    "100000 classes": (_tensor("roi_heads.box_predictor.cls_score.weight", HUGE),
                       "roi_heads.box_predictor.cls_score.weight is 100000x100000: a model of "
                       "1 to 10000 classes"),
    "a tensor the model has not": (_tensor("extra.weight", HUGE),
                                   "tensor 'extra.weight' is not part of maskrcnn_resnet50_fpn"),
    "a missing tensor": (lambda ck: ck["model"].pop("backbone.body.conv1.weight"),
                         "1 tensor(s) of maskrcnn_resnet50_fpn with 3 classes (background "
                         "included) are missing (first: backbone.body.conv1.weight)"),
    "integer weights": (_tensor("backbone.body.conv1.weight",
                                torch.zeros((), dtype=torch.int64).expand(64, 3, 7, 7)),
                        "tensor backbone.body.conv1.weight is torch.int64"),
    "a key that is not text": (_tensor(7, torch.zeros(1)), "'model' has a key 7"),
    "NaN momentum": (_field("optimizer", {"state": {0: {"momentum_buffer": torch.full((64,), math.nan)}},
                                          "param_groups": [{"lr": 0.01, "params": [0]}]}),
                     "'optimizer' state of parameter 0 (momentum_buffer) holds NaN"),
    "huge momentum": (_field("optimizer", {"state": {0: {"momentum_buffer": HUGE}},
                                           "param_groups": [{"lr": 0.01, "params": [0]}]}),
                      "'optimizer' state of parameter 0 (momentum_buffer) is 100000x100000"),
    "NaN lr": (_field("optimizer", {"state": {}, "param_groups": [{"lr": math.nan, "params": []}]}),
               "'optimizer' parameter group 0 lr is nan"),
    "negative position": (_field("epoch_progress", {"position": -4}),
                          "'epoch_progress' position is -4"),
    "rng of another kind": (_field("rng", ["not a state"]), "'rng' entry 0 is 'not a state'"),
}


@pytest.mark.parametrize("case", list(BAD_FIELDS))
def test_every_field_is_checked_on_load_naming_the_file_and_the_field(tmp_path, case):
    """A tensor where text belongs, an id past 2**53, a negative iteration, a shape the
    architecture has not: one WeightsError on load, before any value is read (the stride-0
    tensors would take 40 GB to check for NaN), wherever the file is loaded."""
    spoil, said = BAD_FIELDS[case]
    ck = torch.load(write_ckpt(tmp_path / "ok.pt"), weights_only=True)
    spoil(ck)
    path = tmp_path / "bad.pt"
    torch.save(ck, path)
    for load in (resolve_weights, C.load):  # predict, audit, the app; resume, the app's runs
        with pytest.raises(WeightsError) as e:
            load(path)
        msg = str(e.value)
        assert msg.startswith(f"{path}: refused: ") and said in msg and "\n" not in msg, msg


def test_a_sound_checkpoint_still_loads_everywhere(tmp_path):
    """The checks refuse nothing MaskLoop writes: ids None (a label that never reports),
    negative and zero ids (COCO allows them), a supercategory, DDP's "module." prefix."""
    path = write_ckpt(tmp_path / "ok.pt", categories=[
        {"id": None, "name": "gone"}, {"id": -4, "name": "b", "supercategory": "x"}],
        model={f"module.{k}": v for k, v in tiny_state().items()}, iteration=0, epoch=0)
    loaded = resolve_weights(path)
    assert [c and (c.id, c.supercategory) for c in loaded.label_categories] == \
        [None, None, (-4, "x")]
    assert "backbone.body.conv1.weight" in loaded.state_dict
    assert "backbone.body.conv1.weight" in C.load(path)["model"]
    with pytest.raises(WeightsError, match="not a resume state MaskLoop can continue from "
                                           r"\(no 'optimizer' field\)"):
        C.load(path, resume=True)


@pytest.mark.parametrize("case", ["tensor supercategory", "tensor model_id", "id 2**70",
                                  "duplicate id"])
def test_predict_refuses_a_bad_field_before_inference(tmp_path, capsys, case):
    """These failed only after inference ("please report this") or with a traceback."""
    spoil, said = BAD_FIELDS[case]
    ck = torch.load(write_ckpt(tmp_path / "bad.pt", min_size=64, max_size=64), weights_only=True)
    spoil(ck)
    torch.save(ck, tmp_path / "bad.pt")
    img = write_image(tmp_path / "a.png", 64, 64)
    out = tmp_path / "o.json"
    assert main.main(["predict", str(img), "--out", str(out), "--weights",
                      str(tmp_path / "bad.pt"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "bad.pt" in err[0] \
        and said in err[0], err
    assert not out.exists()


def test_a_stride_0_giant_is_refused_in_little_memory(tmp_path):
    """Under a 6 GB address space (torch alone maps 4 GB): the old NaN check allocated the
    whole 100000x100000 view and failed with out-of-memory instead of naming the tensor."""
    import resource
    import subprocess
    import sys
    from pathlib import Path

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
    path = write_ckpt(tmp_path / "giant.pt", model=dict(tiny_state(), **{
        "roi_heads.mask_head.0.0.weight": HUGE}))
    img = write_image(tmp_path / "a.png", 64, 64)
    root = Path(main.__file__).resolve().parent
    r = subprocess.run([sys.executable, str(root / "main.py"), "predict", str(img), "--out",
                        str(tmp_path / "o.json"), "--weights", str(path), "--device", "cpu"],
                       cwd=root, preexec_fn=limit, capture_output=True, text=True, timeout=300)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(err) == 1, r.stderr[-2000:]
    assert "giant.pt: refused: tensor roi_heads.mask_head.0.0.weight is 100000x100000" in err[0]
