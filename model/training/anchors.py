"""Small objects: the RPN's anchors fitted to the boxes a model is trained on, and the
native training size of a dataset.

torchvision's FPN gives each of its five levels one anchor size, 32 to 512 pixels (three
aspect ratios each). A nucleus of 5-30 pixels is below the smallest: the RPN finds no
anchor it overlaps well (IoU 0.7), so each object gets only its one best low-quality
match, and the proposals it learns from are few. The fit chooses the sizes that give
the most boxes an anchor of IoU 0.7, computed on the boxes as torchvision lays its
anchors out (a size that falls between two levels' sizes, or on a coarse level's grid,
fits worse than its pixels suggest). The sizes can change without changing
any parameter's shape (the head predicts per location and aspect ratio, three either
way), so pretrained weights still load; a checkpoint stores the sizes it was trained
with, and the Predictor builds its model with them (model.net.build).

Upscaling the images instead (a larger min_size) costs compute with the square of the
scale on every image; fitted anchors cost nothing. bench/learn.py measures both.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from model.net.build import DEFAULT_ANCHORS

SMALLEST = 4  # P2's stride: a smaller anchor would fall between its cells


STRIDES = (4, 8, 16, 32, 64)  # the FPN levels' strides (P2..P6)
RATIOS = (0.5, 1.0, 2.0)  # torchvision's aspect ratios, three anchors a location
POSITIVE = 0.7  # the RPN's IoU for a positive anchor (below it, only each box's best one)
SAMPLE = 2000  # boxes the fit looks at (every k-th of more)
BASES = range(SMALLEST, DEFAULT_ANCHORS[0] + 1)  # the finest level's size, doubling upwards


def input_boxes(records: Iterable, min_size: int, max_size: int) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 of every positive instance's box, in pixels of the model's input
    (each image resized as torchvision resizes it: shorter side min_size, longer at most
    max_size). Images of unknown size are left out."""
    out: list[tuple] = []
    for rec in records:
        if not rec.width or not rec.height:
            continue
        scale = min(min_size / min(rec.width, rec.height), max_size / max(rec.width, rec.height))
        for inst in rec.instances:
            if not inst.is_positive:
                continue
            h, w = inst.mask.shape
            if w and h:
                x, y = inst.offset
                out.append((x * scale, y * scale, (x + w) * scale, (y + h) * scale))
    return np.asarray(out, float).reshape(-1, 4)


def best_iou(boxes: np.ndarray, sizes: tuple[int, ...]) -> np.ndarray:
    """Each box's best IoU with an anchor of these sizes, as torchvision lays them out (one
    size a level, three aspect ratios, centred on every stride-th pixel): only the four
    centres around a box's centre can hold its best anchor of a level."""
    best = np.zeros(len(boxes))
    if not len(boxes):
        return best
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for size, stride in zip(sizes, STRIDES):
        for r in RATIOS:
            hr = math.sqrt(r)
            ws, hs = size / hr, size * hr
            half = np.round(np.array([-ws, -hs, ws, hs]) / 2)  # torchvision rounds them
            for dx in (0, 1):
                for dy in (0, 1):
                    ax = (np.floor(cx / stride) + dx) * stride
                    ay = (np.floor(cy / stride) + dy) * stride
                    iw = np.minimum(boxes[:, 2], ax + half[2]) - \
                        np.maximum(boxes[:, 0], ax + half[0])
                    ih = np.minimum(boxes[:, 3], ay + half[3]) - \
                        np.maximum(boxes[:, 1], ay + half[1])
                    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
                    union = area + (half[2] - half[0]) * (half[3] - half[1]) - inter
                    best = np.maximum(best, inter / union)
    return best


def fit_anchor_sizes(boxes: np.ndarray, default: tuple[int, ...] = DEFAULT_ANCHORS
                     ) -> tuple[int, ...] | None:
    """Anchor sizes for these boxes (input pixels), or None when torchvision's fit them as
    well. The finest level's size is chosen from SMALLEST to the default's (the others
    double from it, as torchvision's do) to give the most boxes an anchor of IoU >= 0.7:
    a positive of their own in the RPN, where the others get only their best match (ties:
    the higher mean best IoU, then the larger size)."""
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    if not len(boxes):
        return None
    boxes = boxes[::max(1, len(boxes) // SAMPLE)]

    def score(sizes):
        iou = best_iou(boxes, sizes)
        return float((iou >= POSITIVE).mean()), float(iou.mean())
    # largest first: of sizes that fit equally well, the one nearest torchvision's
    chosen = max((tuple(b * 2 ** k for k in range(len(default))) for b in reversed(BASES)),
                 key=score)
    return chosen if score(chosen) > score(default) else None


def native_size(records: Iterable, cap: int = 1333) -> tuple[int, int] | None:
    """(min_size, max_size) at which the images keep their own pixels: the median shorter
    side, and the median longer side (never below it); None when no size is known. Within
    the sizes a checkpoint may hold (model/net/sizes.py); `cap` bounds the shorter side
    (a 6000-pixel photo is not trained on at full size)."""
    from model.net.sizes import MAX_SIDE, MIN_SIDE
    known = [(min(r.width, r.height), max(r.width, r.height)) for r in records
             if r.width and r.height]
    if not known:
        return None
    short = int(np.median([s for s, _ in known]))
    long = int(np.median([lg for _, lg in known]))
    lo = min(max(short, MIN_SIDE), cap, MAX_SIDE)
    hi = min(max(round(long * lo / max(short, 1)), lo), MAX_SIDE)
    return lo, hi
