"""Where a run starts from: the resume checkpoint (OUT.last.pt), or the start weights
with new box and mask heads for the dataset's classes (rows of classes the weights
already know by name are copied over, so COCO's 'person' starts as a person)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import torch

from model.errors import TrainingError
from model.net import checkpoint as C
from model.net.build import build_model, fit_state, infer_norm, load_state
from model.net.weights import resolve_weights
from model.training.data import LabelTable

if TYPE_CHECKING:
    from model.training.train import TrainConfig

HEAD_KEYS = ("roi_heads.box_predictor.", "roi_heads.mask_predictor.mask_fcn_logits.")
Emit = Callable[[dict], None]


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



def start_model(cfg: TrainConfig, labels: LabelTable, emit: Emit, main: bool):
    """Model, its arch, where it started, the resume checkpoint (if any), and the image
    files the start weights were already trained on (C.trained_files: the lineage)."""
    last = C.last_path(cfg.out)
    if cfg.resume:
        if not last.is_file():
            raise TrainingError(f"--resume: no checkpoint to resume at {last}")
        ck = C.load(last, resume=True)  # every field checked, the optimizer's too
        if ck.get("categories") != labels.to_json():
            raise TrainingError(f"--resume: {last} was trained on other categories than "
                                f"{cfg.coco}; start a new run instead")
        model = build_model(ck["arch"], ck["num_classes"], cfg.min_size, cfg.max_size,
                            trainable_layers=cfg.trainable_layers,
                            norm=ck.get("norm") or infer_norm(ck["model"]))
        load_state(model, ck["model"], str(last), ck["arch"])
        return model, ck["arch"], ck.get("started_from", "resume"), ck, C.trained_files(ck)
    loaded = resolve_weights(cfg.weights)
    norm = loaded.norm
    if cfg.norm and cfg.norm != norm:
        if loaded.state_dict is not None:
            raise TrainingError(f"--norm {cfg.norm} builds a model for random weights; "
                                f"{loaded.model_id} was trained with {norm} normalisation")
        norm = cfg.norm
    model = build_model(loaded.arch, labels.num_classes, cfg.min_size, cfg.max_size,
                        trainable_layers=cfg.trainable_layers, norm=norm)
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
    return model, loaded.arch, str(cfg.weights), None, C.trained_files(loaded.checkpoint)
