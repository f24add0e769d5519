"""Likely label errors: the decided annotations compared with a model's predictions.

Four rules, each giving a suspect a reason and a score in [0, 1] (higher: more likely an
error); the list is ranked by score, so a reviewer works from the top.

- missing: a confident prediction (score >= CONFIDENT) that no annotation overlaps
  (mask IoU < OVERLAP_IOU; an annotation whose own closest prediction is another one
  does not count, so an unlabelled object beside a labelled one is found) on an image marked done or fully decided (the training-set
  rule of model/editing/review.py: only there does "no annotation" mean "not an object").
  Score: the prediction's score.
- wrong_class: a confident prediction of another class that matches an annotation at
  mask IoU >= MATCH_IOU, with no same-class prediction as confident on it.
  Score: the other class's score less the best same-class score there.
- sloppy_mask: a confident match (IoU >= OVERLAP_IOU, any class) whose best mask IoU is
  below SLOPPY_IOU. Score: the prediction's score times (1 - IoU).
- spurious: an annotation that no prediction at or above LOW_SCORE overlaps (IoU >=
  OVERLAP_IOU). Score: 1 - the best score of any prediction overlapping it at all.

Annotations are the decided ones (model/data/provenance.is_decided), not rejected, not
crowd. A prediction that overlaps a rejected annotation or a crowd region is not
"missing": a person already said what is there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterable, Mapping, Sequence

import numpy as np

from model.data import masks as M
from model.data.annotations import Dataset, ImageRecord, Instance
from model.data.atomic import atomic_write_json
from model.data.coco_validate import check_pending, check_segmentation, is_id, read_json
from model.data.provenance import is_decided
from model.editing.review import DECIDED, DONE, classify_image, mask_iou
from model.errors import SuspectsFileError

CONFIDENT = 0.5  # a prediction the rules trust (missing, wrong_class, sloppy_mask)
LOW_SCORE = 0.05  # spurious: not even a prediction this unsure overlaps the annotation
OVERLAP_IOU = 0.1  # below this a prediction and an annotation do not overlap
MATCH_IOU = 0.5  # the same object (COCO's AP50 match)
# The issue proposed 0.7. A mask grown by 30 % of its area has IoU 1/1.3 = 0.77 with its
# object, one shrunk by 30 %: 0.70, so 0.7 misses both (bench/audit.py). 0.8 flags them;
# the score (1 - IoU) puts the worst masks first, so a well-drawn mask a good model
# disagrees with a little ranks low.
SLOPPY_IOU = 0.8
DUPLICATE_IOU = 0.5  # two confident predictions of one unlabelled object: one suspect

REASONS = ("missing", "wrong_class", "sloppy_mask", "spurious")


@dataclass
class Suspect:
    """One likely error. `category_id` and `mask`/`offset` are the model's alternative
    (None for spurious: the model's version is no annotation at all)."""
    image_id: int
    reason: str
    score: float
    annotation_id: int | None = None
    category_id: int | None = None
    mask: np.ndarray | None = None
    offset: tuple[int, int] = (0, 0)
    segmentation: dict | None = None  # compressed RLE of the alternative (as read or written)

    def alternative(self, height: int, width: int) -> Instance | None:
        """The model's version as an instance (mask decoded from the RLE if needed)."""
        if self.category_id is None:
            return None
        mask, offset = self.mask, self.offset
        if mask is None and self.segmentation is not None:
            mask, offset = M.decode_segmentation(self.segmentation, height, width)
        return Instance(self.category_id, mask, offset, score=self.score, source="model")

    def to_json(self, rec: ImageRecord) -> dict:
        out: dict = {"image_id": self.image_id, "reason": self.reason,
                     "score": round(float(self.score), 6)}
        if self.annotation_id is not None:
            out["annotation_id"] = self.annotation_id
        if self.category_id is not None:
            out["category_id"] = self.category_id
            seg = self.segmentation
            if seg is None and self.mask is not None:
                seg = M.encode_rle(self.mask, self.offset, rec.height, rec.width)
            out["segmentation"] = seg
        return out


# ----------------------------------------------------------------------- the rules

def annotations(rec: ImageRecord) -> list[Instance]:
    """What the audit checks: decided, not rejected, not crowd, with pixels."""
    return [i for i in rec.instances
            if is_decided(i) and i.review != "rejected" and not i.iscrowd and i.mask.size]


def _blockers(rec: ImageRecord) -> list[Instance]:
    """Rejected annotations and crowd regions: a prediction on them is not a missed object."""
    return [i for i in rec.instances if (i.review == "rejected" or i.iscrowd) and i.mask.size]


def image_suspects(rec: ImageRecord, predictions: Sequence[Instance],
                   categories: Collection[int] | None = None) -> list[Suspect]:
    """The four rules on one image. A prediction of a class not in `categories` (a class
    the dataset lacks) only says that the model sees an object there: it keeps the
    annotations it overlaps from being spurious, and is never an alternative."""
    anns = annotations(rec)
    preds = [p for p in predictions if p.mask.size and p.score is not None]
    iou = np.array([[mask_iou(a, p) for p in preds] for a in anns]).reshape(len(anns), len(preds))
    scores = np.array([p.score for p in preds], dtype=float)
    known = np.array([categories is None or p.category_id in categories for p in preds],
                     dtype=bool)
    confident = (scores >= CONFIDENT) & known
    out: list[Suspect] = []
    for ai, a in enumerate(anns):
        row = iou[ai]
        over = row >= OVERLAP_IOU
        if not (over & (scores >= LOW_SCORE)).any():
            best = float(scores[over].max()) if over.any() else 0.0
            out.append(Suspect(rec.id, "spurious", 1.0 - best, a.id))
            continue
        same = np.array([p.category_id == a.category_id for p in preds], dtype=bool)
        matched = confident & (row >= MATCH_IOU)
        other = matched & ~same
        if other.any():
            k = int(np.argmax(np.where(other, scores, -1.0)))
            same_best = float(scores[matched & same].max()) if (matched & same).any() else 0.0
            if scores[k] > same_best:
                p = preds[k]
                out.append(Suspect(rec.id, "wrong_class", float(scores[k]) - same_best, a.id,
                                   p.category_id, p.mask, p.offset))
        cand = confident & over
        if cand.any():
            k = int(np.argmax(np.where(cand, row, -1.0)))
            if row[k] < SLOPPY_IOU:
                p = preds[k]
                out.append(Suspect(rec.id, "sloppy_mask", float(scores[k]) * (1.0 - row[k]),
                                   a.id, a.category_id, p.mask, p.offset))
    if classify_image(rec) in (DONE, DECIDED):
        blockers = _blockers(rec)
        best_of = np.where(known, iou, -1.0).argmax(axis=1) if len(preds) else np.zeros(0, int)
        flagged: list[Instance] = []
        for pi in np.argsort(-scores, kind="stable"):
            p = preds[int(pi)]
            if scores[pi] < CONFIDENT:
                break
            if not known[pi]:
                continue
            col = iou[:, pi]
            # covered: the same object as an annotation, or the closest prediction of one
            # it overlaps (an unlabelled object beside a labelled one overlaps it a little)
            if (col >= MATCH_IOU).any() or ((col >= OVERLAP_IOU) & (best_of == pi)).any():
                continue
            if any(mask_iou(p, a) >= OVERLAP_IOU for a in blockers):
                continue
            if any(mask_iou(p, f) >= DUPLICATE_IOU for f in flagged):
                continue
            flagged.append(p)
            out.append(Suspect(rec.id, "missing", float(p.score), None, p.category_id,
                               p.mask, p.offset))
    return out


def find_suspects(ds: Dataset, predictions: Mapping[int, Sequence[Instance]],
                  image_ids: Iterable[int] | None = None) -> list[Suspect]:
    """Every image's suspects, ranked (highest score first; ties by image, then annotation).
    `predictions` maps image id -> the model's instances; an image without an entry was not
    predicted and is skipped (not every annotation on it is spurious)."""
    wanted = None if image_ids is None else set(image_ids)
    categories = {c.id for c in ds.categories}
    out: list[Suspect] = []
    for rec in ds.images:
        if (wanted is not None and rec.id not in wanted) or rec.id not in predictions:
            continue
        out += image_suspects(rec, predictions[rec.id], categories)
    return rank(out)


def rank(suspects: Iterable[Suspect]) -> list[Suspect]:
    return sorted(suspects, key=lambda s: (-s.score, s.image_id, s.annotation_id or 0,
                                           REASONS.index(s.reason)))


def predictions_from_results(results: Iterable[dict], ds: Dataset,
                             covered: Iterable[int] | None = None) -> dict[int, list[Instance]]:
    """COCO results (model/metrics/evaluate.load_predictions: RLE, the dataset's image ids)
    -> instances by image id. Every image `covered` (default: every image of the dataset)
    gets an entry: an image the file speaks for but has no result for had no
    detections. Box-only results are left out; those of a class the dataset lacks are
    kept (image_suspects counts them only against 'spurious')."""
    ids = [rec.id for rec in ds.images] if covered is None else covered
    out: dict[int, list[Instance]] = {i: [] for i in ids}
    sizes = {rec.id: (rec.height, rec.width) for rec in ds.images}
    for r in results:
        if "segmentation" not in r or r["image_id"] not in out:
            continue
        h, w = sizes[r["image_id"]]
        mask, offset = M.decode_segmentation(r["segmentation"], h, w)
        out[r["image_id"]].append(Instance(r["category_id"], mask, offset, score=r["score"],
                                           source="model"))
    return out


# -------------------------------------------------------------------- SUSPECTS.json

def suspects_json(ds: Dataset, suspects: Sequence[Suspect]) -> list[dict]:
    recs = {rec.id: rec for rec in ds.images}  # one lookup table: 80k suspects stay linear
    return [s.to_json(recs[s.image_id]) for s in suspects]


def write_suspects(path: Path | str, ds: Dataset, suspects: Sequence[Suspect]) -> None:
    """SUSPECTS.json, written atomically, checked to read back first."""
    data = suspects_json(ds, suspects)
    parse_suspects(data, ds, Path(path))
    atomic_write_json(path, data)


def read_suspects(path: Path | str, ds: Dataset) -> list[Suspect]:
    """SUSPECTS.json checked against the open dataset; SuspectsFileError names every problem."""
    return parse_suspects(read_json(Path(path)), ds, Path(path))


def parse_suspects(data, ds: Dataset, path: Path | None = None) -> list[Suspect]:
    if not isinstance(data, list):
        raise SuspectsFileError(path, ["a suspects file is a JSON list of objects"])
    # lookup tables, so checking every suspect is linear in their number (searching an
    # image's annotations per suspect took 308 s for 80k suspects on one image)
    recs = {rec.id: rec for rec in ds.images}
    ann_ids: dict[int, set] = {}
    cat_ids = {c.id for c in ds.categories}
    problems: list[str] = []
    pending: list[tuple[str, int, str]] = []  # RLE strings, checked together at the end
    out: list[Suspect] = []
    for i, s in enumerate(data):
        where = f"suspect #{i}"
        if not isinstance(s, dict):
            problems.append(f"{where}: not an object")
            continue
        reason, score = s.get("reason"), s.get("score")
        if reason not in REASONS:
            problems.append(f"{where}: 'reason' must be one of {', '.join(REASONS)}")
            continue
        if isinstance(score, bool) or not isinstance(score, (int, float)) \
                or not math.isfinite(score):
            problems.append(f"{where}: 'score' must be a finite number")
            continue
        rec = recs.get(s.get("image_id")) if is_id(s.get("image_id")) else None
        if rec is None:
            problems.append(f"{where}: image_id {s.get('image_id')!r} is not in the dataset")
            continue
        ann_id = s.get("annotation_id")
        needs_ann = reason != "missing"
        if needs_ann and rec.id not in ann_ids:
            ann_ids[rec.id] = {a.id for a in rec.instances}
        if needs_ann and not (is_id(ann_id) and ann_id in ann_ids[rec.id]):
            problems.append(f"{where}: annotation_id {ann_id!r} is not an annotation of "
                            f"image {rec.id}")
            continue
        cat, seg = s.get("category_id"), s.get("segmentation")
        needs_alt = reason != "spurious"
        if needs_alt:
            if not is_id(cat) or cat not in cat_ids:
                problems.append(f"{where}: category_id {cat!r} is not a category of the dataset")
                continue
            ds.ensure_size(rec)
            seg_problems: list[str] = []
            check_segmentation(seg, where, (rec.height, rec.width), seg_problems, pending)
            if seg_problems:
                problems += seg_problems
                continue
            if not (isinstance(seg, dict) and isinstance(seg.get("counts"), str)):
                seg = M.to_compressed_rle(seg, rec.height, rec.width)
        out.append(Suspect(rec.id, reason, float(score), ann_id if needs_ann else None,
                           cat if needs_alt else None, segmentation=seg if needs_alt else None))
    check_pending(pending, problems)
    if problems:
        raise SuspectsFileError(path, problems)
    return rank(out)
