"""The effort a person really spends in the app, image by image, in the scheme of
action_costs.py, and against which model version's predictions.

The record is kept in step with the undo history: the Document's one apply path calls
`note(edit, forward)` for every step it applies or reverts, and each user Edit says
which gestures it stands for (`Edit.gestures`), so an undo takes its actions back and a
redo gives them again. Besides the gestures it remembers, per annotation, the instances
a person touched: where they came from (the model, or drawn by a person) and, for a
model's instance, the model's own mask, so the IoU from it to the final mask can be
measured whenever the dataset is saved (store.py writes that to `.maskloop/`).

An image's round is the model version whose predictions it showed when the person
acted on it: the version that predicted its cached predictions, else the version most
of its model instances name, else none (labelling without a model: round 0).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from model.data.annotations import Dataset, ImageRecord, Instance
from model.editing.ops import Edit, InsertOp
from model.editing.review import mask_iou
from model.effort.action_costs import Tally

NO_MODEL = ""  # the round of images labelled with no model's predictions shown
MODEL, DRAWN, FILE = "model", "drawn", "file"  # where a touched instance came from
ORIGINS = (MODEL, DRAWN)  # the ones kept (an annotation the file came with is not a round's)
OUTCOMES = ("accepted", "edited", "rejected", "drawn")
Mask = tuple[np.ndarray, tuple[int, int]]


def version_of(rec: ImageRecord) -> str:
    """The model version whose predictions this image shows (NO_MODEL: none)."""
    if rec.prediction_model:
        return rec.prediction_model
    names = Counter(i.model for i in rec.instances
                    if i.model and i.source in ("model", "edited"))
    return names.most_common(1)[0][0] if names else NO_MODEL


@dataclass
class Touched:
    """One instance a person's steps touched."""
    version: str
    origin: str  # MODEL, DRAWN or FILE
    model_mask: Mask | None = None  # the model's own mask (MODEL), once seen unchanged
    refs: int = 1  # steps that touched it; at 0 (all undone) it is forgotten


@dataclass
class ImageEffort:
    file_name: str
    width: int = 0
    height: int = 0
    actions: dict[str, Tally] = field(default_factory=dict)  # round -> gestures
    touched: dict[int, Touched] = field(default_factory=dict)  # annotation id ->

    @property
    def empty(self) -> bool:
        return not self.touched and not any(t.gestures for t in self.actions.values())


def _instances(edit: Edit) -> list[tuple[Instance, bool]]:
    """Each instance the edit touches once, in order, and whether the edit adds it."""
    seen: dict[int, tuple[Instance, bool]] = {}
    for op in edit.ops:
        inst = getattr(op, "inst", None)
        if inst is not None and id(inst) not in seen:
            seen[id(inst)] = (inst, type(op) is InsertOp)
    return list(seen.values())


class EffortRecord:
    """Every image's recorded effort (image id -> ImageEffort)."""

    def __init__(self) -> None:
        self.images: dict[int, ImageEffort] = {}
        self._rounds: dict[int, str] = {}  # id(edit) -> its round, while it is applied

    # ------------------------------------------------------------------ updates
    def note(self, edit: Edit, forward: bool) -> None:
        """A step applied (forward, called before its ops run) or reverted. Edits that
        only touch cached predictions, and dataset-wide ones, are nobody's effort."""
        if edit.cache or not edit.images:
            return
        rec = edit.images[0]
        if forward:
            version = version_of(rec)
            self._rounds[id(edit)] = version
            img = self.images.setdefault(rec.id, ImageEffort(rec.file_name))
            img.width, img.height = rec.width or 0, rec.height or 0
            tally = img.actions.setdefault(version, Tally())
            for kind, n in edit.gestures.items():
                tally.add(kind, n)
            for inst, added in _instances(edit):
                self._touch(img, inst, version, added and bool(edit.gestures))
            return
        version = self._rounds.pop(id(edit), None)
        img = self.images.get(rec.id)
        if version is None or img is None:
            return
        tally = img.actions.get(version)
        for kind, n in edit.gestures.items():
            if tally is not None:
                tally.remove(kind, n)
        for inst, _added in _instances(edit):
            t = img.touched.get(inst.id) if inst.id is not None else None
            if t is not None:
                t.refs -= 1
                if t.refs <= 0:
                    del img.touched[inst.id]

    @staticmethod
    def _touch(img: ImageEffort, inst: Instance, version: str, drawn: bool) -> None:
        if inst.id is None:
            return
        t = img.touched.get(inst.id)
        if t is None:
            if drawn:
                origin = DRAWN
            elif inst.model and inst.source in ("model", "edited"):
                origin = MODEL
            else:
                origin = FILE
            t = img.touched[inst.id] = Touched(version, origin, refs=0)
        t.refs += 1
        if t.origin == MODEL and t.model_mask is None and inst.source == "model":
            t.model_mask = (np.array(inst.mask, dtype=bool), tuple(inst.offset))

    # ----------------------------------------------------------------- reading
    def outcomes(self, ds: Dataset) -> list[dict]:
        """Every recorded image as plain data: its gestures per round, and each touched
        instance's outcome in the dataset as it is now (store.py's image entries)."""
        recs = {rec.id: rec for rec in ds.images}
        out = []
        for image_id, img in self.images.items():
            rec = recs.get(image_id)
            if rec is None or rec.file_name != img.file_name or img.empty:
                continue
            entry = image_entry(image_id, img, rec)
            if entry["actions"] or entry["instances"]:  # not only untracked touches
                out.append(entry)
        return out


def outcome(t: Touched, inst: Instance | None) -> tuple[str | None, float | None]:
    """What became of one touched instance, and for an edited one the IoU from the
    model's mask to its final mask (None when the model's mask was never seen)."""
    if t.origin == DRAWN:
        return ("drawn" if inst is not None and inst.review != "rejected" else None), None
    if t.origin != MODEL:
        return None, None
    if inst is None or inst.review == "rejected":
        return "rejected", None
    if inst.source == "edited":
        if t.model_mask is None:
            return "edited", None
        model = Instance(inst.category_id, t.model_mask[0], t.model_mask[1])
        return "edited", float(mask_iou(model, inst))
    if inst.review == "accepted":
        return "accepted", None
    return None, None  # still a prediction nobody decided


def image_entry(image_id: int, img: ImageEffort, rec: ImageRecord) -> dict:
    """One image's entry: {id, file_name, width, height, actions, instances}; an
    instance carries what it needs (the model's mask, as Mask) to be measured again."""
    present = {i.id: i for i in rec.instances if i.id is not None}
    instances = []
    for ann_id, t in img.touched.items():
        what, iou = outcome(t, present.get(ann_id))
        if what is None:
            continue
        item = {"id": ann_id, "version": t.version, "origin": t.origin, "outcome": what}
        if iou is not None:
            item["iou"] = iou
        if what == "edited" and t.model_mask is not None:
            item["model_mask"] = t.model_mask
        instances.append(item)
    actions = {v: dict(t.gestures) for v, t in img.actions.items() if t.gestures}
    return {"id": image_id, "file_name": img.file_name, "width": rec.width or img.width,
            "height": rec.height or img.height, "actions": actions, "instances": instances}
