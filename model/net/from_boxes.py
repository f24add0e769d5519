"""Box-only datasets become instance masks: every annotation with a bbox but no
segmentation (detection datasets, Label Studio box exports) gets a mask from the
model's heads on its box, or from a classical method (model.net.assist.FALLBACK). Ids, categories, boxes and every other
field are kept; the new masks are `source: model`, `review: unreviewed`, so they go
through review like predictions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from model.net import assist as A
from model.data import masks as M
from model.data.annotations import Dataset, ImageRecord, Instance
from model.data.images import read_image
from model.errors import ImageReadError


@dataclass
class FillReport:
    """What became of every box: filled (by_model + by_classical), empty (nothing found
    in the box) or unread (its image could not be read); the last two stay box-only.
    The parts add up: filled + empty + unread is every box that had no mask."""
    filled: int = 0
    by_model: int = 0
    by_classical: int = 0
    empty: int = 0  # nothing found in the box: left box-only
    unread: int = 0  # on an image that could not be read: left box-only
    skipped_images: list[str] = field(default_factory=list)


def box_only(ds: Dataset) -> int:
    return sum(1 for _rec, inst in ds.instances() if inst.box_only)


def xyxy(inst: Instance) -> A.Box:
    x, y, w, h = inst.original["bbox"]
    return (float(x), float(y), float(x + w), float(y + h))


def filled(inst: Instance, rec: ImageRecord, mask: np.ndarray, offset, model_id: str | None
           ) -> Instance:
    """The annotation as it came, with a segmentation, its area and provenance added."""
    ann = dict(inst.original)
    ann["segmentation"] = M.encode_rle(mask, offset, rec.height, rec.width)
    ann["area"] = float(np.count_nonzero(mask))
    ann.update(source="model", review="unreviewed")
    if model_id:
        ann["model"] = model_id
    return Instance.from_annotation(ann, rec.height, rec.width)


def fill_image(rec: ImageRecord, rgb: np.ndarray, predictor=None, method: str = "model",
               report: FillReport | None = None, features: A.Features | None = None) -> None:
    """Give this image's box-only annotations masks, in place."""
    report = report if report is not None else FillReport()
    todo = [(k, inst) for k, inst in enumerate(rec.instances) if inst.box_only]
    if not todo:
        return
    known = [A.model_label(predictor, inst.category_id) is not None if predictor else False
             for _k, inst in todo]
    results: list = [None] * len(todo)
    model_ix = [j for j, ok in enumerate(known) if ok and method == "model"]
    if model_ix:
        feats = features or A.compute_features(predictor, rgb)
        got = A.box_masks(predictor, feats, [xyxy(todo[j][1]) for j in model_ix],
                          [todo[j][1].category_id for j in model_ix])
        for j, bm in zip(model_ix, got):
            results[j] = (bm.mask, bm.offset, predictor.model_id)
    by_model = set(model_ix)
    for j, (_k, inst) in enumerate(todo):
        if results[j] is None:  # classical: asked for, or a class the model does not know
            classical = method if method in A.CLASSICAL else A.FALLBACK
            mask, offset = A.classical_mask(rgb, xyxy(inst), classical)
            results[j] = (mask, offset, classical)
    for j, ((k, inst), (mask, offset, source_id)) in enumerate(zip(todo, results)):
        if mask.size == 0:  # counted once, as empty, whichever method found nothing
            report.empty += 1
            continue
        rec.instances[k] = filled(inst, rec, mask, offset, source_id)
        report.filled += 1
        if j in by_model:
            report.by_model += 1
        else:
            report.by_classical += 1


def fill_dataset(ds: Dataset, predictor=None, method: str = "model", progress=None
                 ) -> FillReport:
    report = FillReport()
    for rec in ds.images:
        if not any(i.box_only for i in rec.instances):
            continue
        boxes = sum(1 for i in rec.instances if i.box_only)
        try:
            rgb = read_image(ds.image_path(rec))
        except ImageReadError as e:
            report.skipped_images.append(str(e))
            report.unread += boxes
            continue
        if rec.size_known and rgb.shape[:2] != (rec.height, rec.width):
            report.skipped_images.append(f"{rec.file_name}: the file is {rgb.shape[1]}x"
                                         f"{rgb.shape[0]}, the record {rec.width}x{rec.height}")
            report.unread += boxes
            continue
        fill_image(rec, rgb, predictor, method, report)
        if progress is not None:
            progress()
    return report
