"""A model measured on images whose labels are truth: training's held-out split, and the
app's Model -> Evaluate on done images. Both go through `evaluate_model`, so the dock
shows the same measurement whichever way it was filled.

The truth of an image is what may teach a model (`Instance.is_positive`) plus crowd
regions (COCOeval ignores detections there). An image that cannot be read is left out
of the truth as well as the predictions: counting its objects as missed would measure
the disk, not the model.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from model.data.annotations import Category, Dataset, ImageRecord, Instance
from model.data.masks import encode_rle
from model.editing.review import adopt_categories
from model.errors import Cancelled, ImageReadError
from model.metrics.per_class import evaluate_report

Progress = Callable[[int, int], None]  # images done, total


@dataclass(frozen=True)
class TruthImage:
    rec: ImageRecord  # the truth only (see truth_record): owned by the evaluation
    path: Path


def _own(inst: Instance) -> Instance:
    """A copy another thread may read while the document goes on: masks are frozen once
    stored, but a stroke in progress paints its buffer in place, so that one is copied."""
    c = inst.copy()
    if inst.stroking:
        c.set_mask(np.array(inst.mask), inst.offset)
    return c


def truth_record(rec: ImageRecord) -> ImageRecord:
    """The image's truth as a record of its own (the document may change meanwhile)."""
    return ImageRecord(rec.id, rec.file_name, rec.width, rec.height,
                       [_own(i) for i in rec.instances if i.is_positive or i.iscrowd])


def evaluate_model(predictor, categories: list[Category], images: list[TruthImage],
                   read: Callable[[Path], np.ndarray], *, adopt: bool = True,
                   cancel: threading.Event | None = None,
                   progress: Progress | None = None,
                   on_image: Callable[[ImageRecord, list[Instance]], None] | None = None
                   ) -> tuple[dict, list[str]]:
    """Predict every image and evaluate against its truth (model/metrics/per_class.py).

    With `adopt`, the model's classes are matched to `categories` by name, as its
    predictions are in the app (a class the dataset lacks becomes a row of its own with
    no truth: its detections are the confusion matrix's false positives). Training's
    model has the dataset's own label ids, so it validates with adopt=False.
    on_image(truth record, the model's instances) sees each image's predictions (the
    offer gate prices them: model/effort/gate_records.py).
    Returns (report, one line for each image left out because it cannot be read);
    raises Cancelled when `cancel` is set.
    """
    gt = Dataset(categories)
    results: list[dict] = []  # in the model's category ids until the end
    skipped: list[str] = []
    for k, item in enumerate(images):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        why = None
        try:
            img = read(item.path)
        except ImageReadError as e:
            why = str(e)
        else:
            h, w = img.shape[:2]
            rec = item.rec
            if not rec.learn_size(w, h) and (rec.width, rec.height) != (w, h):
                why = (f"{item.path}: the image is {w}x{h} but its annotations say "
                       f"{rec.width}x{rec.height}")
            else:
                gt.images.append(rec)
                preds = list(predictor.predict(img, cancel=cancel))
                if on_image is not None:
                    on_image(rec, preds)
                results += [{"image_id": rec.id, "category_id": inst.category_id,
                             "segmentation": encode_rle(inst.mask, inst.offset, h, w),
                             "bbox": inst.bbox, "score": inst.score}
                            for inst in preds]
        if why is not None:
            skipped.append(why)
        if progress is not None:
            progress(k + 1, len(images))
    if adopt:
        mapping, extra = adopt_categories(gt.categories, predictor.categories,
                                          [r["category_id"] for r in results])
        gt.categories.extend(extra)
        for r in results:
            r["category_id"] = mapping.get(r["category_id"], r["category_id"])
    return evaluate_report(gt, results), skipped
