"""The model's routes the simulated annotator can use, as the GUI's tools do
(app/inference/assist_jobs.py), through the predictor's assist interface
(model.net.predictor.Predictor.assist_boxes / assist_candidates): box -> mask on the
model's heads, and click -> instance from the model's candidates. An image's FPN
features are computed once (keyed by its pixels) and shared by both routes.

The box route asks the model only while box_route.use_model says it beats the
classical route on the objects learnt so far (GatedBoxRoute), as the app's box tool."""
from __future__ import annotations

import hashlib

import numpy as np

from model.data.annotations import Instance
from model.data.masks import Offset
from model.effort import box_route as R
from model.effort.draw import Box, BoxToMask, Candidates, classical_box_to_mask



def _key(image: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).hexdigest()


def _cache(cache, size: int):
    if cache is not None:
        return cache
    from model.net import assist as A
    return A.FeatureCache(size)


def model_masks(predictor, cache_size: int = 2, cache=None):
    """(image, boxes) -> a (mask, offset) per box from the model's heads; the box head
    picks the class, as the GUI's box tool does when no class was chosen."""
    cache = _cache(cache, cache_size)

    def masks(image: np.ndarray | None, boxes: list[Box]) -> list[tuple[np.ndarray, Offset]]:
        if image is None:
            raise ValueError("the model's box -> mask route needs the image's pixels")
        got = predictor.assist_boxes(image, _key(image), [tuple(b) for b in boxes],
                                     [None] * len(boxes), cache)
        return [(g.mask, g.offset) for g in got]
    return masks


def model_box_to_mask(predictor, cache_size: int = 2, cache=None) -> BoxToMask:
    """box_to_mask from a predictor: the model's heads, always."""
    masks = model_masks(predictor, cache_size, cache)

    def route(image: np.ndarray | None, box: Box) -> tuple[np.ndarray, Offset]:
        return masks(image, [box])[0]
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


class GatedBoxRoute:
    """box_to_mask that asks the model only while box_route.use_model says it beats the
    classical route on the objects learnt so far (`learn`, after each image)."""

    def __init__(self, masks):
        """masks(image, boxes) -> a (mask, offset) per box: the model's answers."""
        self._masks = masks
        self.score = R.RouteScore()

    @classmethod
    def from_predictor(cls, predictor, cache_size: int = 2, cache=None) -> "GatedBoxRoute":
        return cls(model_masks(predictor, cache_size, cache))

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


def model_routes(predictor, cache_size: int = 2) -> tuple[GatedBoxRoute, Candidates]:
    """Both routes on one feature cache: the gated box route and the click candidates."""
    cache = _cache(None, cache_size)
    return (GatedBoxRoute.from_predictor(predictor, cache=cache),
            model_candidates(predictor, cache=cache))
