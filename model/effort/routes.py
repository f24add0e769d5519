"""The box -> mask routes the simulated annotator can use, as the GUI's box tool does
(app/inference/assist_jobs.py): the current model's heads on the box, or the classical
fallback when there is no model."""
from __future__ import annotations

import hashlib

import numpy as np

from model.data.masks import Offset
from model.effort.annotator import Box, BoxToMask


def model_box_to_mask(predictor, cache_size: int = 2) -> BoxToMask:
    """box_to_mask from a model.net.predictor.Predictor: the image's FPN features are
    computed once (keyed by its pixels) and each box costs only the heads; the box
    head picks the class, as the GUI's box tool does when no class was chosen."""
    from model.net import assist as A

    cache = A.FeatureCache(cache_size)

    def route(image: np.ndarray | None, box: Box) -> tuple[np.ndarray, Offset]:
        if image is None:
            raise ValueError("the model's box -> mask route needs the image's pixels")
        key = hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).hexdigest()
        feats = cache.get(predictor, key, image)
        got = A.box_masks(predictor, feats, [box])[0]
        return got.mask, got.offset
    return route
