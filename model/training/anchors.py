"""Small objects: the RPN's anchors fitted to the boxes a model is trained on, and the
native training size of a dataset.

torchvision's FPN gives each of its five levels one anchor size, 32 to 512 pixels (three
aspect ratios each). A nucleus of 5-30 pixels is below the smallest: the RPN finds no
anchor it overlaps well (IoU 0.7), so each object gets only its one best low-quality
match, and the proposals it learns from are few. The sizes can change without changing
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
PERCENTILE = 10  # the boxes the smallest anchor is fitted to: all but the smallest tenth


def box_sides(records: Iterable, min_size: int, max_size: int) -> list[float]:
    """sqrt(w * h) of every positive instance's box, in pixels of the model's input (each
    image resized as torchvision resizes it: shorter side min_size, longer at most
    max_size). Images of unknown size are left out."""
    out: list[float] = []
    for rec in records:
        if not rec.width or not rec.height:
            continue
        scale = min(min_size / min(rec.width, rec.height), max_size / max(rec.width, rec.height))
        for inst in rec.instances:
            if not inst.is_positive:
                continue
            h, w = inst.mask.shape
            if w and h:
                out.append(math.sqrt(w * h) * scale)
    return out


def fit_anchor_sizes(sides: list[float], default: tuple[int, ...] = DEFAULT_ANCHORS
                     ) -> tuple[int, ...] | None:
    """Anchor sizes for boxes of these sides, or None: the default ones fit (the boxes
    are not below the smallest anchor, or there are none). The levels keep doubling from
    the largest power of two at or below the boxes' 10th percentile, so nine boxes in ten
    have an anchor of their size or smaller on the finest level; never below SMALLEST."""
    if not sides:
        return None
    small = float(np.percentile(np.asarray(sides, float), PERCENTILE))
    if small >= default[0]:
        return None
    base = max(SMALLEST, 2 ** int(math.floor(math.log2(max(small, 1.0)))))
    return tuple(base * 2 ** k for k in range(len(default)))


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
    hi = min(max(long * lo // max(short, 1), lo), MAX_SIDE)
    return lo, hi
