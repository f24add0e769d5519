"""The simulated annotator over a whole dataset: each ground-truth image against what
the tool offered for it (a predictions file, matched by image id and file name), the
totals, and the final masks as a dataset with the ground truth's ids.

The images are played in a review queue's order (model/editing/queue.py, the one the
app's image list and review keys walk): the file order by default, or the attention
order, the images the model is least sure of first (review_order). The order matters
where something learns as it goes (the offer gate, the box route)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from model.data.annotations import Category, Dataset, ImageRecord, Instance
from model.data.images import read_image
from model.editing.queue import FILE, ReviewQueue
from model.effort.action_costs import Tally
from model.effort.annotator import TAU, ImageEffort, simulate_image
from model.effort.glance import Experience
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
        played = {r.image_id: r for r in self.per_image}
        for src in truth.images:  # the ground truth's order, whatever order they were played in
            r = played.get(src.id)
            if r is None:
                continue
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


def _matched(predictions: Dataset | None) -> Callable[[ImageRecord], ImageRecord | None]:
    """A ground-truth image's record in `predictions`: by id if the file name agrees,
    else by file name."""
    if predictions is None:
        return lambda rec: None
    by_id = {rec.id: rec for rec in predictions.images}
    by_name = {rec.file_name: rec for rec in predictions.images}

    def matched(rec: ImageRecord) -> ImageRecord | None:
        got = by_id.get(rec.id)
        if got is None or got.file_name != rec.file_name:
            got = by_name.get(rec.file_name, got)
        return got
    return matched


def _offered_for(predictions: Dataset | None) -> Callable[[ImageRecord], list[Instance]]:
    matched = _matched(predictions)

    def offered(rec: ImageRecord) -> list[Instance]:
        got = matched(rec)
        return [] if got is None else [i for i in got.instances if i.review != "rejected"]
    return offered


def review_order(truth: Dataset, predictions: Dataset | None, order: str = FILE) -> ReviewQueue:
    """The app's review queue over truth's images: FILE, or ATTENTION by the attention
    `predict` stored on each image's predictions (never predicted: last, in file order)."""
    matched = _matched(predictions)
    return ReviewQueue(truth.images, order=order,
                       attention=lambda rec: getattr(matched(rec), "attention", None))


def simulate_dataset(truth: Dataset, predictions: Dataset | None, *, iou: float = TAU,
                     box_to_mask: BoxToMask | None = None,
                     candidates: Candidates | None = None,
                     progress: Callable[[], None] | None = None,
                     gate: OnlineGate | None = None,
                     order: ReviewQueue | None = None) -> DatasetEffort:
    """Every image of `truth` against its predictions (none: the no-model cost).

    box_to_mask and candidates, as in simulate_image; with either, each image's pixels
    are read (its errors propagate: model.errors.ImageReadError names the file). A
    box_to_mask with a `learn` (routes.GatedBoxRoute) learns from each image's final
    masks once it is played. gate: the images are played in order and each is offered
    what the gate shows after the images before it; its predictions are then priced
    against the final masks, as the app fits on the images a person finished.
    order: a review queue over truth's images; they are played in its order, its filter
    applied (default: every image, in file order)."""
    offered = _offered_for(predictions)
    out = DatasetEffort(iou)
    queue = order if order is not None else ReviewQueue(truth.images)
    experience = Experience()  # one person over the images, learning their own strokes
    for row in queue.visible():
        rec = queue.images[row]
        truth.ensure_size(rec)
        image: np.ndarray | None = None
        if box_to_mask is not None or candidates is not None:
            image = read_image(truth.image_path(rec))
        preds = offered(rec)
        decision = None if gate is None else gate.decision
        shown = preds if gate is None else gate.offered(preds)
        # offers hidden because none pays on this version: the person, told so, does not
        # click for the same model's candidates either (they are its offers, one at a time)
        clicks = None if decision is not None and decision.hidden else candidates
        effort = simulate_image(rec.instances, shown, rec.height, rec.width, iou=iou,
                                box_to_mask=box_to_mask, image=image, candidates=clicks,
                                experience=experience)
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
