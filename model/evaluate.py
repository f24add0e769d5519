"""COCOeval (bbox and segm) over a ground-truth Dataset and predictions.

Predictions are a full COCO file with scores (as `predict` writes) or a COCO
results list. Images are matched by file_name when the prediction file names
its images, else by id. bbox AP uses the boxes the prediction file stores; for
MaskLoop files those are the masks' tight boxes.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from . import masks as M
from .annotations import Dataset
from .coco import annotation_json, dataset_from_json, image_json
from .coco_validate import CocoFormatError

METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
IOU_TYPES = ("bbox", "segm")


def gt_coco(ds: Dataset) -> COCO:
    """An in-memory pycocotools COCO of the ground truth; rejected instances are not truth."""
    images, anns = [], []
    for rec in ds.images:
        ds.ensure_size(rec)
        images.append(image_json(rec))
        for inst in rec.instances:
            if inst.review == "rejected":
                continue
            anns.append(annotation_json(inst, rec))
    coco = COCO()
    # 'info' too: pycocotools 2.0.10's loadRes fails with a KeyError without it
    coco.dataset = {"info": {}, "licenses": [], "images": images, "annotations": anns,
                    "categories": [c.to_json() for c in ds.categories]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def results_from_dataset(pred: Dataset, gt: Dataset) -> list[dict]:
    """A predicted COCO file -> results list in the ground truth's image ids."""
    by_name = {r.file_name: r.id for r in gt.images}
    gt_ids = {r.id for r in gt.images}
    results = []
    for rec in pred.images:
        image_id = by_name.get(rec.file_name, rec.id if rec.id in gt_ids else None)
        if image_id is None:
            continue
        for inst in rec.instances:
            ann = annotation_json(inst, rec)
            seg = ann["segmentation"]
            if isinstance(seg, list) or isinstance(seg.get("counts"), list):
                seg = M.encode_rle(inst.mask, inst.offset, rec.height, rec.width)
            results.append({"image_id": image_id, "category_id": inst.category_id,
                            "segmentation": seg, "bbox": ann["bbox"],
                            "score": 1.0 if inst.score is None else inst.score})
    return results


def load_predictions(path: Path, gt: Dataset) -> list[dict]:
    try:
        data = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise CocoFormatError(path, ["file not found"]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CocoFormatError(path, [f"not valid JSON: {e}"]) from None
    if isinstance(data, list):
        problems = []
        for i, r in enumerate(data):
            if not isinstance(r, dict) or not {"image_id", "category_id", "score"} <= set(r) \
                    or not ({"segmentation", "bbox"} & set(r)):
                problems.append(f"result #{i}: needs image_id, category_id, score and "
                                "segmentation or bbox")
        if problems:
            raise CocoFormatError(path, problems)
        return data
    return results_from_dataset(dataset_from_json(data, path=Path(path)), gt)


def _stats(coco_gt: COCO, results: list[dict], iou_type: str) -> dict:
    if not results:
        return {m: 0.0 for m in METRICS}
    res = copy.deepcopy(results)
    if iou_type == "segm":
        res = [r for r in res if "segmentation" in r]
        for r in res:
            r.pop("bbox", None)  # else pycocotools takes the box area as the mask area
    if not res:
        return {m: None for m in METRICS}
    known = set(coco_gt.getImgIds())
    res = [r for r in res if r["image_id"] in known]
    if not res:
        return {m: 0.0 for m in METRICS}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(res)
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    # COCOeval reports -1 where the ground truth has no object of that size
    return {m: (None if v < 0 else float(v)) for m, v in zip(METRICS, ev.stats[:6])}


def evaluate(gt: Dataset, results: list[dict]) -> dict[str, dict[str, float | None]]:
    """{'bbox': {'AP': ..., ...}, 'segm': {...}}, values in [0, 1] (None: no such objects)."""
    coco_gt = gt_coco(gt)
    return {t: _stats(coco_gt, results, t) for t in IOU_TYPES}


def format_table(metrics: dict) -> str:
    lines = ["        " + "".join(f"{m:>8}" for m in METRICS)]
    for t in IOU_TYPES:
        vals = "".join(f"{'-' if metrics[t][m] is None else format(metrics[t][m], '.3f'):>8}"
                       for m in METRICS)
        lines.append(f"{t:<8}{vals}")
    return "\n".join(lines)
