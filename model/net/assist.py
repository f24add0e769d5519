"""Model-assisted drawing with Mask R-CNN's own heads, and the classical fallbacks.

A user's box is a proposal: RoIAlign on the image's FPN features, then the box head
(for the class) and the mask head (for the mask), exactly as the model does for its
own detections. The features are computed once per image and kept, so each box costs
only the heads. The model that answers is the one being fine-tuned, so the help
improves with every round of the loop.

Without a usable model, `classical_mask` answers with GrabCut, an inscribed ellipse
or the filled box (bench/assist.py measures which is best).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.transform import resize_boxes

from model.data.annotations import Category, Instance
from model.data.masks import Offset, tight_crop
from model.net.postprocess import MASK_THRESHOLD, paste_masks_cropped

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels


@dataclass
class Features:
    """One image as the heads see it: the FPN maps of the resized image."""
    maps: OrderedDict
    batch: ImageList
    resized: tuple[int, int]  # (h, w) after torchvision's resize
    original: tuple[int, int]  # (h, w) of the image


@dataclass
class BoxMask:
    mask: np.ndarray
    offset: Offset
    category_id: int | None  # the dataset class the model gave (None: unknown)
    score: float  # the box head's probability of that class


class Heads(Protocol):
    """What these functions need of a predictor: its network and its label table.
    model.net.predictor.Predictor is one; this module does not import it, so the
    predictor builds its assist interface on these functions without a circle."""
    model: torch.nn.Module
    device: torch.device
    label_categories: list[Category | None]
    model_id: str

    def to_tensor(self, rgb: np.ndarray) -> torch.Tensor: ...


class Assistant(Protocol):
    """What the app's assist jobs and the simulated annotator need of the loaded model.
    Predictor answers on its own heads (with `boxes_on_cache` and `candidates_on_cache`);
    the tests' fakes answer with scripted masks."""
    model_id: str
    supports_assist: bool

    def knows_class(self, category_id: int | None) -> bool: ...

    def assist_boxes(self, image: np.ndarray, image_id, boxes: list, category_ids: list,
                     cache: "FeatureCache") -> list[BoxMask]: ...

    def assist_candidates(self, image: np.ndarray, image_id,
                          cache: "FeatureCache") -> list[Instance]: ...


@torch.inference_mode()
def compute_features(predictor: Heads, rgb: np.ndarray) -> Features:
    model = predictor.model
    batch, _ = model.transform([predictor.to_tensor(rgb)])
    maps = model.backbone(batch.tensors)
    return Features(maps, batch, tuple(batch.image_sizes[0]), tuple(rgb.shape[:2]))


def to_resized(boxes: np.ndarray, feats: Features, device) -> torch.Tensor:
    """Boxes in image pixels -> the resized image's pixels (resize_boxes, inverted)."""
    b = torch.as_tensor(np.asarray(boxes, np.float32).reshape(-1, 4), device=device)
    return resize_boxes(b, feats.original, feats.resized)


@torch.inference_mode()
def heads(predictor: Heads, feats: Features, boxes_resized: torch.Tensor,
          labels: list[int | None]) -> tuple[torch.Tensor, list[int], list[float]]:
    """The box head's class and the mask head's probabilities for these RoIs.

    labels: a model label per box, or None to take the box head's best class.
    Returns (N, 1, M, M) probabilities, the labels used and their scores.
    """
    rh = predictor.model.roi_heads
    sizes = [feats.resized]
    box_feats = rh.box_head(rh.box_roi_pool(feats.maps, [boxes_resized], sizes))
    class_logits, _ = rh.box_predictor(box_feats)
    probs = F.softmax(class_logits, -1)
    used = [int(probs[i, 1:].argmax()) + 1 if lab is None else int(lab)
            for i, lab in enumerate(labels)]
    idx = torch.arange(len(used), device=probs.device)
    label_t = torch.as_tensor(used, device=probs.device)
    scores = probs[idx, label_t].float().cpu().tolist()
    mask_logits = rh.mask_predictor(rh.mask_head(rh.mask_roi_pool(feats.maps, [boxes_resized],
                                                                  sizes)))
    return mask_logits[idx, label_t][:, None].sigmoid(), used, scores


def model_label(predictor: Heads, category_id: int | None) -> int | None:
    """The model's label for a dataset class, when the model knows it."""
    if category_id is None:
        return None
    for k, c in enumerate(predictor.label_categories):
        if c is not None and c.id == category_id:
            return k
    return None


def knows_class(predictor: Heads, category_id: int | None) -> bool:
    """Whether the model has a label for this dataset class (its head can draw it)."""
    return model_label(predictor, category_id) is not None


