"""Mask R-CNN inference that returns Instances with cropped masks.

Usage: `Predictor(weights="coco", device="auto").predict(rgb)` -> list[Instance].

The model runs stage by stage (transform, backbone, RPN, ROI heads) so a cancel
event is honoured between stages, and masks are pasted only inside their boxes
(see postprocess.py): memory grows with the total box area, not with
detections x image size.
"""
from __future__ import annotations

import contextlib
import os
import threading

import numpy as np
import torch
from torchvision.models.detection.transform import resize_boxes

from model.data.annotations import Category, Instance
from model.net.build import build_model, load_state
from model.net.checkpoint_file import trained_files
from model.net.devices import resolve_device
from model.errors import Cancelled, UnusableImage, UsageError
from model.net import assist
from model.net.postprocess import MASK_THRESHOLD, paste_masks_cropped
from model.net.sizes import size_problem
from model.net.weights import LoadedWeights, ProgressFn, resolve_weights



class Predictions(list):
    """One image's Instances (a list, best score first) plus what thresholding throws
    away: `mask_confidence[i]` is how far instance i's mask probabilities sit from 0.5
    inside its mask (mean of 2p - 1 over the 28x28 head output where p > 0.5; 1 sure,
    0 a coin toss). model/effort/attention.py turns it into the image's review priority;
    `attention` is where a caller that computed that priority keeps it."""

    def __init__(self, items=(), mask_confidence=()):
        super().__init__(items)
        self.mask_confidence: list[float] = list(mask_confidence)
        self.attention: float | None = None


