"""Construct torchvision Mask R-CNN models and load weights into them with clear errors."""
from __future__ import annotations

from torch import nn
from torchvision.models import resnet50
from torchvision.models.detection import MaskRCNN, maskrcnn_resnet50_fpn_v2
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops import FrozenBatchNorm2d

from model.errors import WeightsError
from model.net.norms import BN_COUNTER, GROUPS, NORMS
from model.net.archs import ARCH_V1, ARCH_V2, ARCHS

DEFAULT_ANCHORS = (32, 64, 128, 256, 512)  # torchvision's, one per FPN level (P2..P6)


def norm_layer(norm: str):
    if norm == "frozen":
        return FrozenBatchNorm2d
    if norm == "batch":
        return nn.BatchNorm2d
    if norm == "group":
        return lambda channels: nn.GroupNorm(GROUPS, channels)
    raise WeightsError(f"unknown normalisation {norm!r}; choose one of {', '.join(NORMS)}")


def build_model(arch: str, num_classes: int, min_size: int = 800, max_size: int = 1333,
                score_thresh: float = 0.05, detections_per_img: int = 100,
                trainable_layers: int | None = None, norm: str = "frozen",
                anchor_sizes: tuple[int, ...] | None = None) -> MaskRCNN:
    """An untrained Mask R-CNN of the given arch.

    norm "frozen" (FrozenBatchNorm2d, 3 trainable backbone stages) is right for
    pretrained weights: their statistics are kept, and fine-tuning at batch size 1-2
    is not thrown off by batch statistics. From random weights that would freeze conv1
    and layer1 at random values and normalise nothing, so a model built to learn from
    scratch uses "batch" (BatchNorm2d) or "group" (GroupNorm) with every stage trainable.

    anchor_sizes: the RPN's anchor size on each FPN level (None: torchvision's 32..512).
    They change no parameter's shape (model/training/anchors.py).
    """
    if trainable_layers is None:
        trainable_layers = 3 if norm == "frozen" else 5
    common = dict(num_classes=num_classes, min_size=min_size, max_size=max_size,
                  box_score_thresh=score_thresh, box_detections_per_img=detections_per_img)
    if anchor_sizes is not None:
        common["rpn_anchor_generator"] = anchor_generator(anchor_sizes)
    if arch == ARCH_V1:
        backbone = resnet50(weights=None, norm_layer=norm_layer(norm))
        backbone = _resnet_fpn_extractor(backbone, trainable_layers)
        return MaskRCNN(backbone, **common)
    if arch == ARCH_V2:
        model = maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None, **common)
        _freeze_backbone(model, trainable_layers)
        return model
    raise WeightsError(f"unknown arch {arch!r}; choose {ARCHS[0]} or {ARCHS[1]}")


def anchor_generator(sizes: tuple[int, ...]) -> AnchorGenerator:
    """torchvision's FPN anchors (three aspect ratios a level) at these sizes."""
    return AnchorGenerator(tuple((int(s),) for s in sizes), ((0.5, 1.0, 2.0),) * len(sizes))


def anchor_sizes_of(model) -> tuple[int, ...] | None:
    """The model's anchor sizes when they are not torchvision's (None: the default)."""
    m = model.module if hasattr(model, "module") else model
    sizes = tuple(int(s[0]) for s in m.rpn.anchor_generator.sizes)
    return None if sizes == DEFAULT_ANCHORS else sizes


def _freeze_backbone(model: MaskRCNN, trainable_layers: int) -> None:
    # torchvision ignores trainable_backbone_layers when built without weights; we
    # load weights afterwards, so apply the same rule by hand.
    train = ["layer4", "layer3", "layer2", "layer1", "conv1"][:trainable_layers]
    for name, param in model.backbone.body.named_parameters():
        if all(not name.startswith(layer) for layer in train):
            param.requires_grad_(False)



def fit_state(model: nn.Module, state_dict: dict) -> dict:
    """BatchNorm's step counters are the one difference between a BatchNorm2d and a
    FrozenBatchNorm2d state: a plain torchvision state_dict has them, MaskLoop's v1
    has none. Its running statistics map one to one, so drop or add the counters."""
    own = model.state_dict()
    out = {k: v for k, v in state_dict.items()
           if not (k.endswith(BN_COUNTER) and k not in own)}
    for k, v in own.items():
        if k.endswith(BN_COUNTER) and k not in out:
            out[k] = v.clone()
    return out


def load_state(model: nn.Module, state_dict: dict, source: str, arch: str) -> None:
    """load_state_dict, but a mismatch is explained instead of dumped as a traceback."""
    state_dict = fit_state(model, state_dict)
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [(k, tuple(state_dict[k].shape), tuple(v.shape)) for k, v in own.items()
              if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} tensors missing (first: {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors (first: {unexpected[0]})")
    for k, got, want in shapes[:3]:
        problems.append(f"{k} is {'x'.join(map(str, got))} in the file but "
                        f"{'x'.join(map(str, want))} in the model")
    if problems:
        ncls = model.roi_heads.box_predictor.cls_score.out_features
        file_cls = state_dict.get("roi_heads.box_predictor.cls_score.weight")
        hint = ""
        if file_cls is not None and int(file_cls.shape[0]) != ncls:
            hint = (f" The file has {int(file_cls.shape[0]) - 1} classes: use it with a "
                    "dataset of as many, or fine-tune from it (main.py train --weights FILE "
                    "replaces the heads for your classes).")
        raise WeightsError(f"{source}: the weights do not fit {arch} with {ncls} classes "
                           f"(background included): " + "; ".join(problems) + "." + hint)
    model.load_state_dict(state_dict, strict=True)
