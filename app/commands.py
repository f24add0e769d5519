"""One QUndoCommand per user action (Qt's undoframework example), built from the
small ops in edits.py so every action undoes exactly."""
from __future__ import annotations

from model.annotations import Category, ImageRecord, Instance
from model.mask_edit import fill_holes, remove_islands, union_masks

from .document import Document, is_pristine_prediction
from .edits import AttrOp, CategoryOp, EditCommand, PatchOp, RemoveOp, StatusOp, touch_status


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def review_command(doc: Document, rec: ImageRecord, instances: list[Instance],
                   review: str) -> EditCommand:
    """Accept or reject (A / R). Reviewing an unreviewed image puts it in progress."""
    verb = {"accepted": "Accept", "rejected": "Reject", "unreviewed": "Reset"}[review]
    ops = [AttrOp(rec, i, "review", i.review, review) for i in instances if i.review != review]
    if rec.status == "unreviewed":
        ops.append(StatusOp(rec, rec.status, "in_progress"))
    return EditCommand(doc, f"{verb} {_plural(len(instances), 'instance')}", ops)


def status_command(doc: Document, rec: ImageRecord, done: bool) -> EditCommand:
    """Mark done, accepting every prediction still shown and unreviewed (what a
    reviewer means by 'this image is right'), or reopen the image."""
    ops = []
    if done:
        ops = [AttrOp(rec, i, "review", i.review, "accepted") for i in doc.drawn(rec)
               if is_pristine_prediction(i)]
    after = "done" if done else "in_progress"
    ops.append(StatusOp(rec, rec.status, after))
    return EditCommand(doc, f"Mark {rec.file_name} {after.replace('_', ' ')}", ops)


def delete_command(doc: Document, rec: ImageRecord, instances: list[Instance]) -> EditCommand:
    index = {id(i): k for k, i in enumerate(rec.instances)}
    ops = [RemoveOp(rec, i, index[id(i)]) for i in sorted(instances, key=lambda i: -index[id(i)])]
    ops.append(touch_status(rec))
    return EditCommand(doc, f"Delete {_plural(len(instances), 'instance')}", ops)


def relabel_command(doc: Document, rec: ImageRecord, instances: list[Instance],
                    category_id: int) -> EditCommand | None:
    changed = [i for i in instances if i.category_id != category_id]
    if not changed:
        return None
    ops = [AttrOp(rec, i, "category_id", i.category_id, category_id) for i in changed]
    ops += [AttrOp(rec, i, "source", "model", "edited") for i in changed if i.source == "model"]
    ops.append(touch_status(rec))
    name = doc.dataset.category_names().get(category_id, str(category_id))
    return EditCommand(doc, f"Relabel {_plural(len(changed), 'instance')} as {name}", ops)


def reshape_command(doc: Document, rec: ImageRecord, inst: Instance, new_mask, text: str
                    ) -> EditCommand | None:
    """Replace one instance's mask (fill holes, remove islands, polygon). An instance
    left empty is removed in the same step."""
    before, state = (inst.mask, inst.offset), inst.edit_state()
    index = next(k for k, i in enumerate(rec.instances) if i is inst)
    probe = inst.copy()
    probe.set_mask(*new_mask)
    op = PatchOp.build(rec, probe, before, (probe.mask, probe.offset), state)
    if op is None:
        return None
    op.inst = inst
    ops = [op]
    if probe.mask.size == 0:
        ops.append(RemoveOp(rec, inst, index))
    ops.append(touch_status(rec))
    return EditCommand(doc, text, ops)


def fill_holes_command(doc: Document, rec: ImageRecord, inst: Instance) -> EditCommand | None:
    return reshape_command(doc, rec, inst, (fill_holes(inst.mask), inst.offset), "Fill holes")


def remove_islands_command(doc: Document, rec: ImageRecord, inst: Instance,
                           min_pixels: int) -> EditCommand | None:
    return reshape_command(doc, rec, inst, (remove_islands(inst.mask, min_pixels), inst.offset),
                           f"Remove islands under {min_pixels} px")


def merge_command(doc: Document, rec: ImageRecord, instances: list[Instance]) -> EditCommand | None:
    """The first selected instance takes the union (keeping its id and class); the
    others, added with Ctrl+click, are removed."""
    if len(instances) < 2:
        return None
    keep, others = instances[0], instances[1:]
    merged = union_masks([(i.mask, i.offset) for i in instances])
    cmd = reshape_command(doc, rec, keep, merged, f"Merge {len(instances)} instances")
    ops = cmd.ops if cmd is not None else [touch_status(rec)]
    index = {id(i): k for k, i in enumerate(rec.instances)}
    ops[-1:-1] = [RemoveOp(rec, i, index[id(i)]) for i in sorted(others, key=lambda i: -index[id(i)])]
    return EditCommand(doc, f"Merge {len(instances)} instances", ops)


def add_category_ops(doc: Document, name: str, color: str | None = None) -> tuple[CategoryOp, Category]:
    used = {c.id for c in doc.dataset.categories}
    new_id = max(used, default=0) + 1
    cat = Category(new_id, name, None, extra={"color": color} if color else {})
    return CategoryOp(None, cat, len(doc.dataset.categories)), cat
