"""The simulated annotator over a whole dataset: each ground-truth image against what
the tool offered for it (a predictions file, matched by image id and file name), the
totals, and the final masks as a dataset with the ground truth's ids."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from model.data.annotations import Category, Dataset, ImageRecord, Instance
from model.data.images import read_image
from model.effort.actions import Tally
from model.effort.annotator import TAU, ImageEffort, simulate_image
from model.effort.draw import BoxToMask, Candidates, classical_box_to_mask
from model.effort.gate import Decision, OnlineGate
from model.effort.timings import seconds


@dataclass
class ImageResult:
    image_id: int
    file_name: str
    effort: ImageEffort
    gate: Decision | None = None  # what the offer gate showed on this image (auto)

    def to_json(self) -> dict:
        e = self.effort
        out = {"image_id": self.image_id, "file_name": self.file_name,
               "instances": e.instances, "actions": e.actions,
               "by_kind": e.tally.by_kind(), "gestures": e.tally.counts(),
               "seconds": round(seconds(e.tally), 1),
               "per_instance": [r.to_json() for r in e.per_instance]}
        if self.gate is not None:
            out["gate"] = self.gate.to_json()
        return out


@dataclass
class DatasetEffort:
    iou: float
    per_image: list[ImageResult] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    instances: int = 0

    @property
    def actions(self) -> int:
        return self.tally.actions

    @property
    def actions_per_instance(self) -> float:
        """Actions per ground-truth object (0 when there is none)."""
        return self.actions / self.instances if self.instances else 0.0

    @property
    def by_kind(self) -> dict[str, int]:
        return self.tally.by_kind()

    @property
    def seconds(self) -> float:
        return seconds(self.tally)

    @property
    def seconds_per_instance(self) -> float:
        """Seconds per ground-truth object (0 when there is none)."""
        return self.seconds / self.instances if self.instances else 0.0

    def how_counts(self) -> dict[str, int]:
        """How many objects (and rejected predictions) went each way."""
        out: dict[str, int] = {}
        for r in self.per_image:
            for rec in r.effort.per_instance:
                out[rec.how] = out.get(rec.how, 0) + 1
        return out

    def summary(self) -> dict:
        return {"iou": self.iou, "images": len(self.per_image), "instances": self.instances,
                "actions": self.actions,
                "actions_per_instance": round(self.actions_per_instance, 4),
                "by_kind": self.by_kind, "gestures": self.tally.counts(),
                "seconds": round(self.seconds, 1),
                "seconds_per_instance": round(self.seconds_per_instance, 2),
                "how": self.how_counts()}

    def to_json(self) -> dict:
        return {**self.summary(), "per_image": [r.to_json() for r in self.per_image]}

    def final_dataset(self, truth: Dataset) -> Dataset:
        """The final masks as a dataset: the ground truth's categories, images (ids,
        names, sizes) and, for each object, its annotation id."""
        out = Dataset([Category(c.id, c.name, c.supercategory, dict(c.extra))
                       for c in truth.categories], image_root=truth.image_root,
                      extra=dict(truth.extra))
        by_id = {rec.id: rec for rec in truth.images}
        for r in self.per_image:
            src = by_id[r.image_id]
            rec = ImageRecord(src.id, src.file_name, src.width, src.height,
                              extra=dict(src.extra), status="done")
            out.images.append(rec)
            gts = [g for g in src.instances if not g.iscrowd and g.mask.any()]
            for gt, f in zip(gts, r.effort.final):
                model_made = f.source in ("model", "edited")
                rec.instances.append(Instance(
                    gt.category_id, f.mask, f.offset, id=gt.id,
                    score=f.score if model_made else None,
                    source=f.source, review="accepted" if f.source == "model" else "unreviewed",
                    model=f.model if model_made else None))
        return out


def _offered_for(predictions: Dataset | None) -> Callable[[ImageRecord], list[Instance]]:
    if predictions is None:
        return lambda rec: []
    by_id = {rec.id: rec for rec in predictions.images}
    by_name = {rec.file_name: rec for rec in predictions.images}

    def offered(rec: ImageRecord) -> list[Instance]:
        got = by_id.get(rec.id)
        if got is None or got.file_name != rec.file_name:
            got = by_name.get(rec.file_name, got)
        return [] if got is None else [i for i in got.instances if i.review != "rejected"]
    return offered


def simulate_dataset(truth: Dataset, predictions: Dataset | None, *, iou: float = TAU,
                     box_to_mask: BoxToMask | None = None,
                     candidates: Candidates | None = None,
                     progress: Callable[[], None] | None = None,
                     gate: OnlineGate | None = None) -> DatasetEffort:
    """Every image of `truth` against its predictions (none: the no-model cost).

    box_to_mask and candidates, as in simulate_image; with either, each image's pixels
    are read (its errors propagate: model.errors.ImageReadError names the file). A
    box_to_mask with a `learn` (routes.GatedBoxRoute) learns from each image's final
    masks once it is played. gate: the images are played in order and each is offered
    what the gate shows after the images before it; its predictions are then priced
    against the final masks, as the app fits on the images a person finished."""
    offered = _offered_for(predictions)
    out = DatasetEffort(iou)
    for rec in truth.images:
        truth.ensure_size(rec)
        image: np.ndarray | None = None
        if box_to_mask is not None or candidates is not None:
            image = read_image(truth.image_path(rec))
        preds = offered(rec)
        decision = None if gate is None else gate.decision
        shown = preds if gate is None else gate.offered(preds)
        effort = simulate_image(rec.instances, shown, rec.height, rec.width, iou=iou,
                                box_to_mask=box_to_mask, image=image, candidates=candidates)
        out.per_image.append(ImageResult(rec.id, rec.file_name, effort, decision))
        if gate is not None:
            h, w = rec.height, rec.width
            gate.learn(preds, effort.final,
                       (lambda b: box_to_mask(image, b)) if box_to_mask is not None
                       else (lambda b: classical_box_to_mask(image, b, h, w)))
        learn = getattr(box_to_mask, "learn", None)
        if learn is not None and image is not None:
            learn(image, effort.final)
        out.tally += effort.tally
        out.instances += effort.instances
        if progress is not None:
            progress()
    return out
