"""The model's routes the simulated annotator can use, as the GUI's tools do
(app/inference/assist_jobs.py), through the predictor's assist interface
(model.net.predictor.Predictor.assist_boxes / assist_candidates): box -> mask on the
model's heads, and click -> instance from the model's candidates. An image's FPN
features are computed once (keyed by its pixels) and shared by both routes."""
from __future__ import annotations

import hashlib

import numpy as np

from model.data.masks import Offset
from model.effort.draw import Box, BoxToMask, Candidates


def _key(image: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).hexdigest()


def _cache(cache, size: int):
    if cache is not None:
        return cache
    from model.net import assist as A
    return A.FeatureCache(size)


def model_box_to_mask(predictor, cache_size: int = 2, cache=None) -> BoxToMask:
    """box_to_mask from a predictor: each box costs only the heads; the box head picks
    the class, as the GUI's box tool does when no class was chosen."""
    cache = _cache(cache, cache_size)

    def route(image: np.ndarray | None, box: Box) -> tuple[np.ndarray, Offset]:
        if image is None:
            raise ValueError("the model's box -> mask route needs the image's pixels")
        got = predictor.assist_boxes(image, _key(image), [tuple(box)], [None], cache)[0]
        return got.mask, got.offset
    return route


def model_candidates(predictor, cache_size: int = 2, cache=None) -> Candidates:
    """candidates(image) from a predictor: every detection down to a low score, best
    first, what the GUI's click tool chooses from (the last image's are kept)."""
    cache = _cache(cache, cache_size)
    last: dict[str, list] = {}

    def candidates(image: np.ndarray | None) -> list:
        if image is None:
            raise ValueError("the model's click -> instance route needs the image's pixels")
        key = _key(image)
        if key not in last:
            last.clear()
            last[key] = list(predictor.assist_candidates(image, key, cache))
        return last[key]
    return candidates


def model_routes(predictor, cache_size: int = 2) -> tuple[BoxToMask, Candidates]:
    """Both routes on one feature cache."""
    cache = _cache(None, cache_size)
    return (model_box_to_mask(predictor, cache=cache),
            model_candidates(predictor, cache=cache))
