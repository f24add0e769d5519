"""Where the offer gate's records come from (gate.py): images a person finished, as
plain snapshots another thread may price while the dataset goes on changing.

On a done image, a version's predictions all stay where the review policy keeps them:
the ones shown and accepted (source model, accepted), rejected (still in the file,
marked rejected), the ones set aside unseen (pristine, from the prediction cache), and
an edited one keeps the model's own mask in the effort record (record.py). The truth is
what may teach a model (Instance.is_positive). A prediction a person deleted instead of
rejecting is gone with its score and is not counted.

An image counts for the versions a person worked under on it (the effort record's
rounds; without a record, the version whose predictions it shows) and never for a
version whose checkpoint lists it as trained on: that version would look better there
than on new images.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from model.data.annotations import Category, Dataset, ImageRecord, Instance
from model.editing.review import adopt_categories
from model.effort.annotator import TAU
from model.effort.gate import Record, price
from model.effort.record import MODEL, EffortRecord, version_of

Mask = tuple[np.ndarray, tuple[int, int]]


@dataclass(frozen=True)
class DoneImage:
    """One finished image's truth and one version's predictions on it (copies)."""
    image_id: int
    file_name: str
    width: int
    height: int
    version: str
    truth: tuple[Instance, ...]
    predictions: tuple[Instance, ...]


def _own(inst: Instance) -> Instance:
    """A copy another thread may read (masks are frozen once stored; a stroke in
    progress paints its buffer in place, so that one is copied)."""
    c = inst.copy()
    if inst.stroking:
        c.set_mask(np.array(inst.mask), inst.offset)
    return c


def truth_of(rec: ImageRecord) -> list[Instance]:
    return [i for i in rec.instances if i.is_positive]


def predictions_of(rec: ImageRecord, version: str,
                   model_masks: Mapping[int, Mask] | None = None) -> list[Instance]:
    """The version's predictions on the image as the model made them: an edited one
    with the model's own mask (None when it was never seen: left out)."""
    out = []
    for inst in rec.instances:
        if inst.model != version or inst.iscrowd:
            continue
        if inst.source == "model":
            out.append(_own(inst))
        elif inst.source == "edited":
            mm = (model_masks or {}).get(inst.id) if inst.id is not None else None
            if mm is not None:
                out.append(Instance(inst.category_id, mm[0], mm[1], score=inst.score,
                                    source="model", model=version))
    return out


def versions_of(rec: ImageRecord, effort: EffortRecord | None) -> list[str]:
    """The model versions a person worked under on this image."""
    img = None if effort is None else effort.images.get(rec.id)
    if img is not None and img.file_name == rec.file_name:
        worked = [v for v, t in img.actions.items() if v and t.gestures]
        if worked:
            return worked
    v = version_of(rec)
    return [v] if v else []


def model_masks_of(effort: EffortRecord | None, image_id: int) -> dict[int, Mask]:
    img = None if effort is None else effort.images.get(image_id)
    if img is None:
        return {}
    return {ann: t.model_mask for ann, t in img.touched.items()
            if t.origin == MODEL and t.model_mask is not None}


def counted(ds: Dataset, version: str, effort: EffortRecord | None = None,
            trained_on: Iterable[str] = ()) -> list[ImageRecord]:
    """The done images a person finished under `version` that it did not train on."""
    seen = frozenset(trained_on)
    return [rec for rec in ds.images
            if rec.status == "done" and rec.file_name not in seen and rec.size_known
            and version in versions_of(rec, effort)]


def snapshot(rec: ImageRecord, version: str, effort: EffortRecord | None = None
             ) -> DoneImage | None:
    """A copy of one image's truth and the version's predictions (taken on the thread
    that owns the dataset; cheap: masks are shared, frozen); None without predictions."""
    preds = predictions_of(rec, version, model_masks_of(effort, rec.id))
    if not preds:
        return None
    return DoneImage(rec.id, rec.file_name, rec.width, rec.height, version,
                     tuple(_own(i) for i in truth_of(rec)), tuple(preds))


def done_images(ds: Dataset, version: str, effort: EffortRecord | None = None,
                trained_on: Iterable[str] = ()) -> list[DoneImage]:
    """Snapshots of every counted done image of `version` that has its predictions."""
    out = [snapshot(rec, version, effort) for rec in counted(ds, version, effort, trained_on)]
    return [d for d in out if d is not None]


def classical_box(width: int, height: int):
    """The classical box route's mask for a box (the inscribed ellipse needs no pixels)."""
    from model.net import assist as A
    if A.FALLBACK != "ellipse":
        return None  # a route that needs the pixels: drawing is priced by polygon
    return lambda box: A.ellipse(box, width, height)


def records_of(img: DoneImage, tau: float = TAU) -> list[Record]:
    return price(img.predictions, img.truth, img.version, tau, classical_box(img.width,
                                                                           img.height))


def pair_records(truth: ImageRecord, predicted: ImageRecord, version: str,
                 tau: float = TAU) -> list[Record]:
    """Records of a model's fresh predictions on an image whose annotations are truth
    (`predict --score-threshold auto` on done images, a held-out evaluation)."""
    w, h = truth.width or predicted.width, truth.height or predicted.height
    return price(predicted.instances, truth_of(truth), version, tau, classical_box(w, h))


def heldout_records(pairs: Iterable[tuple[ImageRecord, list[Instance]]],
                    categories: list[Category], model_categories: list[Category],
                    version: str, tau: float = TAU) -> dict[int, list[Record]]:
    """Records of a version's evaluation on done images it did not train on: image id
    -> records, the model's classes taken into the dataset's by name as the app takes
    its predictions (a class change is priced only where a person would need one)."""
    out = {}
    for rec, preds in pairs:
        mapping, _new = adopt_categories(categories, model_categories,
                                         [p.category_id for p in preds])
        mapped = []
        for p in preds:
            c = p.copy()
            c.category_id = mapping.get(p.category_id, p.category_id)
            mapped.append(c)
        out[rec.id] = price(mapped, truth_of(rec), version, tau,
                            classical_box(rec.width, rec.height))
    return out
