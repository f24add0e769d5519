"""One-to-one matching of what the tool offers to the ground truth, by mask IoU.

Masks are crops with offsets (the project's convention), so IoU is computed on the
union of the two rectangles only, never on full-image arrays. The matching is greedy
on IoU, highest first (ties: lower ground-truth index, then lower offer index), as
COCOeval matches detections: deterministic, and at the default threshold of 0.5 no
greedy choice can steal a better partner (an offer overlapping two objects by more
than half is impossible)."""
from __future__ import annotations

import numpy as np

from model.data.annotations import Instance
from model.data.masks import Offset
from model.editing.pixel_ops import mask_rect, patch_of, union_rect

MATCH_IOU = 0.5  # an offer overlapping an object less than this is rejected, not corrected


def mask_iou(a: np.ndarray, a_off: Offset, b: np.ndarray, b_off: Offset) -> float:
    """IoU of two cropped bool masks; 0 when both are empty."""
    rect = union_rect(mask_rect(a, a_off), mask_rect(b, b_off))
    if rect is None:
        return 0.0
    pa, pb = patch_of(a, a_off, rect), patch_of(b, b_off, rect)
    union = np.count_nonzero(pa | pb)
    return float(np.count_nonzero(pa & pb)) / union if union else 0.0


def instance_iou(a: Instance, b: Instance) -> float:
    return mask_iou(a.mask, a.offset, b.mask, b.offset)


def _boxes_meet(a: Instance, b: Instance) -> bool:
    ra, rb = mask_rect(a.mask, a.offset), mask_rect(b.mask, b.offset)
    return ra is not None and rb is not None and ra[0] < rb[2] and rb[0] < ra[2] \
        and ra[1] < rb[3] and rb[1] < ra[3]


def iou_matrix(truth: list[Instance], offered: list[Instance]) -> np.ndarray:
    """(len(truth), len(offered)) mask IoUs; pairs whose boxes do not meet cost nothing."""
    out = np.zeros((len(truth), len(offered)))
    for g, t in enumerate(truth):
        for p, o in enumerate(offered):
            if _boxes_meet(t, o):
                out[g, p] = instance_iou(t, o)
    return out


def match(truth: list[Instance], offered: list[Instance], threshold: float = MATCH_IOU
          ) -> tuple[dict[int, int], np.ndarray]:
    """{truth index: offered index} for pairs with IoU >= threshold, one-to-one, and
    the IoU matrix."""
    ious = iou_matrix(truth, offered)
    pairs = sorted(((-ious[g, p], g, p) for g, p in zip(*np.nonzero(ious >= threshold))))
    used_g, used_p, out = set(), set(), {}
    for _neg, g, p in pairs:
        if g not in used_g and p not in used_p:
            used_g.add(g)
            used_p.add(p)
            out[int(g)] = int(p)
    return out, ious