def boxes_on_cache(predictor: Heads, image: np.ndarray, image_id, boxes: list,
                   category_ids: list, cache: "FeatureCache") -> list[BoxMask]:
    """A BoxMask per box, on the image's FPN features kept in `cache` under image_id."""
    feats = cache.get(predictor, image_id, image)
    return box_masks(predictor, feats, [tuple(b) for b in boxes], category_ids)


def candidates_on_cache(predictor: Heads, image: np.ndarray, image_id,
                        cache: "FeatureCache") -> list[Instance]:
    """`candidates` on the image's FPN features kept in `cache` under image_id."""
    return candidates(predictor, cache.get(predictor, image_id, image))


def box_masks(predictor: Heads, feats: Features, boxes: list[Box],
              category_ids: list[int | None] | None = None) -> list[BoxMask]:
    """A mask per box from the model's own heads. A class the model knows is used as
    given; otherwise the box head picks one."""
    if not boxes:
        return []
    category_ids = category_ids or [None] * len(boxes)
    labels = [model_label(predictor, c) for c in category_ids]
    b = to_resized(np.array(boxes), feats, predictor.device)
    probs, used, scores = heads(predictor, feats, b, labels)
    orig = torch.as_tensor(np.asarray(boxes, np.float32), device=probs.device)
    h, w = feats.original
    crops = paste_masks_cropped(probs, orig, h, w, MASK_THRESHOLD)
    out = []
    for (mask, offset), label, score, box in zip(crops, used, scores, boxes):
        cat = predictor.label_categories[label] if label < len(predictor.label_categories) else None
        mask, offset = clip_to_box(mask, offset, box, w, h)
        out.append(BoxMask(mask, offset, None if cat is None else cat.id, score))
    return out


def clip_to_box(mask: np.ndarray, offset: Offset, box: Box, w: int, h: int
                ) -> tuple[np.ndarray, Offset]:
    """The part of a mask inside the user's box (the mask head's paste pads by a pixel)."""
    r = _clip_box(box, w, h)
    if r is None or mask.size == 0:
        return np.zeros((0, 0), bool), (0, 0)
    x0, y0 = max(r[0], offset[0]), max(r[1], offset[1])
    x1, y1 = min(r[2], offset[0] + mask.shape[1]), min(r[3], offset[1] + mask.shape[0])
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0), bool), (0, 0)
    return tight_crop(mask[y0 - offset[1]:y1 - offset[1], x0 - offset[0]:x1 - offset[0]],
                      (x0, y0))


@torch.inference_mode()
def candidates(predictor: Heads, feats: Features, score_floor: float = 0.01,
               max_detections: int = 300) -> list[Instance]:
    """Every detection down to `score_floor` (the RPN's proposals refined by the box
    head, as in inference), best first: what click-to-segment chooses from."""
    model, rh = predictor.model, predictor.model.roi_heads
    saved = rh.score_thresh, rh.detections_per_img
    rh.score_thresh, rh.detections_per_img = score_floor, max_detections
    try:
        proposals, _ = model.rpn(feats.batch, feats.maps)
        det = rh(feats.maps, proposals, feats.batch.image_sizes)[0][0]
    finally:
        rh.score_thresh, rh.detections_per_img = saved
    h, w = feats.original
    boxes = resize_boxes(det["boxes"].float(), feats.resized, (h, w))
    crops = paste_masks_cropped(det["masks"], boxes, h, w, MASK_THRESHOLD)
    out = []
    for (mask, offset), score, label in zip(crops, det["scores"].tolist(),
                                            det["labels"].tolist()):
        cat = predictor.label_categories[label] if label < len(predictor.label_categories) else None
        if cat is not None and mask.size:
            out.append(Instance(cat.id, mask, offset, score=score, source="model",
                                model=predictor.model_id))
    return out


def covering(cands: list[Instance], x: int, y: int) -> list[Instance]:
    """Candidates whose mask covers pixel (x, y), best score first."""
    hits = []
    for inst in cands:
        ox, oy = inst.offset
        mh, mw = inst.mask.shape
        if ox <= x < ox + mw and oy <= y < oy + mh and inst.mask[y - oy, x - ox]:
            hits.append(inst)
    return sorted(hits, key=lambda i: -(i.score or 0.0))


# --------------------------------------------------------------------- classical

def _clip_box(box: Box, w: int, h: int) -> tuple[int, int, int, int] | None:
    x0, y0 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
    x1, y1 = min(int(np.ceil(box[2])), w), min(int(np.ceil(box[3])), h)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def box_fill(box: Box, w: int, h: int) -> tuple[np.ndarray, Offset]:
    r = _clip_box(box, w, h)
    if r is None:
        return np.zeros((0, 0), bool), (0, 0)
    return np.ones((r[3] - r[1], r[2] - r[0]), bool), (r[0], r[1])


