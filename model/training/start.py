"""Where a run starts from: the resume checkpoint (OUT.last.pt), or the start weights
with new box and mask heads for the dataset's classes (rows of classes the weights
already know by name are copied over, so COCO's 'person' starts as a person)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, NamedTuple

import torch

from model.errors import TrainingError
from model.net import checkpoint_file as C
from model.net.build import build_model, fit_state, load_state
from model.net.norms import infer_norm
from model.net.weights import resolve_weights
from model.training.data import LabelTable

if TYPE_CHECKING:
    from model.training.config import TrainConfig

HEAD_KEYS = ("roi_heads.box_predictor.", "roi_heads.mask_predictor.mask_fcn_logits.")
Emit = Callable[[dict], None]
Fit = Callable[[], "tuple[int, ...] | None"]


class Start(NamedTuple):
    """Where a run starts (unpacks as the model, then the rest)."""
    model: torch.nn.Module
    arch: str
    started_from: str
    resume: dict | None  # the resume checkpoint (OUT.last.pt), when resuming
    lineage: frozenset  # image files the start weights were trained on (C.trained_files)
    checkpoint: dict  # the start weights' checkpoint dict ({} for built-in weights)


def anchors_for(cfg: TrainConfig, stored: tuple[int, ...] | None, fit: Fit
                ) -> tuple[int, ...] | None:
    """The anchor sizes a new run builds its model with: the start weights' (stored in
    their checkpoint; None is torchvision's) unless cfg.anchors asks otherwise. "auto" fits
    them to the training boxes (anchors.py) when the start weights have none of their own:
    sizes a model was trained with are kept."""
    if isinstance(cfg.anchors, tuple):
        return cfg.anchors
    if cfg.anchors == "auto" and stored is None:
        return fit()
    return stored


def warm_start_heads(model, loaded, labels: LabelTable) -> list[str]:
    """New heads for the dataset's classes; rows of classes the start weights also
    know by name (COCO 'person', say) are copied over. Returns those names."""
    names = {c.name.lower(): k for k, c in enumerate(loaded.label_categories) if c is not None}
    sd = loaded.state_dict
    cls_w, cls_b = sd["roi_heads.box_predictor.cls_score.weight"], sd["roi_heads.box_predictor.cls_score.bias"]
    box_w, box_b = sd["roi_heads.box_predictor.bbox_pred.weight"], sd["roi_heads.box_predictor.bbox_pred.bias"]
    mask_w = sd["roi_heads.mask_predictor.mask_fcn_logits.weight"]
    mask_b = sd["roi_heads.mask_predictor.mask_fcn_logits.bias"]
    bp, mp = model.roi_heads.box_predictor, model.roi_heads.mask_predictor
    copied = []
    with torch.no_grad():
        pairs = [(0, 0)] + [(k, names[c.name.lower()]) for k, c in enumerate(labels.categories, 1)
                            if c.name.lower() in names]
        for new, old in pairs:
            if cls_w.shape[1] != bp.cls_score.weight.shape[1]:
                break
            bp.cls_score.weight[new] = cls_w[old]
            bp.cls_score.bias[new] = cls_b[old]
            bp.bbox_pred.weight[4 * new:4 * new + 4] = box_w[4 * old:4 * old + 4]
            bp.bbox_pred.bias[4 * new:4 * new + 4] = box_b[4 * old:4 * old + 4]
            mp.mask_fcn_logits.weight[new] = mask_w[old]
            mp.mask_fcn_logits.bias[new] = mask_b[old]
            if new:
                copied.append(labels.categories[new - 1].name)
    return copied



def start_model(cfg: TrainConfig, labels: LabelTable, emit: Emit, main: bool,
                fit: Fit = lambda: None) -> Start:
    """Model, its arch, where it started, the resume checkpoint (if any), the image files
    the start weights were already trained on (C.trained_files: the lineage), and the
    start weights' checkpoint. `fit` gives anchor sizes fitted to the data (anchors_for)."""
    last = C.last_path(cfg.out)
    if cfg.resume:
        if not last.is_file():
            raise TrainingError(f"--resume: no checkpoint to resume at {last}")
        ck = C.load(last, resume=True)  # every field checked, the optimizer's too
        if ck.get("categories") != labels.to_json():
            raise TrainingError(f"--resume: {last} was trained on other categories than "
                                f"{cfg.coco}; start a new run instead")
        anchors = ck.get("anchor_sizes")
        model = build_model(ck["arch"], ck["num_classes"], cfg.min_size, cfg.max_size,
                            trainable_layers=cfg.trainable_layers,
                            norm=ck.get("norm") or infer_norm(ck["model"]),
                            anchor_sizes=tuple(anchors) if anchors else None)
        load_state(model, ck["model"], str(last), ck["arch"])
        return Start(model, ck["arch"], ck.get("started_from", "resume"), ck,
                     C.trained_files(ck), ck)
    loaded = resolve_weights(cfg.weights)
    norm = loaded.norm
    if cfg.norm and cfg.norm != norm:
        if loaded.state_dict is not None:
            raise TrainingError(f"--norm {cfg.norm} builds a model for random weights; "
                                f"{loaded.model_id} was trained with {norm} normalisation")
        norm = cfg.norm
    anchors = anchors_for(cfg, loaded.anchor_sizes, fit)
    if anchors is not None and anchors != loaded.anchor_sizes and main:
        why = "as asked" if isinstance(cfg.anchors, tuple) else "fitted to the training boxes"
        emit({"event": "info", "message": "RPN anchors " + ", ".join(map(str, anchors)) +
              f" pixels ({why}; torchvision's start at 32)"})
    model = build_model(loaded.arch, labels.num_classes, cfg.min_size, cfg.max_size,
                        trainable_layers=cfg.trainable_layers, norm=norm, anchor_sizes=anchors)
    if loaded.state_dict is not None:
        if labels.same_as(loaded.label_categories):
            load_state(model, loaded.state_dict, loaded.model_id, loaded.arch)
            if main:
                emit({"event": "info", "message": "continuing with the start weights' heads"})
        else:
            body = {k: v for k, v in fit_state(model, loaded.state_dict).items()
                    if not k.startswith(HEAD_KEYS)}
            missing, unexpected = model.load_state_dict(body, strict=False)
            bad = [k for k in missing if not k.startswith(HEAD_KEYS)]
            if bad or unexpected:
                raise TrainingError(f"{loaded.model_id}: weights do not fit {loaded.arch} "
                                    f"({len(bad)} missing, {len(unexpected)} unexpected tensors)")
            copied = warm_start_heads(model, loaded, labels)
            if main:
                emit({"event": "info", "message": "replaced the box and mask heads for "
                      f"{labels.num_classes - 1} classes" +
                      (f"; started {', '.join(copied)} from the same classes of the start weights"
                       if copied else "")})
    return Start(model, loaded.arch, str(cfg.weights), None, C.trained_files(loaded.checkpoint),
                 loaded.checkpoint)