class Predictor:
    """One Mask R-CNN in eval mode on one device.

    Args:
        weights: 'coco' (torchvision COCO_V1, from the hub cache or downloaded),
            'coco-v2', 'none' (random init, COCO labels) or a checkpoint path.
        device: 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'.
        score_threshold: detections below it are dropped before any mask work;
            0 keeps every detection the box head produces (up to 100 per image).
        min_size, max_size: torchvision's resize bounds (None: from the
            checkpoint, else 800 / 1333).
        amp: fp16 autocast on CUDA. Off by default: on an H200 it was no faster than
            fp32 (cuDNN already uses TF32) at 12 MP, and it moves mask edges.
    """

    def __init__(self, weights: str | os.PathLike | LoadedWeights = "coco",
                 device: str = "auto", score_threshold: float = 0.5,
                 min_size: int | None = None, max_size: int | None = None,
                 arch: str | None = None, allow_download: bool = True,
                 progress: ProgressFn | None = None, cancel: threading.Event | None = None,
                 detections_per_img: int = 100, amp: bool = False):
        self.amp = amp
        self.device = resolve_device(device)
        loaded = weights if isinstance(weights, LoadedWeights) else resolve_weights(
            weights, arch=arch, allow_download=allow_download, progress=progress, cancel=cancel)
        self.arch = loaded.arch
        self.model_id = loaded.model_id
        self.label_categories: list[Category | None] = loaded.label_categories
        # image files the model learnt from: an evaluation on them would flatter it
        self.trained_on: frozenset[str] = trained_files(loaded.checkpoint)
        self.min_size = min_size or loaded.min_size or 800
        self.max_size = max_size or loaded.max_size or 1333
        problem = size_problem(self.min_size, self.max_size)
        if problem:  # a checkpoint's own pair is checked on load: an argument is wrong
            raise UsageError(f"cannot predict at these sizes: {problem}")
        self.model = build_model(loaded.arch, loaded.num_classes, self.min_size, self.max_size,
                                 score_thresh=score_threshold,
                                 detections_per_img=detections_per_img, norm=loaded.norm,
                                 anchor_sizes=loaded.anchor_sizes)
        if loaded.state_dict is not None:
            load_state(self.model, loaded.state_dict, self.model_id, loaded.arch)
        self.model.eval().to(self.device)
        self.score_threshold = score_threshold

    @classmethod
    def from_model(cls, model, label_categories: list[Category | None], device,
                   model_id: str, arch: str = "") -> "Predictor":
        """Predict with a model that lives elsewhere (training validates through this).
        The caller switches it to eval() and back."""
        self = cls.__new__(cls)
        self.device, self.amp = torch.device(device), False
        self.model, self.label_categories, self.model_id = model, label_categories, model_id
        self.arch = arch
        self.trained_on = frozenset()
        self.min_size = int(model.transform.min_size[-1])
        self.max_size = int(model.transform.max_size)
        return self

    # ----------------------------------------------------------------- settings
    @property
    def score_threshold(self) -> float:
        return float(self.model.roi_heads.score_thresh)

    @score_threshold.setter
    def score_threshold(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"score threshold must be within [0, 1], got {value}")
        self.model.roi_heads.score_thresh = float(value)

    @property
    def categories(self) -> list[Category]:
        """The categories this model can report, in label order."""
        return [c for c in self.label_categories if c is not None]

    def load_state_dict(self, state_dict: dict, model_id: str) -> None:
        """Swap in new weights of the same shape (e.g. after fine-tuning)."""
        load_state(self.model, state_dict, model_id, self.arch)
        self.model_id = model_id

    # ---------------------------------------------------------------- inference
    def _autocast(self):
        if self.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    @staticmethod
    def _check(cancel: threading.Event | None) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("prediction cancelled")

    # ------------------------------------------------------------- model assist
    @property
    def supports_assist(self) -> bool:
        """Box -> mask and click -> instance run on this architecture's own heads
        (model/net/assist.py); other models get the classical fallback."""
        return self.arch in ("maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2")

    # the assist.Assistant interface, on this model's own heads
    def knows_class(self, category_id: int | None) -> bool:
        return assist.knows_class(self, category_id)

    def assist_boxes(self, image: np.ndarray, image_id, boxes: list, category_ids: list,
                     cache: assist.FeatureCache) -> list[assist.BoxMask]:
        return assist.boxes_on_cache(self, image, image_id, boxes, category_ids, cache)

    def assist_candidates(self, image: np.ndarray, image_id,
                          cache: assist.FeatureCache) -> list[Instance]:
        """Every detection down to a low score, best first: what a click chooses from."""
        return assist.candidates_on_cache(self, image, image_id, cache)

    def to_tensor(self, rgb: np.ndarray) -> torch.Tensor:
        if not (isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3
                and rgb.dtype == np.uint8):
            raise ValueError("predict expects an HxWx3 RGB uint8 array, got "
                             f"{getattr(rgb, 'shape', None)} {getattr(rgb, 'dtype', type(rgb))}")
        h, w = rgb.shape[:2]
        scale = min(self.min_size / min(h, w), self.max_size / max(h, w))
        if int(min(h, w) * scale) < 1:  # torchvision's resize would make it 0 pixels
            raise UnusableImage(f"the image is {w}x{h}: at the model's size (shorter side "
                                f"{self.min_size}, longer at most {self.max_size}) its short "
                                "side would be under one pixel")
        t = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device, non_blocking=True)
        return t.permute(2, 0, 1).float().div_(255.0)

    def predict(self, rgb: np.ndarray, cancel: threading.Event | None = None) -> Predictions:
        return self.predict_batch([rgb], cancel)[0]

    @torch.inference_mode()
    def predict_batch(self, images: list[np.ndarray],
                      cancel: threading.Event | None = None) -> list[Predictions]:
        """Instances per image, best score first, masks cropped to their bbox."""
        if not images:
            return []
        model = self.model
        sizes = [(int(im.shape[0]), int(im.shape[1])) for im in images]
        tensors = [self.to_tensor(im) for im in images]
        self._check(cancel)
        with self._autocast():
            batch, _ = model.transform(tensors)
            del tensors
            self._check(cancel)
            features = model.backbone(batch.tensors)
            self._check(cancel)
            return self._heads(batch, features, sizes, cancel)

    @torch.inference_mode()
    def predict_features(self, feats, cancel: threading.Event | None = None) -> Predictions:
        """Predict from an image's features computed before (model/net/assist.py keeps them,
        so the image's box and click tools then cost only the heads)."""
        self._check(cancel)
        with self._autocast():
            return self._heads(feats.batch, feats.maps, [feats.original], cancel)[0]

    def _heads(self, batch, features, sizes, cancel) -> list[Predictions]:
        model = self.model
        proposals, _ = model.rpn(batch, features)
        self._check(cancel)
        detections, _ = model.roi_heads(features, proposals, batch.image_sizes)
        del proposals
        results = []
        for det, resized, (h, w) in zip(detections, batch.image_sizes, sizes):
            self._check(cancel)
            boxes = resize_boxes(det["boxes"].float(), resized, (h, w))
            crops = paste_masks_cropped(det["masks"], boxes, h, w, MASK_THRESHOLD)
            scores = det["scores"].float().cpu().tolist()
            labels = det["labels"].cpu().tolist()
            confidence = mask_confidence(det["masks"])
            out = Predictions()
            for (mask, offset), score, label, conf in zip(crops, scores, labels, confidence):
                cat = self.label_categories[label] if label < len(self.label_categories) else None
                if cat is None or mask.size == 0:
                    continue  # an unmapped label (COCO 'N/A') or a mask under threshold
                out.append(Instance(cat.id, mask, offset, score=score, source="model",
                                    review="unreviewed", model=self.model_id))
                out.mask_confidence.append(conf)
            results.append(out)
        return results


def mask_confidence(probs: torch.Tensor) -> list[float]:
    """(N, 1, M, M) mask probabilities -> N confidences in [0, 1]: the mean of 2p - 1
    where p > 0.5 (0 for a mask with no such pixel). Computed on the head's small
    output, so it costs nothing beside the pasting."""
    if probs.shape[0] == 0:
        return []
    p = probs.float().flatten(1)
    inside = p > MASK_THRESHOLD
    total = ((2 * p - 1) * inside).sum(1)
    n = inside.sum(1).clamp(min=1)
    return (total / n).clamp(0, 1).cpu().tolist()
