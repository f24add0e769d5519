"""Per-class figures: AP, AP50 and AP75 per category, PR curves, and the report that
`evaluate --per-class`, training's validation and the app's Evaluation dock share.

The per-class AP is read from COCOeval's accumulated eval['precision'] array
[IoU threshold, recall threshold, category, area range, max detections] exactly as
pycocotools' summarize() reads it for all categories, but one category at a time:
area range 'all', 100 detections, the mean of the entries that are not -1. A
COCOeval restricted with params.catIds = [k] gives the same numbers (a test checks).
"""
from __future__ import annotations

import numpy as np
from pycocotools.cocoeval import COCOeval

from model.data.annotations import Dataset
from model.metrics.confusion import DEFAULT_SCORE, confusion_matrix
from model.metrics.evaluate import IOU_TYPES, evaluations, iou_types, summary

CLASS_METRICS = ("AP", "AP50", "AP75")
PR_IOU = 0.5  # the PR curves are drawn at this IoU threshold


def class_names(gt: Dataset) -> dict[int, str]:
    """Category id -> the name the report uses: its name, with the id added when two
    categories share a name (a JSON key must be unique)."""
    counts: dict[str, int] = {}
    for c in gt.categories:
        counts[c.name] = counts.get(c.name, 0) + 1
    return {c.id: c.name if counts[c.name] == 1 else f"{c.name} ({c.id})"
            for c in gt.categories}


def _mean(s: np.ndarray) -> float | None:
    s = s[s > -1]
    return float(np.mean(s)) if s.size else None


def _indices(ev: COCOeval) -> tuple[int, int]:
    """Area range 'all' and 100 detections, as summarize() takes them for AP."""
    p = ev.params
    a = p.areaRngLbl.index("all")
    m = p.maxDets.index(100) if 100 in p.maxDets else len(p.maxDets) - 1
    return a, m


def _iou_index(ev: COCOeval, iou: float) -> int:
    return int(np.flatnonzero(np.isclose(ev.params.iouThrs, iou))[0])


def class_figures(ev: COCOeval) -> dict[int, dict[str, float | None]]:
    """Category id -> {'AP', 'AP50', 'AP75'} (None: no ground truth of that class)."""
    prec = ev.eval["precision"]
    a, m = _indices(ev)
    t50, t75 = _iou_index(ev, 0.5), _iou_index(ev, 0.75)
    out = {}
    for k, cat in enumerate(ev.params.catIds):
        out[int(cat)] = {"AP": _mean(prec[:, :, k, a, m]), "AP50": _mean(prec[t50, :, k, a, m]),
                         "AP75": _mean(prec[t75, :, k, a, m])}
    return out


def pr_curves(ev: COCOeval, iou: float = PR_IOU) -> dict[int, list[float] | None]:
    """Category id -> precision at each of COCOeval's 101 recall thresholds, at IoU `iou`
    (0 past the highest recall reached; None: no ground truth of that class)."""
    prec = ev.eval["precision"]
    a, m = _indices(ev)
    t = _iou_index(ev, iou)
    out = {}
    for k, cat in enumerate(ev.params.catIds):
        row = prec[t, :, k, a, m]
        out[int(cat)] = None if (row < 0).all() else [round(float(v), 6) for v in row]
    return out


def _gt_counts(gt: Dataset) -> dict[int, int]:
    counts = {c.id: 0 for c in gt.categories}
    for _rec, inst in gt.instances():
        if inst.review != "rejected" and not inst.iscrowd and inst.category_id in counts:
            counts[inst.category_id] += 1
    return counts


