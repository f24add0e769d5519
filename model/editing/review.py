"""The review policy, free of Qt so the app, the CLI and the tests share one rule.

Predictions are a cache and decisions are data. A prediction made in this session
nobody has looked at is a *cached* prediction: a newer prediction may replace it, it
is never written to the COCO file and it never makes the dataset unsaved. Anything a
person decided (accepted, rejected, edited, drawn) and everything the file came with
is data: predictions never replace it, and a new prediction that duplicates it is
dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from model.data.annotations import Category, ImageRecord, Instance
from model.data.provenance import is_cached, is_decided, is_pristine, review_state
from model.editing.pixel_ops import mask_rect

DEDUP_IOU = 0.5  # a new prediction overlapping kept work this much is a duplicate of it


def mask_iou(a: Instance, b: Instance) -> float:
    """IoU of two cropped masks, computed only inside their overlap."""
    ra, rb = mask_rect(a.mask, a.offset), mask_rect(b.mask, b.offset)
    if ra is None or rb is None:
        return 0.0
    x0, y0, x1, y1 = max(ra[0], rb[0]), max(ra[1], rb[1]), min(ra[2], rb[2]), min(ra[3], rb[3])
    if x0 >= x1 or y0 >= y1:
        return 0.0
    ma = a.mask[y0 - ra[1]:y1 - ra[1], x0 - ra[0]:x1 - ra[0]]
    mb = b.mask[y0 - rb[1]:y1 - rb[1], x0 - rb[0]:x1 - rb[0]]
    inter = np.count_nonzero(ma & mb)
    total = np.count_nonzero(a.mask) + np.count_nonzero(b.mask) - inter
    return inter / total if total else 0.0


# ------------------------------------------------------------------- predictions

@dataclass
class Merge:
    """What a new set of predictions does to one image."""
    removed: list[Instance]  # the cached predictions it replaces
    added: list[Instance]  # new predictions that duplicate nothing kept
    dropped: list[Instance]  # new predictions that duplicate kept work

    @property
    def changes_anything(self) -> bool:
        return bool(self.removed or self.added)


def merge_predictions(current: Sequence[Instance], new: Iterable[Instance],
                      iou: float | None = DEDUP_IOU) -> Merge:
    """Replace only the cached predictions; keep everything else and drop new
    predictions that duplicate it (mask IoU >= iou), whatever their class: a person
    who relabelled a prediction decided its class. iou None: drop nothing."""
    kept = [i for i in current if not is_cached(i)]
    added, dropped = [], []
    for n in new:
        dup = iou is not None and any(mask_iou(n, k) >= iou for k in kept)
        (dropped if dup else added).append(n)
    return Merge([i for i in current if is_cached(i)], added, dropped)


def adopt_categories(categories: Sequence[Category], model_categories: Iterable[Category],
                     used_ids: Iterable[int], reserved: Iterable[int] = ()
                     ) -> tuple[dict[int, int], list[Category]]:
    """Map a model's category ids onto the dataset's, by name.

    A COCO model on a dataset of its own classes must not label a 'person' as
    whatever the dataset calls id 1. A class the dataset lacks becomes a new
    category, marked adopted (written only once a decision uses it), keeping the
    model's id when it is free (not in use and not `reserved`). Returns
    (model id -> dataset id, new categories).
    """
    by_name: dict[str, int] = {}
    for c in categories:
        by_name.setdefault(c.name.lower(), c.id)
    taken = {c.id for c in categories} | set(reserved)
    model_by_id = {c.id: c for c in model_categories if c is not None}
    mapping: dict[int, int] = {}
    new: list[Category] = []
    for mid in dict.fromkeys(used_ids):
        mc = model_by_id.get(mid)
        if mc is None:
            mapping[mid] = mid
        elif mc.name.lower() in by_name:
            mapping[mid] = by_name[mc.name.lower()]
        else:
            cid = mid if mid not in taken else max(taken, default=0) + 1
            cat = Category(cid, mc.name, mc.supercategory, adopted=True)
            new.append(cat)
            taken.add(cid)
            by_name[mc.name.lower()] = cid
            mapping[mid] = cid
    return mapping, new


# ------------------------------------------------------------------ what is offered

def is_offered(rec: ImageRecord, inst: Instance, threshold: float) -> bool:
    """Is this instance put before a person: listed, drawn, counted by training?

    Every decision and everything a file brought is. A pristine prediction is only
    at or above the score threshold, and never on an image marked done: marking done
    decided the image, and training teaches what it left unreviewed as background,
    so lowering the threshold must not offer it again (set_aside says which).
    """
    if not is_pristine(inst):
        return True
    return rec.status != "done" and (inst.score or 0.0) >= threshold


def set_aside(rec: ImageRecord) -> list[Instance]:
    """The predictions an image marked done left unreviewed (hidden by the threshold
    or by H when it was marked, or predicted since): reopening the image offers them."""
    return [i for i in rec.instances if is_pristine(i)] if rec.status == "done" else []


# -------------------------------------------------------------------- navigation

def next_to_review(listed: Sequence[Instance], current: Instance | None,
                   hidden: frozenset[int] | set[int] = frozenset()) -> Instance | None:
    """The next pristine prediction after `current` in list order, wrapping around.

    Never a reviewed, edited or hand-made instance, never a hidden or empty one,
    never `current` itself; None when nothing is left to review.
    """
    n = len(listed)
    start = next((k for k, i in enumerate(listed) if i is current), -1)
    for step in range(1, n + 1):
        cand = listed[(start + step) % n]
        if cand is not current and is_pristine(cand) and id(cand) not in hidden \
                and cand.mask.size:
            return cand
    return None


# ------------------------------------------------------------ the training set

DONE, DECIDED, CORRECTED, OPEN = "done", "decided", "corrected", "open"


def classify_image(rec: ImageRecord, threshold: float = 0.0) -> str:
    """Which training group an image is in.

    done: marked done. decided: every instance decided (accepted, rejected, edited
    or hand-made) and at least one instance. corrected: some decided, some
    predictions still pristine. open: nothing decided yet. Only what is offered
    counts (is_offered): pristine predictions under `threshold` are not shown.
    """
    if rec.status == "done":
        return DONE
    seen = [i for i in rec.instances if is_offered(rec, i, threshold)]
    decided = [is_decided(i) for i in seen]
    if decided and all(decided):
        return DECIDED
    return CORRECTED if any(decided) else OPEN


@dataclass
class TrainingSet:
    """The one rule for what a fine-tune learns from, with the counts to show for it.

    Done and fully decided images are used; on a done image the predictions it left
    unreviewed are background (set_aside), and the app no longer offers them either.
    Images with corrections but pristine predictions left are used only when asked
    for: their objects nobody labelled yet would be taught as background.
    """
    include_corrected: bool = False
    status: dict[str, int] = field(default_factory=lambda: {
        "unreviewed": 0, "in_progress": 0, "done": 0})
    groups: dict[str, int] = field(default_factory=lambda: {
        DONE: 0, DECIDED: 0, CORRECTED: 0, OPEN: 0})
    image_ids: list[int] = field(default_factory=list)
    positives: dict[int, int] = field(default_factory=dict)  # category id -> instances taught
    reviews: dict[str, int] = field(default_factory=dict)  # review_state -> instances shown

    @property
    def used(self) -> int:
        return len(self.image_ids)


def training_set(images: Iterable[ImageRecord], include_corrected: bool = False,
                 threshold: float = 0.0) -> TrainingSet:
    out = TrainingSet(include_corrected)
    use = {DONE, DECIDED} | ({CORRECTED} if include_corrected else set())
    for rec in images:
        out.status[rec.status] = out.status.get(rec.status, 0) + 1
        group = classify_image(rec, threshold)
        out.groups[group] += 1
        for inst in rec.instances:
            if is_offered(rec, inst, threshold):  # as the instance list shows them
                state = review_state(inst)
                out.reviews[state] = out.reviews.get(state, 0) + 1
        if group in use:
            out.image_ids.append(rec.id)
            for inst in rec.instances:
                if inst.is_positive:
                    out.positives[inst.category_id] = out.positives.get(inst.category_id, 0) + 1
    return out
