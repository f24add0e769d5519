"""How much an image needs a person: one number in [0, 1] from the model's own outputs,
higher first in the review queue (issue 20, section 3).

Three candidates, compared by bench/loop.py (--attention-bench) against what the
simulated annotator then spends on each image:
  band  the detection scores in the uncertain band: mean of 1 - |2s - 1| over the
        detections (a score of 0.5 counts 1, 0.05 or 0.95 almost 0);
  mask  the mask head's confidence: 1 - the score-weighted mean of each mask's
        confidence (Predictions.mask_confidence, kept by the Predictor before it
        thresholds the probabilities);
  flip  disagreement with the prediction of the horizontally flipped image: 1 - the
        matched mask IoU summed over both sets (Dice of the two instance sets), a
        standard active-learning signal for detection; it costs a second forward pass.
An image with no detection scores 0 on each (nothing the model is unsure of).
DEFAULT is the one the benchmark chose (see docs/app.md, "Review queue").
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from model.data.annotations import Instance
from model.editing.review import mask_iou
from model.net.predictor import Predictions, Predictor

METHODS = ("band", "mask", "flip")
DEFAULT = "mask"
MATCH_IOU = 0.5  # two instances with this much mask overlap are the same object


def band(scores: Sequence[float]) -> float:
    """Mean closeness of the scores to 0.5 (0 with no detection)."""
    if not scores:
        return 0.0
    return float(np.mean([1.0 - abs(2.0 * float(s) - 1.0) for s in scores]))


def mask(scores: Sequence[float], confidence: Sequence[float]) -> float:
    """1 - score-weighted mean mask confidence (0 with no detection)."""
    if not scores:
        return 0.0
    w = np.asarray(scores, float)
    c = np.asarray(confidence, float)
    if w.sum() <= 0:
        return float(1.0 - c.mean())
    return float(1.0 - (w * c).sum() / w.sum())


def flipped_back(instances: Sequence[Instance], width: int) -> list[Instance]:
    """Predictions of a horizontally flipped image, in the original image's pixels."""
    out = []
    for inst in instances:
        m, (x, y) = inst.mask, inst.offset
        out.append(Instance(inst.category_id, m[:, ::-1], (width - x - m.shape[1], y),
                            score=inst.score, source="model"))
    return out


def disagreement(a: Sequence[Instance], b: Sequence[Instance]) -> float:
    """1 - Dice of two instance sets: greedy one-to-one matching by mask IoU (same class,
    IoU >= MATCH_IOU); each match contributes its IoU. 0 when both are empty."""
    if not a and not b:
        return 0.0
    pairs = sorted(((mask_iou(p, q), i, j) for i, p in enumerate(a) for j, q in enumerate(b)
                    if p.category_id == q.category_id), reverse=True)
    used_a, used_b, total = set(), set(), 0.0
    for iou, i, j in pairs:
        if iou < MATCH_IOU:
            break
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        total += iou
    return float(1.0 - 2.0 * total / (len(a) + len(b)))


def flip(predictor: Predictor, rgb: np.ndarray, preds: Sequence[Instance]) -> float:
    """Disagreement between `preds` (of rgb) and the prediction of rgb flipped."""
    mirrored = predictor.predict(np.ascontiguousarray(rgb[:, ::-1]))
    return disagreement(list(preds), flipped_back(mirrored, rgb.shape[1]))


def scores_of(preds: Sequence[Instance]) -> list[float]:
    return [float(i.score) if i.score is not None else 1.0 for i in preds]


def attention(preds: Predictions, method: str = DEFAULT, predictor: Predictor | None = None,
              rgb: np.ndarray | None = None) -> float | None:
    """The image's attention by `method` (flip needs the predictor and the image); None
    for the mask method when `preds` carry no mask confidences (not a Predictor's)."""
    if method == "band":
        value = band(scores_of(preds))
    elif method == "mask":
        confidence = getattr(preds, "mask_confidence", None)
        if confidence is None or len(confidence) != len(preds):
            return None
        value = mask(scores_of(preds), confidence)
    elif method == "flip":
        if predictor is None or rgb is None:
            raise ValueError("the flip attention needs the predictor and the image")
        value = flip(predictor, rgb, preds)
    else:
        raise ValueError(f"unknown attention method {method!r}; one of {', '.join(METHODS)}")
    return round(min(max(value, 0.0), 1.0), 4)

