"""Every user action as one Edit, built from the ops in ops.py. The app's
undo commands wrap these; nothing here changes the dataset until an Edit is applied.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

from model.data.annotations import Category, Dataset, ImageRecord, Instance
from model.editing.ops import (AttrOp, CategoryOp, Edit, InsertOp, Mask, Op, PatchOp, RemoveOp,
                               StampOp, StatusOp)
from model.editing.pixel_ops import fill_holes, remove_islands, union_masks
from model.data.provenance import is_pristine
from model.editing.review import DEDUP_IOU, Merge, adopt_categories, merge_predictions
from model.text import plural


def touch_status(rec: ImageRecord) -> StatusOp | None:
    """Changing an image puts it in progress (from unreviewed or done)."""
    return None if rec.status == "in_progress" else StatusOp(rec, rec.status, "in_progress")


def _removals(rec: ImageRecord, instances: list[Instance]) -> list[RemoveOp]:
    """Remove ops, highest index first, so each index is right when it is reverted."""
    index = {id(i): k for k, i in enumerate(rec.instances)}
    return [RemoveOp(rec, i, index[id(i)]) for i in sorted(instances, key=lambda i: -index[id(i)])]


def review_edit(rec: ImageRecord, instances: list[Instance], review: str) -> Edit:
    """Accept or reject (A / R). Reviewing an unreviewed image puts it in progress."""
    verb = {"accepted": "Accept", "rejected": "Reject", "unreviewed": "Reset"}[review]
    ops: list[Op] = [AttrOp(rec, i, "review", i.review, review) for i in instances
                     if i.review != review]
    if ops and rec.status == "unreviewed":
        ops.append(StatusOp(rec, rec.status, "in_progress"))
    return Edit(f"{verb} {plural(len(instances), 'instance')}", ops)


def status_edit(rec: ImageRecord, done: bool, shown: list[Instance]) -> Edit:
    """Mark done, accepting every prediction still shown and unreviewed (what a
    reviewer means by 'this image is right'), or reopen the image."""
    ops: list[Op] = []
    if done:
        ops = [AttrOp(rec, i, "review", i.review, "accepted") for i in shown if is_pristine(i)]
    after = "done" if done else "in_progress"
    ops.append(StatusOp(rec, rec.status, after))
    return Edit(f"Mark image {after.replace('_', ' ')}", ops)


def review_hidden_edit(rec: ImageRecord) -> Edit:
    """Reopen an image marked done so that the predictions it set aside are offered
    again (Review hidden predictions); nothing for an image that is not done."""
    ops: list[Op] = [StatusOp(rec, rec.status, "in_progress")] if rec.status == "done" else []
    return Edit("Review hidden predictions", ops)


def delete_edit(rec: ImageRecord, instances: list[Instance]) -> Edit:
    return Edit(f"Delete {plural(len(instances), 'instance')}",
                [*_removals(rec, instances), touch_status(rec)])


def relabel_edit(rec: ImageRecord, instances: list[Instance], category_id: int,
                 name: str) -> Edit:
    """A relabelled instance is edited: its class is a person's decision now."""
    changed = [i for i in instances if i.category_id != category_id]
    ops: list[Op] = [AttrOp(rec, i, "category_id", i.category_id, category_id) for i in changed]
    ops += [AttrOp(rec, i, "source", i.source, i.edited_source()) for i in changed
            if i.edited_source() != i.source]
    if ops:
        ops.append(touch_status(rec))
    return Edit(f"Relabel {plural(len(changed), 'instance')} as {name}", ops)


def mask_ops(rec: ImageRecord, inst: Instance, after: Mask, keep_result: bool = False,
             rect=None) -> list[Op]:
    """Replace one instance's mask; an instance left empty is removed in the same step.
    `rect`, when given, holds every changed pixel (a stroke's extent)."""
    op = PatchOp.build(rec, inst, after, rect, keep_result=keep_result)
    if op is None:
        return []
    return [op] + (_removals(rec, [inst]) if after[0].size == 0 else [])


def reshape_edit(rec: ImageRecord, inst: Instance, after: Mask, text: str) -> Edit:
    ops = mask_ops(rec, inst, after, keep_result=True)
    return Edit(text, ops + [touch_status(rec)] if ops else [])


def fill_holes_edit(rec: ImageRecord, inst: Instance) -> Edit:
    return reshape_edit(rec, inst, (fill_holes(inst.mask), inst.offset), "Fill holes")


