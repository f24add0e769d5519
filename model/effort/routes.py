"""The box -> mask routes the simulated annotator can use, as the GUI's box tool does
(app/inference/assist_jobs.py): the current model's heads on the box, or the classical
fallback when there is no model, or (GatedBoxRoute) whichever box_route.use_model says."""
from __future__ import annotations

import hashlib

import numpy as np

from model.data.annotations import Instance
from model.data.masks import Offset
from model.effort import box_route as R
from model.effort.annotator import Box, BoxToMask, classical_box_to_mask


def _model_masks(predictor, cache_size: int = 2):
    """(image, boxes) -> a (mask, offset) per box from the model's heads; the image's
    FPN features are computed once (keyed by its pixels), each box costs only the heads.
    The box head picks the class, as the GUI's box tool does when no class was chosen."""
    from model.net import assist as A

    cache = A.FeatureCache(cache_size)

    def masks(image: np.ndarray | None, boxes: list[Box]) -> list[tuple[np.ndarray, Offset]]:
        if image is None:
            raise ValueError("the model's box -> mask route needs the image's pixels")
        key = hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).hexdigest()
        feats = cache.get(predictor, key, image)
        return [(g.mask, g.offset) for g in A.box_masks(predictor, feats, list(boxes))]
    return masks


def model_box_to_mask(predictor, cache_size: int = 2) -> BoxToMask:
    """box_to_mask from a model.net.predictor.Predictor (the model's heads, always)."""
    masks = _model_masks(predictor, cache_size)

    def route(image: np.ndarray | None, box: Box) -> tuple[np.ndarray, Offset]:
        return masks(image, [box])[0]
    return route


class GatedBoxRoute:
    """box_to_mask that asks the model only while box_route.use_model says it beats the
    classical route on the objects learnt so far (`learn`, after each image)."""

    def __init__(self, masks):
        """masks(image, boxes) -> a (mask, offset) per box: the model's answers."""
        self._masks = masks
        self.score = R.RouteScore()

    @classmethod
    def from_predictor(cls, predictor, cache_size: int = 2) -> "GatedBoxRoute":
        return cls(_model_masks(predictor, cache_size))

    @property
    def uses_model(self) -> bool:
        return R.use_model(self.score)

    def __call__(self, image: np.ndarray | None, box: Box) -> tuple[np.ndarray, Offset]:
        if self.uses_model:
            return self._masks(image, [box])[0]
        h, w = (image.shape[:2] if image is not None else (0, 0))
        return classical_box_to_mask(image, box, h, w)

    def learn(self, image: np.ndarray, final: list[Instance]) -> R.RouteScore:
        """Score both routes on an image's final objects (its pixels)."""
        h, w = image.shape[:2]
        self.score.add(R.compare(final, lambda boxes: self._masks(image, boxes),
                                 lambda b: classical_box_to_mask(image, b, h, w)))
        return self.score
