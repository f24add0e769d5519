"""The confusion matrix of a detector, with a background row and column.

Matching rule, per image: the predictions scored `score` or above, in descending score
(ties: in the results' order), each take the still unmatched ground-truth instance they
overlap most, of ANY class, if that IoU is at least `iou` (0.5): one-to-one and greedy,
as COCOeval matches, but class-agnostic so that a wrong class shows as a confusion
instead of a miss plus a false positive. Crowd regions (iscrowd) are ignored: they are
never a ground-truth row, and a prediction that matches nothing but covers a crowd
region (COCO's crowd IoU, the intersection over the prediction's area, >= `iou`) is
counted nowhere. Instances marked rejected are not ground truth.

Rows are the ground truth's classes then 'background' (a prediction that matched
nothing: a false positive); columns the predicted classes then 'background' (a
ground-truth instance no prediction matched: a miss). The background/background cell
is always 0. Each cell also lists the images where it happened, for the app's filter.

A prediction of a class the ground truth lacks (a category id it does not have, or one
that is no integer) is still a detection on its image: it takes part in the matching,
in one more row and column, OTHER, placed before background only when there is such a
prediction. Its row is empty (no truth has that class); its column shows what those
predictions covered, background being a false positive.
"""
from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from model.data.annotations import Dataset
from model.metrics.evaluate import gt_coco

DEFAULT_SCORE = 0.5
MAX_CLASSES = 1000  # rows and columns besides background
BACKGROUND = "background"
OTHER = "(other classes)"


def _regions(anns: list[dict], iou_type: str, coco=None) -> list:
    if iou_type == "bbox":
        return [list(map(float, a["bbox"])) for a in anns]
    return [coco.annToRLE(a) if coco is not None else a["segmentation"] for a in anns]


def _classes(gt: Dataset, results: list[dict], score: float) -> list[int]:
    """The matrix's classes: every category, or past MAX_CLASSES only those that occur
    (in the ground truth, or predicted at `score` or above); ValueError when even those are
    too many. A matrix costs its classes squared: 20,000 categories ran out of memory."""
    cats = [c.id for c in gt.categories]
    if len(cats) <= MAX_CLASSES:
        return cats
    seen = {inst.category_id for _rec, inst in gt.instances() if inst.review != "rejected"}
    seen |= {r["category_id"] for r in results if r["score"] >= score}
    cats = [c for c in cats if c in seen]
    if len(cats) > MAX_CLASSES:
        raise ValueError(f"{len(cats):,} classes occur in the ground truth and the predictions "
                         f"scored {score} or above; a confusion matrix is made for at most "
                         f"{MAX_CLASSES:,}")
    return cats


def confusion_matrix(gt: Dataset, results: list[dict], iou_type: str = "segm",
                     iou: float = 0.5, score: float = DEFAULT_SCORE,
                     names: dict[int, str] | None = None) -> dict:
    """{'labels', 'category_ids', 'matrix' (rows: truth, columns: predicted), 'images'
    (image ids per cell), 'iou_type', 'iou_threshold', 'score_threshold'}."""
    cats = _classes(gt, results, score)
    coco = gt_coco(gt)
    index = {c: i for i, c in enumerate(cats)}
    kept = [r for r in results if r["score"] >= score and
            (iou_type == "bbox" or "segmentation" in r)]
    other = any(r["category_id"] not in index for r in kept)

    def column(category_id) -> int:
        return index.get(category_id, len(cats))  # len(cats): OTHER

    bg = len(cats) + other
    n = bg + 1
    matrix = np.zeros((n, n), dtype=np.int64)
    cells: dict[tuple[int, int], set[int]] = {}

    def add(r: int, c: int, image_id: int) -> None:
        matrix[r, c] += 1
        cells.setdefault((r, c), set()).add(image_id)

    by_image: dict[int, list[dict]] = {}
    for r in kept:
        by_image.setdefault(r["image_id"], []).append(r)
    for image_id in coco.getImgIds():
        anns = coco.imgToAnns.get(image_id, [])
        truth = [a for a in anns if not a.get("iscrowd") and a["category_id"] in index]
        crowd = [a for a in anns if a.get("iscrowd")]
        preds = sorted(by_image.get(image_id, []), key=lambda r: -r["score"])  # stable
        taken = np.zeros(len(truth), dtype=bool)
        if preds and truth:
            ious = np.asarray(mask_utils.iou(_regions(preds, iou_type),
                                             _regions(truth, iou_type, coco),
                                             [0] * len(truth))).reshape(len(preds), len(truth))
        else:
            ious = np.zeros((len(preds), len(truth)))
        if preds and crowd:
            crowd_iou = np.asarray(mask_utils.iou(_regions(preds, iou_type),
                                                  _regions(crowd, iou_type, coco),
                                                  [1] * len(crowd))).reshape(len(preds), -1)
        else:
            crowd_iou = np.zeros((len(preds), 0))
        for i, p in enumerate(preds):
            row = np.where(taken, -1.0, ious[i]) if len(truth) else ious[i]
            j = int(np.argmax(row)) if len(truth) else -1
            if j >= 0 and row[j] >= iou:
                taken[j] = True
                add(index[truth[j]["category_id"]], column(p["category_id"]), image_id)
            elif crowd_iou.shape[1] and crowd_iou[i].max() >= iou:
                continue  # covers a crowd region: neither right nor wrong
            else:
                add(bg, column(p["category_id"]), image_id)
        for j, a in enumerate(truth):
            if not taken[j]:
                add(index[a["category_id"]], bg, image_id)
    names = names or {c.id: c.name for c in gt.categories if c.id in index}
    return {"iou_type": iou_type, "iou_threshold": iou, "score_threshold": score,
            "labels": [names[c] for c in cats] + [OTHER] * other + [BACKGROUND],
            "category_ids": cats + [None] * other + [None],
            "matrix": matrix.tolist(),
            "images": [[sorted(cells.get((r, c), ())) for c in range(n)] for r in range(n)]}
