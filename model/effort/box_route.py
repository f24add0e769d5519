"""Box -> mask: the model's mask head only while it beats the classical route
(model.net.assist.FALLBACK) on the version's reviewed objects (issue 29).

A weak model's mask from a box was measured worse than the inscribed ellipse (1.17 to
1.37 times the ellipse's cost), yet the box tool used it whenever a model was loaded.
The evidence: for each object a person finished under the version, the mask each route
gives from the object's box, against the final mask. The model answers only once
MIN_OBJECTS objects say its mean IoU is higher; until then, and when it is not, the
classical route does. The app's box tool (app/inference/gate.py) and the simulated
annotator's box route (routes.py) both ask `use_model`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from model.data.annotations import Instance
from model.data.masks import Offset
from model.effort.matching import mask_iou

Box = tuple[float, float, float, float]
Masks = Callable[[list[Box]], list[tuple[np.ndarray, Offset]]]  # a mask per box
MIN_OBJECTS = 5  # objects of a version's own reviews before its mask head may answer


@dataclass
class RouteScore:
    """Summed IoUs of each route's mask against the final masks, over `objects`."""
    objects: int = 0
    model: float = 0.0
    classical: float = 0.0

    def add(self, pairs: Iterable[tuple[float, float]]) -> "RouteScore":
        for m, c in pairs:
            self.objects += 1
            self.model += float(m)
            self.classical += float(c)
        return self

    @property
    def mean_model(self) -> float | None:
        return self.model / self.objects if self.objects else None

    @property
    def mean_classical(self) -> float | None:
        return self.classical / self.objects if self.objects else None

    def to_json(self) -> dict:
        r = (lambda v: None if v is None else round(v, 4))
        return {"objects": self.objects, "model_iou": r(self.mean_model),
                "classical_iou": r(self.mean_classical), "uses_model": use_model(self)}


def use_model(score: RouteScore | None, min_objects: int = MIN_OBJECTS) -> bool:
    """The one rule: the model's mask head answers a box only while it beats the
    classical route on at least min_objects of the version's reviewed objects."""
    return bool(score is not None and score.objects >= min_objects
                and score.model > score.classical)


def box_of(inst: Instance) -> Box:
    x, y, w, h = inst.bbox
    return (float(x), float(y), float(x + w), float(y + h))


def reviewed(final: Sequence[Instance]) -> list[Instance]:
    """The objects that count: neither crowd regions nor empty masks."""
    return [f for f in final if not f.iscrowd and f.mask.size and f.mask.any()]


def compare(final: Sequence[Instance], model_masks: Masks,
            classical: Callable[[Box], tuple[np.ndarray, Offset]]) -> list[tuple[float, float]]:
    """(model IoU, classical IoU) for each reviewed object, each route given its box."""
    objs = reviewed(final)
    if not objs:
        return []
    boxes = [box_of(f) for f in objs]
    got = model_masks(boxes)
    out = []
    for f, b, (mm, mo) in zip(objs, boxes, got):
        cm, co = classical(b)
        out.append((mask_iou(mm, mo, f.mask, f.offset), mask_iou(cm, co, f.mask, f.offset)))
    return out
