"""Small objects (model/training/anchors.py): anchor sizes fitted to the boxes, stored in
the checkpoint, honoured by the Predictor and checked by the checkpoint validator; and a
dataset's native training size."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from model.cli.args import anchor_sizes
from model.data.annotations import ImageRecord, Instance
from model.errors import WeightsError
from model.net import checkpoint as C
from model.net.build import anchor_sizes_of, build_model, load_state
from model.net.checkpoint_schema import check_checkpoint
from model.net.predictor import Predictor
from model.net.weights import ARCH_V1
from model.training.anchors import best_iou, fit_anchor_sizes, input_boxes, native_size

SMALL = (8, 16, 32, 64, 128)
DEFAULT = (32, 64, 128, 256, 512)


def squares(side: float, n: int = 50, seed: int = 0, grid: int | None = None) -> np.ndarray:
    """n boxes of side x side at random places in a 256-pixel input (centred on a multiple
    of `grid` when given)."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(side, 256 - side, (n, 2))
    if grid:
        c = np.round(c / grid) * grid
    return np.concatenate([c - side / 2, c + side / 2], axis=1)


def test_best_iou_is_torchvisions_anchor_layout():
    """The fit's estimate equals the IoU with every anchor torchvision lays out."""
    from torchvision.models.detection.image_list import ImageList
    from torchvision.ops import box_iou
    from model.net.build import anchor_generator
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 200, (40, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(3, 50, (40, 2))], axis=1)
    for sizes in (SMALL, (23, 46, 92, 184, 368), (32, 64, 128, 256, 512)):
        feats = [torch.zeros(1, 1, 256 // s, 256 // s) for s in (4, 8, 16, 32, 64)]
        grid = anchor_generator(sizes)(ImageList(torch.zeros(1, 3, 256, 256), [(256, 256)]),
                                       feats)[0]
        exact = box_iou(torch.tensor(boxes, dtype=torch.float32), grid).max(1).values.numpy()
        assert np.allclose(best_iou(boxes, sizes), exact, atol=1e-5), sizes


def test_anchor_sizes_are_fitted_only_where_they_beat_torchvisions():
    # 12-pixel objects on P2's grid: a 12-pixel anchor covers each exactly (13 rounds to
    # the same corners: the larger of the two is kept)
    grid12 = squares(12, grid=4)
    assert fit_anchor_sizes(grid12) == (13, 26, 52, 104, 208)
    assert (best_iou(grid12, (13, 26, 52, 104, 208)) == 1).all()
    # nuclei-like 10-30 pixels anywhere: more of them get an anchor of IoU 0.7 than before
    rng = np.random.default_rng(2)
    boxes = np.concatenate([squares(s, 1, seed=k) for k, s in enumerate(rng.uniform(10, 30, 200))])
    fitted = fit_anchor_sizes(boxes)
    assert fitted is not None and fitted[0] < 32
    assert (best_iou(boxes, fitted) >= 0.7).mean() > (best_iou(boxes, DEFAULT) >= 0.7).mean()
    # torchvision's fit 64-pixel objects on P3's grid exactly: kept; no boxes: kept
    assert fit_anchor_sizes(squares(64, grid=8)) is None
    assert fit_anchor_sizes(np.zeros((0, 4))) is None


def test_boxes_are_measured_at_the_size_the_model_sees():
    rec = ImageRecord(1, "a.png", 200, 100)
    rec.instances.append(Instance(1, np.ones((40, 10), bool), (4, 6)))
    rejected = Instance(1, np.ones((4, 4), bool), (50, 50), review="rejected")
    rec.instances.append(rejected)  # never taught: not measured
    unknown = ImageRecord(2, "b.png", None, None)
    assert input_boxes([rec, unknown], 50, 1333).tolist() == [[2.0, 3.0, 7.0, 23.0]]
    assert input_boxes([rec], 100, 150).tolist() == [[3.0, 4.5, 10.5, 34.5]]  # capped: x 0.75


def test_native_size_is_the_images_own_median_sides():
    def recs(*sizes):
        return [ImageRecord(k, f"{k}.png", w, h) for k, (w, h) in enumerate(sizes)]
    assert native_size(recs((256, 256), (256, 256), (None, None))) == (256, 256)
    assert native_size(recs((640, 480), (800, 600), (800, 600))) == (600, 800)
    assert native_size(recs((6000, 4000))) == (1333, 2000)  # the shorter side is capped
    assert native_size(recs((None, None))) is None


@pytest.fixture(scope="module")
def default_model():
    return build_model(ARCH_V1, 3, 64, 64, norm="batch")


def test_fitted_anchors_change_no_parameter_shape_and_pretrained_weights_still_load(default_model):
    small = build_model(ARCH_V1, 3, 64, 64, norm="batch", anchor_sizes=SMALL)
    assert small.rpn.anchor_generator.sizes == tuple((s,) for s in SMALL)
    assert anchor_sizes_of(small) == SMALL and anchor_sizes_of(default_model) is None
    load_state(small, default_model.state_dict(), "default", ARCH_V1)  # strict: every tensor
    assert all(torch.equal(v, default_model.state_dict()[k])
               for k, v in small.state_dict().items())


def test_a_checkpoint_stores_its_anchors_and_the_predictor_builds_with_them(tmp_path,
                                                                           default_model):
    small = build_model(ARCH_V1, 3, 64, 64, norm="batch", anchor_sizes=SMALL)
    cats = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    ck = C.make(small, arch=ARCH_V1, categories=cats, min_size=64, max_size=64, history=[],
                model_id="m")
    assert ck["anchor_sizes"] == list(SMALL)
    C.save(tmp_path / "small.pt", ck)
    assert Predictor(weights=tmp_path / "small.pt", device="cpu").model.rpn.anchor_generator.sizes \
        == tuple((s,) for s in SMALL)
    plain = C.make(default_model, arch=ARCH_V1, categories=cats, min_size=64, max_size=64,
                   history=[], model_id="p")
    assert "anchor_sizes" not in plain
    C.save(tmp_path / "plain.pt", plain)
    assert Predictor(weights=tmp_path / "plain.pt", device="cpu").model.rpn.anchor_generator.sizes \
        == ((32,), (64,), (128,), (256,), (512,))


@pytest.mark.parametrize("bad, said", [
    ([8, 8, 16, 32, 64], "'anchor_sizes' [8, 8, 16, 32, 64] do not grow"),
    ([8, 16, 32], "'anchor_sizes' is a list, not a list of 5 sizes"),
    ("8,16,32,64,128", "'anchor_sizes' is '8,16,32,64,128', not a list of 5"),
    ([0, 16, 32, 64, 128], "'anchor_sizes' entry 1 is 0"),
    ([8, 16, 32, 64, 10 ** 9], "'anchor_sizes' entry 5 is 1000000000"),
    ([8.5, 16, 32, 64, 128], "'anchor_sizes' entry 1 is 8.5")])
def test_the_checkpoint_validator_refuses_anchor_sizes_a_model_cannot_have(default_model, bad,
                                                                          said):
    ck = C.make(default_model, arch=ARCH_V1, categories=[{"id": 1, "name": "a"},
                                                          {"id": 2, "name": "b"}],
                min_size=64, max_size=64, history=[], model_id="m")
    ck["anchor_sizes"] = bad
    with pytest.raises(WeightsError) as e:
        check_checkpoint(ck, "m.pt")
    assert str(e.value).startswith("m.pt: refused: ") and said in str(e.value), str(e.value)


def test_the_anchors_option_takes_keep_auto_or_five_growing_sizes():
    assert anchor_sizes("auto") == "auto" and anchor_sizes("keep") == "keep"
    assert anchor_sizes("8,16,32,64,128") == SMALL
    for bad in ("8,16,32", "16,8,32,64,128", "a,b,c,d,e", "0,16,32,64,128"):
        with pytest.raises(argparse.ArgumentTypeError):
            anchor_sizes(bad)
