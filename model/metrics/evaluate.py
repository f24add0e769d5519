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
from dataclasses import dataclass, field
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
from model.errors import CocoFormatError, FileError

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
            ann = annotation_json(inst, rec)
            if inst.box_only and not inst.edited:
                # a box without a mask ([], null or {}): pycocotools cannot read any of them;
                # an empty mask is an object segm AP counts and no mask can match
                ann["segmentation"] = M.encode_rle(*M.empty_mask(), rec.height, rec.width)
            anns.append(ann)
    coco = COCO()
    # 'info' too: pycocotools 2.0.10's loadRes fails with a KeyError without it
    coco.dataset = {"info": {}, "licenses": [], "images": images, "annotations": anns,
                    "categories": [c.to_json() for c in ds.categories]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


# What a prediction can get wrong about the ground truth it is evaluated against.
NOT_INTEGER, UNKNOWN_IMAGE, UNKNOWN_CATEGORY = "image_id_type", "image_id", "category_id"


@dataclass
class Predictions:
    """A predictions file read against a ground truth.

    `results` are the predictions placed on the truth's images, in its image ids. One of
    a category the truth lacks is kept: it is still a detection on that image (a false
    positive, or a confusion with what it covers), and the callers say so. One that
    cannot be placed (an image id that is not an integer, or no image of the truth) is
    left out and counted in `left_out`, so the commands can warn instead of dropping
    predictions in silence. `covered`: the truth's images the file speaks for (a COCO
    file lists them; a results list speaks for every image, None).
    """
    path: Path | None
    results: list[dict] = field(default_factory=list)
    total: int = 0  # predictions in the file
    covered: set[int] | None = None
    images: int | None = None  # images a COCO file lists (None: a results list)
    left_out: dict[str, list] = field(default_factory=dict)  # kind -> [count, first example]
    notes: list[str] = field(default_factory=list)  # how the file was matched, when unusual

    def count(self, kind: str, example) -> None:
        entry = self.left_out.setdefault(kind, [0, example])
        entry[0] += 1

    def unknown_categories(self, gt: Dataset) -> list[dict]:
        known = {c.id for c in gt.categories}
        return [r for r in self.results if r["category_id"] not in known]

    def _reasons(self, gt: Dataset) -> list[tuple[str, str]]:
        """(kind, what is wrong) for each kind of bad reference the file holds."""
        where = _name(gt)
        out = []
        if NOT_INTEGER in self.left_out:
            n, ex = self.left_out[NOT_INTEGER]
            out.append((NOT_INTEGER, f"{n} prediction(s) have an image_id that is not an "
                                     f"integer (such as {_shown(ex)})"))
        if UNKNOWN_IMAGE in self.left_out:
            n, ex = self.left_out[UNKNOWN_IMAGE]
            out.append((UNKNOWN_IMAGE, f"{n} prediction(s) are on images {where} does not "
                                       f"have (such as {ex})"))
        unknown = self.unknown_categories(gt)
        if unknown:
            example = unknown[0]["category_id"]
            # a COCO file's classes meet the truth's by name (category_map): what is left
            # unmatched is a name there, and an id only in a results list
            what = "a category name" if self.images is not None and isinstance(example, str) \
                else "a category_id"
            out.append((UNKNOWN_CATEGORY, f"{len(unknown)} prediction(s) have {what} "
                                          f"{where} does not have (such as "
                                          f"{_shown(example)})"))
        return out

    def warnings(self, gt: Dataset, category_note: str) -> list[str]:
        """One line per kind of bad reference, naming the file; `category_note` says what
        the command makes of a prediction of a category the truth lacks."""
        return [f"{self.path}: {why}; "
                + (category_note if kind == UNKNOWN_CATEGORY else "they are left out")
                for kind, why in self._reasons(gt)]

    def check_matches(self, gt: Dataset) -> None:
        """Refuse a file none of whose predictions is of an image and a class of the truth
        (ids of another dataset, string ids, 0-based category ids): its figures would be
        zeros that look like a result."""
        if self.images and not self.covered:
            raise FileError(self.path, f"none of its {self.images} image(s) is an image of "
                                       f"{_name(gt)} (matched by file_name, else by id)")
        if self.total and len(self.unknown_categories(gt)) == len(self.results):
            raise FileError(self.path, f"none of its {self.total} prediction(s) is of an "
                                       f"image and a category of {_name(gt)}: "
                            + "; ".join(why for _kind, why in self._reasons(gt)))


def _name(gt: Dataset) -> str:
    return gt.path.name if gt.path is not None else "the ground truth"


def _shown(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def category_map(pred: Dataset, gt: Dataset, into: Predictions) -> dict[int, int | str]:
    """A COCO file names its classes, so its categories meet the truth's by name, as its
    images meet them by file_name: a model fine-tuned on an export whose ids were renumbered
    (0-based YOLO classes, another tool's COCO) still scores each class against its own
    truth. A name the truth lacks becomes that name (never a truth id it might collide
    with); a file none of whose names the truth has is matched by id, as before."""
    loose: dict[str, list] = {}  # 'PERSON', 'person ' -> the truth's categories so named
    for c in gt.categories:
        loose.setdefault(name_key(c.name), []).append(c)
    found: dict[int, int] = {}
    near: list[tuple[str, str]] = []  # (pred's name, truth's) matched loosely
    for c in pred.categories:
        alike = loose.get(name_key(c.name), [])
        fits = [t for t in alike if t.name == c.name] or alike  # the exact name first
        if len(fits) == 1:
            found[c.id] = fits[0].id
            if fits[0].name != c.name:
                near.append((c.name, fits[0].name))
    if not found:
        if pred.categories and gt.categories:
            into.notes.append(f"{into.path}: none of its category names is one of "
                              f"{_name(gt)}'s; categories matched by id")
        return {c.id: c.id for c in pred.categories}
    if near:
        into.notes.append(f"{into.path}: {len(near)} category name(s) matched {_name(gt)}'s "
                          f"only ignoring case and spaces (such as {near[0][0]!r} as "
                          f"{near[0][1]!r})")
    mapping = {c.id: found.get(c.id, c.name) for c in pred.categories}
    moved = [(c.name, c.id, mapping[c.id]) for c in pred.categories
             if c.id in found and mapping[c.id] != c.id]
    if moved:
        name, was, now = moved[0]
        into.notes.append(f"{into.path}: categories matched to {_name(gt)}'s by name; "
                          f"{len(moved)} have another id there (such as {name!r}: "
                          f"{was} -> {now})")
    return mapping


def name_key(name: str) -> str:
    """A class name as people mean it: case and runs of spaces aside."""
    return " ".join(str(name).split()).casefold()


def results_from_dataset(pred: Dataset, gt: Dataset, into: Predictions | None = None
                         ) -> list[dict]:
    """A predicted COCO file -> results list in the ground truth's image ids and
    categories (category_map); what cannot be placed is counted in `into`. A box-only
    annotation is a box-only result."""
    by_name = {r.file_name: r.id for r in gt.images}
    gt_ids = {r.id for r in gt.images}
    into = into if into is not None else Predictions(None)
    cats = category_map(pred, gt, into)
    into.covered, into.images = set(), len(pred.images)
    results = []
    for rec in pred.images:
        image_id = by_name.get(rec.file_name, rec.id if rec.id in gt_ids else None)
        into.total += len(rec.instances)
        if image_id is None:
            for _inst in rec.instances:
                into.count(UNKNOWN_IMAGE, f"{_shown(rec.file_name)}, id {rec.id}")
            continue
        into.covered.add(image_id)
        for inst in rec.instances:
            ann = annotation_json(inst, rec)
            res = {"image_id": image_id,
                   "category_id": cats.get(inst.category_id, inst.category_id),
                   "bbox": ann["bbox"],
                   "score": 1.0 if inst.score is None else inst.score}
            if not (inst.box_only and not inst.edited):
                seg = ann["segmentation"]
                if isinstance(seg, list) or isinstance(seg.get("counts"), list):
                    seg = M.encode_rle(inst.mask, inst.offset, rec.height, rec.width)
                res["segmentation"] = seg
            results.append(res)
    into.results = results
    return results


def load_predictions(path: Path, gt: Dataset) -> Predictions:
    """A COCO results list (as detectron2 and COCO's own tools write it) or a COCO file
    with scores, as results in the ground truth's image ids, with what could not be
    placed counted; refused (FileError) when nothing in it is of the truth."""
    data = read_json(path)
    out = Predictions(Path(path))
    if isinstance(data, list):
        out.results = normalize_results(data, gt, Path(path), out)
    else:
        results_from_dataset(dataset_from_json(data, path=Path(path)), gt, out)
    out.check_matches(gt)
    return out


def normalize_results(data: list, gt: Dataset, path: Path | None = None,
                      into: Predictions | None = None) -> list[dict]:
    """Check a results list and bring every segmentation to compressed RLE.

    Accepts polygons, compressed and uncompressed RLE, and box-only results; numbers
    must be finite, RLE must match its image's size. Results for images the ground
    truth does not have are left out and counted in `into`; results of classes it does
    not have are kept (see Predictions).
    """
    sizes = {}
    for rec in gt.images:
        gt.ensure_size(rec)
        sizes[rec.id] = (rec.height, rec.width)
    into = into if into is not None else Predictions(path)
    into.total += len(data)
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
        if not is_id(r["image_id"]):
            into.count(NOT_INTEGER, r["image_id"])
            continue
        size = sizes.get(r["image_id"])
        if size is None:
            into.count(UNKNOWN_IMAGE, f"image_id {r['image_id']}")
            continue
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
        cat = r["category_id"]
        # "1", 1.0 or true is no category id (though 1.0 == true == 1 in Python): kept as
        # text, a class the truth lacks, which the callers count and say
        res = {"image_id": r["image_id"], "category_id": cat if is_id(cat) else str(cat),
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
    res = [r for r in res if r["image_id"] in known]  # a class the truth lacks: ignored
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