def remove_islands_edit(rec: ImageRecord, inst: Instance, min_pixels: int) -> Edit:
    return reshape_edit(rec, inst, (remove_islands(inst.mask, min_pixels), inst.offset),
                        f"Remove islands under {min_pixels} px")


def merge_edit(rec: ImageRecord, instances: list[Instance]) -> Edit:
    """The first selected instance takes the union (keeping its id and class); the
    others are removed."""
    if len(instances) < 2:
        return Edit("Merge")
    keep, others = instances[0], instances[1:]
    merged = union_masks([(i.mask, i.offset) for i in instances])
    ops: list[Op] = mask_ops(rec, keep, merged, keep_result=True)
    ops += _removals(rec, others)
    ops.append(touch_status(rec))
    return Edit(f"Merge {len(instances)} instances", ops)


def insert_edit(rec: ImageRecord, inst: Instance, text: str) -> Edit:
    return Edit(text, [InsertOp(rec, inst, len(rec.instances)), touch_status(rec)])


# -------------------------------------------------------------------- categories

def new_category(ds: Dataset, name: str, color: str | None = None) -> Category:
    new_id = max([c.id for c in ds.categories] + list(ds.retired_category_ids), default=0) + 1
    return Category(new_id, name, None, extra={"color": color} if color else {})


def add_category_op(ds: Dataset, cat: Category) -> CategoryOp:
    return CategoryOp(ds, None, cat, len(ds.categories))


def change_category_edit(ds: Dataset, cat: Category, text: str, **fields) -> Edit:
    """Rename, set the supercategory or recolour. The user chose it: no longer adopted."""
    new = copy.copy(cat)
    new.extra = dict(cat.extra)
    new.adopted = False
    for k, v in fields.items():
        if k == "color":
            new.extra["color"] = v
        else:
            setattr(new, k, v)
    return Edit(text, [CategoryOp(ds, cat, new)])


def delete_category_edit(ds: Dataset, cat: Category, reassign_to: int | None) -> Edit | None:
    """A class in use is deleted only by moving its instances to another class."""
    users = [(rec, i) for rec, i in ds.instances() if i.category_id == cat.id]
    if users and reassign_to is None:
        return None
    ops: list[Op] = [AttrOp(rec, i, "category_id", cat.id, reassign_to) for rec, i in users]
    ops.append(CategoryOp(ds, cat, None, ds.categories.index(cat)))
    return Edit(f"Delete class {cat.name}", ops)


# ------------------------------------------------------------------- predictions

@dataclass
class Predictions:
    """One image's new predictions, as edits to apply."""
    categories: Edit  # adopted categories: applied, never undone (other images may use them)
    instances: Edit  # the cached predictions replaced by the new ones
    merge: Merge


def predictions_edit(ds: Dataset, rec: ImageRecord, new: list[Instance],
                     model_categories, model_id: str | None, dedup: bool = True,
                     attention: float | None = None) -> Predictions:
    """New predictions for one image: categories adopted by name, the cached
    predictions replaced, kept work untouched, duplicates of it dropped.

    The new instances get the dataset's category ids and fresh annotation ids. A
    category the dataset lacks is added as adopted; an unused adopted category is
    never written to the COCO file. `dedup` False skips the duplicate check (the
    prediction cache restored on open was consistent when it was written).
    """
    mapping, cats = adopt_categories(ds.categories, model_categories,
                                     [i.category_id for i in new], ds.retired_category_ids)
    for inst in new:
        inst.category_id = mapping.get(inst.category_id, inst.category_id)
    merge = merge_predictions(rec.instances, new, DEDUP_IOU if dedup else None)
    for inst in merge.added:
        if inst.id is None:
            inst.id = ds.new_annotation_id()
    ops: list[Op] = list(_removals(rec, merge.removed))
    n = len(rec.instances)
    ops += [InsertOp(rec, inst, n + k) for k, inst in enumerate(merge.added)]
    if rec.prediction_model != model_id or rec.attention != attention:
        ops.append(StampOp(rec, rec.prediction_model, model_id, rec.attention, attention))
    n_cats = len(ds.categories)
    adopt = [CategoryOp(ds, None, c, n_cats + k) for k, c in enumerate(cats)]
    return Predictions(Edit("Adopt the model's classes", adopt, cache=True),
                       Edit("Predictions", ops, cache=True), merge)
