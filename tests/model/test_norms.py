"""From random weights the model is built to learn (BatchNorm2d, or GroupNorm on request,
every backbone stage trainable); what it was built with travels in the checkpoint and is
read back from the weights alone."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from model.net import checkpoint_file as C
from model.net.build import build_model
from model.net.norms import infer_norm
from model.net.predictor import Predictor
from model.training.config import TrainConfig
from model.training.train import run_training
from model.errors import TrainingError
from model.net.weights import ARCH_V1
from tests.helpers import S, shapes_dataset


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return shapes_dataset(tmp_path_factory.mktemp("shapes"), n=4)


def cfg(coco: Path, out: Path, **kw) -> TrainConfig:
    base = dict(coco=coco, out=out, weights="none", iterations=2, min_size=S, max_size=S,
                workers=0, val_fraction=0.0, rois_per_image=32, warmup_iters=1,
                all_images=True)
    return TrainConfig(**(base | kw))


def layers(model: nn.Module, kind) -> int:
    return sum(isinstance(m, kind) for m in model.backbone.body.modules())


@pytest.mark.parametrize("norm, kind", [("frozen", FrozenBatchNorm2d), ("batch", nn.BatchNorm2d),
                                        ("group", nn.GroupNorm)])
def test_each_norm_builds_its_layers_and_is_told_from_its_state_dict(norm, kind):
    model = build_model(ARCH_V1, 3, S, S, norm=norm)
    assert layers(model, kind) == 53  # every normalisation of ResNet-50
    assert infer_norm(model.state_dict()) == norm
    body = model.backbone.body
    frozen = [n for n, p in body.named_parameters() if not p.requires_grad]
    if norm == "frozen":  # pretrained: conv1 and layer1 keep what they learned
        assert frozen and all(n.startswith(("conv1", "layer1")) for n in frozen)
    else:  # from scratch nothing stays at its random value
        assert frozen == []


@pytest.mark.parametrize("norm", [None, "group"])
def test_from_scratch_checkpoints_record_their_norm_and_predict(shapes, tmp_path, norm):
    out = tmp_path / "m.pt"
    run_training(cfg(shapes, out, norm=norm))
    ck = C.load(out)
    expected = norm or "batch"
    assert ck["norm"] == expected and infer_norm(ck["model"]) == expected
    pred = Predictor(weights=str(out), device="cpu", min_size=S, max_size=S)
    assert layers(pred.model, nn.GroupNorm if expected == "group" else nn.BatchNorm2d) == 53
    for k, v in ck["model"].items():  # loaded exactly, running statistics included
        assert torch.equal(pred.model.state_dict()[k].cpu(), v), k
    assert isinstance(pred.predict(torch.zeros(S, S, 3, dtype=torch.uint8).numpy()), list)


def test_norm_is_refused_for_weights_trained_with_another(shapes, tmp_path):
    start = tmp_path / "start.pt"
    run_training(cfg(shapes, start))  # BatchNorm2d
    with pytest.raises(TrainingError, match="--norm group builds a model for random weights"):
        run_training(cfg(shapes, tmp_path / "next.pt", weights=str(start), norm="group"))
