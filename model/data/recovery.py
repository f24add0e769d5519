"""Crash recovery without copying the dataset: a recovery file holds only the images
whose data changed since the last save, plus the categories and root keys, as a COCO
file of its own (so it is validated like any other). Restoring lays it over the
dataset as it was opened from disk.

Autosave builds it in two halves: on the UI thread, shallow copies of the images that
changed since the last autosave (masks never change in place, so a copy is safe to
read on another thread); on the writer thread, their JSON, joined with the parts of
the unchanged images kept from earlier autosaves.
"""
from __future__ import annotations

from model.data.annotations import Category, Dataset, ImageRecord
from model.data.coco import annotation_json, image_json
from model.data.provenance import is_cached

KEY = "maskloop_recovery"
Part = tuple[dict, list[dict]]  # an image's JSON and its annotations' JSON


def copy_image(rec: ImageRecord) -> ImageRecord:
    """The image's data (not its cached predictions), as shallow copies."""
    keep = [i.copy() for i in rec.instances if not is_cached(i)]
    return ImageRecord(rec.id, rec.file_name, rec.width, rec.height, keep, rec.status,
                       dict(rec.extra), rec.path_error)


def image_part(rec: ImageRecord) -> Part:
    return image_json(rec), [annotation_json(inst, rec) for inst in rec.instances]


def document(parts: list[Part], categories: list[Category], extra: dict,
             key_order: list[str], info: dict) -> dict:
    """A COCO document of these images, in the file's key order, with the recovery note."""
    body = {"images": [p[0] for p in parts],
            "annotations": [a for p in parts for a in p[1]],
            "categories": [c.to_json() for c in categories]}
    keys = list(dict.fromkeys(list(key_order) + list(extra) + list(body)))
    out = {k: body[k] if k in body else extra[k] for k in keys if k != KEY}
    out[KEY] = info
    return out


def snapshot(ds: Dataset, image_ids: set[int]) -> Dataset:
    """The changed images' data as one Dataset (tests; autosave uses copy_image)."""
    snap = Dataset(list(ds.categories), [], ds.image_root, None, dict(ds.extra))
    snap.key_order = list(ds.key_order)
    snap.continue_ids_from(ds)
    snap.images = [copy_image(rec) for rec in ds.images if rec.id in image_ids]
    return snap


def apply(base: Dataset, saved: Dataset) -> tuple[list[int], list[str]]:
    """Lay a recovery copy over the dataset opened from disk: its categories and root
    keys, and each of its images' instances and review state. Returns the image ids
    restored and the file names the base does not have."""
    base.categories = list(saved.categories)
    base.extra = {k: v for k, v in saved.extra.items() if k != KEY}
    by_key = {(r.id, r.file_name): r for r in base.images}
    restored, missing = [], []
    for rec in saved.images:
        target = by_key.get((rec.id, rec.file_name))
        if target is None:
            missing.append(rec.file_name)
            continue
        target.instances = rec.instances
        target.status = rec.status
        restored.append(rec.id)
        for inst in rec.instances:
            base.note_annotation_id(inst.id)
    return restored, missing