def ellipse(box: Box, w: int, h: int) -> tuple[np.ndarray, Offset]:
    """The ellipse inscribed in the box (pixel centres inside it)."""
    r = _clip_box(box, w, h)
    if r is None:
        return np.zeros((0, 0), bool), (0, 0)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    ax, ay = max((box[2] - box[0]) / 2, 0.5), max((box[3] - box[1]) / 2, 0.5)
    yy, xx = np.mgrid[r[1]:r[3], r[0]:r[2]]
    inside = ((xx + 0.5 - cx) / ax) ** 2 + ((yy + 0.5 - cy) / ay) ** 2 <= 1.0
    return tight_crop(inside, (r[0], r[1]))


GRABCUT_SIDE = 200  # GrabCut runs on the box scaled to at most this many pixels a side


def grabcut(rgb: np.ndarray, box: Box, iterations: int = 4) -> tuple[np.ndarray, Offset]:
    """GrabCut initialised with the box, on a margin around it, scaled down for speed;
    the foreground inside the box."""
    h, w = rgb.shape[:2]
    r = _clip_box(box, w, h)
    if r is None:
        return np.zeros((0, 0), bool), (0, 0)
    bw, bh = r[2] - r[0], r[3] - r[1]
    m = max(4, int(0.15 * max(bw, bh)))
    c = (max(r[0] - m, 0), max(r[1] - m, 0), min(r[2] + m, w), min(r[3] + m, h))
    crop = rgb[c[1]:c[3], c[0]:c[2]]
    scale = min(1.0, GRABCUT_SIDE / max(crop.shape[:2]))
    small = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) \
        if scale < 1 else crop
    rect = (int((r[0] - c[0]) * scale), int((r[1] - c[1]) * scale),
            max(1, int(bw * scale)), max(1, int(bh * scale)))
    mask = np.zeros(small.shape[:2], np.uint8)
    if bw < 3 or bh < 3 or rect[2] < 2 or rect[3] < 2:
        return box_fill(box, w, h)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(np.ascontiguousarray(small[:, :, ::-1]), mask, rect, bgd, fgd, iterations,
                    cv2.GC_INIT_WITH_RECT)
    except cv2.error:
        return box_fill(box, w, h)
    fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    if scale < 1:
        fg = cv2.resize(fg, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_NEAREST)
    full = np.zeros(crop.shape[:2], bool)
    y0, x0 = r[1] - c[1], r[0] - c[0]
    full[y0:y0 + bh, x0:x0 + bw] = fg[y0:y0 + bh, x0:x0 + bw].astype(bool)
    if not full.any():
        return box_fill(box, w, h)
    return tight_crop(full, (c[0], c[1]))


CLASSICAL = {"grabcut": grabcut, "ellipse": lambda rgb, box: ellipse(box, rgb.shape[1],
                                                                        rgb.shape[0]),
             "box": lambda rgb, box: box_fill(box, rgb.shape[1], rgb.shape[0])}
# the best classical method measured by bench/assist.py (mean mask IoU, ground-truth
# boxes as prompts): ellipse 0.794 / 0.595, GrabCut 0.777 / 0.519, box 0.750 / 0.550
# on nuclei / coco_sample
FALLBACK = "ellipse"
CLASSICAL_NAMES = {"ellipse": "the inscribed ellipse", "grabcut": "GrabCut", "box": "the box"}


def classical_mask(rgb: np.ndarray, box: Box, method: str = FALLBACK
                   ) -> tuple[np.ndarray, Offset]:
    return CLASSICAL[method](rgb, box)


class FeatureCache:
    """The FPN features of the last few images, for one model: an image's first
    prediction fills it, and every box or click after that costs only the heads."""

    def __init__(self, size: int = 2):
        self.size = size
        self._items: OrderedDict = OrderedDict()

    def get(self, predictor: Heads, key, rgb: np.ndarray) -> Features:
        hit = self._items.get(key)
        if hit is not None and hit[0] is predictor and hit[1].original == tuple(rgb.shape[:2]):
            self._items.move_to_end(key)
            return hit[1]
        feats = compute_features(predictor, rgb)
        self.put(predictor, key, feats)
        return feats

    def put(self, predictor: Heads, key, feats: Features) -> None:
        self._items[key] = (predictor, feats)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __contains__(self, key) -> bool:
        return key in self._items

    def clear(self) -> None:
        self._items.clear()