def class_images(gt: Dataset, results: list[dict], score: float) -> dict[int, list[int]]:
    """Category id -> the images it concerns: where the ground truth has one, or the
    model predicts one at `score` or above."""
    sets: dict[int, set[int]] = {c.id: set() for c in gt.categories}
    for rec, inst in gt.instances():
        if inst.review != "rejected" and inst.category_id in sets:
            sets[inst.category_id].add(rec.id)
    known = {r.id for r in gt.images}
    for r in results:
        if r["category_id"] in sets and r["image_id"] in known and r["score"] >= score:
            sets[r["category_id"]].add(r["image_id"])
    return {k: sorted(v) for k, v in sets.items()}


def evaluate_report(gt: Dataset, results: list[dict], score: float = DEFAULT_SCORE) -> dict:
    """Today's summary ({'bbox': ..., 'segm': ...}) plus, from the same COCOeval runs:
    'per_class' {name: {'bbox': {'AP', 'AP50', 'AP75'}, 'segm': {...}}}, 'classes' (id,
    name, ground-truth count and images of each), 'pr_curves' and 'confusion' (at IoU 0.5,
    predictions scored `score` or above). Plain JSON types throughout."""
    figures: dict[str, dict] = {t: {} for t in IOU_TYPES}
    curves: dict[str, dict] = {t: {} for t in IOU_TYPES}

    def read(t: str, ev: COCOeval) -> None:  # a chunk of categories at a time
        figures[t].update(class_figures(ev))
        curves[t].update(pr_curves(ev))

    _coco, evals = evaluations(gt, results, read)
    report = summary(evals, results)
    names = class_names(gt)
    counts = _gt_counts(gt)
    empty = {m: None for m in CLASS_METRICS}
    for t in IOU_TYPES:
        if evals[t] is None:  # nothing found (AP 0 where there is truth), or box-only results
            zero = t in iou_types(results) and not results
            figures[t] = {c: ({m: 0.0 for m in CLASS_METRICS} if zero and counts[c] else
                              dict(empty)) for c in names}
            curves[t] = {c: ([0.0] * 101 if zero and counts[c] else None) for c in names}
    report["per_class"] = {names[c]: {t: figures[t].get(c, dict(empty)) for t in IOU_TYPES}
                           for c in names}
    images = class_images(gt, results, score)
    report["classes"] = [{"id": c, "name": names[c], "instances": counts[c],
                          "images": images[c]} for c in names]
    report["pr_curves"] = {"iou_threshold": PR_IOU,
                           "recall": [round(float(r), 6) for r in np.linspace(0, 1, 101)],
                           **{t: {names[c]: curves[t].get(c) for c in names} for t in IOU_TYPES}}
    seg = "segm" if "segm" in iou_types(results) else "bbox"
    report["confusion"] = confusion_matrix(gt, results, seg, score=score, names=names)
    return report


def format_per_class(report: dict) -> str:
    """The per-class table and the confusion matrix as text."""
    rows = report["per_class"]
    width = max([len("class")] + [len(n) for n in rows])
    head = "".join(f"{t + ' ' + m:>11}" for t in IOU_TYPES for m in CLASS_METRICS)
    lines = [f"{'class':<{width}}{'GT':>6}{head}"]
    gts = {c["name"]: c["instances"] for c in report["classes"]}
    for name, figs in rows.items():
        vals = "".join(f"{'-' if figs[t][m] is None else format(figs[t][m], '.3f'):>11}"
                       for t in IOU_TYPES for m in CLASS_METRICS)
        lines.append(f"{name:<{width}}{gts[name]:>6}{vals}")
    cm = report["confusion"]
    lines += ["", f"confusion ({cm['iou_type']} IoU >= {cm['iou_threshold']}, score >= "
              f"{cm['score_threshold']}; rows: ground truth, columns: predicted)"]
    labels = cm["labels"]
    cw = max(6, max(len(n) for n in labels) + 1)
    lines.append(" " * cw + "".join(f"{n[:cw - 1]:>{cw}}" for n in labels))
    for name, row in zip(labels, cm["matrix"]):
        lines.append(f"{name[:cw - 1]:<{cw}}" + "".join(f"{v:>{cw}}" for v in row))
    return "\n".join(lines)
