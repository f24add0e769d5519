"""COCOeval (bbox and segm) over a ground-truth Dataset and predictions.

Predictions are a full COCO file with scores (as `predict` writes) or a COCO
results list. Images are matched by file_name when the prediction file names
its images, else by id. bbox AP uses the boxes the prediction file stores; for
MaskLoop files those are the masks' tight boxes.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import io
from pathlib import Path
from typing import Callable

import numpy as np

from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from model.data import masks as M
from model.data.annotations import Dataset
from model.data.coco import annotation_json, dataset_from_json, image_json
from model.data.coco_validate import bad_coords, check_segmentation, is_id, is_num, read_json
from model.errors import CocoFormatError

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
    """A COCO results list (as detectron2 and COCO's own tools write it) or a COCO file
    with scores, as results in the ground truth's image ids."""
    data = read_json(path)
    if isinstance(data, list):
        return normalize_results(data, gt, Path(path))
    return results_from_dataset(dataset_from_json(data, path=Path(path)), gt)


def normalize_results(data: list, gt: Dataset, path: Path | None = None) -> list[dict]:
    """Check a results list and bring every segmentation to compressed RLE.

    Accepts polygons, compressed and uncompressed RLE, and box-only results; numbers
    must be finite, RLE must match its image's size. Results for images or classes
    the ground truth does not have are dropped, as COCOeval would.
    """
    sizes = {}
    for rec in gt.images:
        gt.ensure_size(rec)
        sizes[rec.id] = (rec.height, rec.width)
    problems, out = [], []
    for i, r in enumerate(data):
        where = f"result #{i}"
        if not isinstance(r, dict) or not {"image_id", "category_id", "score"} <= set(r) \
                or not ({"segmentation", "bbox"} & set(r)):
            problems.append(f"{where}: needs image_id, category_id, score and segmentation "
                            "or bbox")
            continue
        if not is_num(r["score"]):
            problems.append(f"{where}: 'score' must be a finite number")
            continue
        size = sizes.get(r["image_id"]) if is_id(r["image_id"]) else None
        if size is None:
            continue  # not an image of the ground truth
        seg_problems: list[str] = []
        if "segmentation" in r:
            check_segmentation(r["segmentation"], where, size, seg_problems)
        if "bbox" in r:
            box = r["bbox"]
            if not (isinstance(box, list) and len(box) == 4):
                seg_problems.append(f"{where}: 'bbox' must be [x, y, w, h] numbers")
            elif (why := bad_coords(box, size)) is not None:
                seg_problems.append(f"{where}: 'bbox' {why}")
        if seg_problems:
            problems += seg_problems
            continue
        res = {"image_id": r["image_id"], "category_id": r["category_id"],
               "score": float(r["score"])}
        if "segmentation" in r:
            h, w = size
            rle = M.encode_rle(*M.decode_segmentation(r["segmentation"], h, w), h, w)
            res["segmentation"] = rle
            res["bbox"] = r["bbox"] if "bbox" in r else \
                [float(v) for v in mask_utils.toBbox({"size": rle["size"],
                                                      "counts": rle["counts"].encode()})]
        else:
            res["bbox"] = [float(v) for v in r["bbox"]]
        out.append(res)
    if problems:
        raise CocoFormatError(path, problems)
    return out


def iou_types(results: list[dict]) -> tuple[str, ...]:
    """What the results allow: box-only results have no segm."""
    if any("segmentation" in r for r in results) or not results:
        return IOU_TYPES
    return ("bbox",)


CATEGORY_CHUNK = 200  # categories per COCOeval: its arrays grow with categories x images


def truth_categories(coco_gt: COCO) -> list[int]:
    """The categories with at least one ground-truth annotation: COCOeval gives every other
    one -1 (no figure), so they are left out of its arrays instead of filling them. A file
    that declares 20,000 categories took 8 GB before."""
    present = {a["category_id"] for a in coco_gt.anns.values()}
    return sorted(present & set(coco_gt.getCatIds()))


def run_cocoeval(coco_gt: COCO, results: list[dict], iou_type: str,
                 each: Callable[[COCOeval], None] | None = None) -> list[float] | None:
    """The first six of COCOeval's stats (AP, AP50, AP75, APs, APm, APl; -1 where there is
    no such object), from COCOeval run on the ground truth's categories, CATEGORY_CHUNK at a
    time; `each` is called with every evaluated and accumulated COCOeval. None when no
    result is of this type (segm of box-only results) or none is of a known image."""
    res = copy.deepcopy(results)
    if iou_type == "segm":
        res = [r for r in res if "segmentation" in r]
        for r in res:
            r.pop("bbox", None)  # else pycocotools takes the box area as the mask area
    known = set(coco_gt.getImgIds())
    res = [r for r in res if r["image_id"] in known]
    if not res:
        return None
    cats = truth_categories(coco_gt)
    chunks = [cats[i:i + CATEGORY_CHUNK] for i in range(0, len(cats), CATEGORY_CHUNK)] or [[]]
    parts = []
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(res)
        for chunk in chunks:
            ev = COCOeval(coco_gt, coco_dt, iou_type)
            ev.params.catIds = chunk
            ev.evaluate()
            ev.accumulate()
            if len(chunks) == 1:
                ev.summarize()  # pycocotools' own figures, to the last bit
                stats = [float(v) for v in ev.stats[:6]]
            else:
                parts.append(_stat_sums(ev))
            if each is not None:
                each(ev)
            del ev
    if parts:
        sums = np.sum(parts, axis=0)
        stats = [float(t / n) if n else -1.0 for t, n in sums]
    return stats


def _stat_sums(ev: COCOeval) -> list[tuple[float, int]]:
    """(sum, count) of the precision entries summarize() averages for each of its first six
    stats: what chunks of categories add up to the same means."""
    p, prec = ev.params, ev.eval["precision"]
    m = p.maxDets.index(100) if 100 in p.maxDets else len(p.maxDets) - 1
    out = []
    for iou, area in ((None, "all"), (0.5, "all"), (0.75, "all"), (None, "small"),
                      (None, "medium"), (None, "large")):
        s = prec[..., p.areaRngLbl.index(area), m]
        if iou is not None:
            s = s[np.flatnonzero(np.isclose(p.iouThrs, iou))]
        s = s[s > -1]
        out.append((float(s.sum()), int(s.size)))
    return out


def _stats(stats: list[float] | None, results: list[dict], iou_type: str) -> dict:
    if stats is None:
        # no results at all: nothing found, AP 0; results without masks: no segm AP
        none = iou_type == "segm" and results and not any("segmentation" in r for r in results)
        return {m: (None if none else 0.0) for m in METRICS}
    # COCOeval reports -1 where the ground truth has no object of that size
    return {m: (None if v < 0 else float(v)) for m, v in zip(METRICS, stats)}


def evaluations(gt: Dataset, results: list[dict],
                each: Callable[[str, COCOeval], None] | None = None
                ) -> tuple[COCO, dict[str, list[float] | None]]:
    """The ground truth as pycocotools' COCO and, per IoU type the results allow, the
    summary stats of run_cocoeval (None: not evaluated); `each(iou_type, ev)` sees every
    COCOeval on the way (the per-class figures are read from them)."""
    coco_gt = gt_coco(gt)
    allowed = iou_types(results)
    return coco_gt, {t: run_cocoeval(coco_gt, results, t,
                                     None if each is None else functools.partial(each, t))
                     if t in allowed else None for t in IOU_TYPES}


def summary(evals: dict[str, list[float] | None], results: list[dict]) -> dict:
    allowed = iou_types(results)
    return {t: _stats(evals[t], results, t) if t in allowed else {m: None for m in METRICS}
            for t in IOU_TYPES}


def evaluate(gt: Dataset, results: list[dict]) -> dict[str, dict[str, float | None]]:
    """{'bbox': {'AP': ..., ...}, 'segm': {...}}, values in [0, 1] (None: no such objects,
    or, for segm, box-only results)."""
    _coco, evals = evaluations(gt, results)
    return summary(evals, results)


def format_table(metrics: dict) -> str:
    lines = ["        " + "".join(f"{m:>8}" for m in METRICS)]
    for t in IOU_TYPES:
        vals = "".join(f"{'-' if metrics[t][m] is None else format(metrics[t][m], '.3f'):>8}"
                       for m in METRICS)
        lines.append(f"{t:<8}{vals}")
    return "\n".join(lines)
