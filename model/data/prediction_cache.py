"""Cached predictions on disk, so reopening a dataset does not predict it again.

The COCO file holds the data (what it came with, and every decision); predictions
nobody has looked at are a cache, kept in `.maskloop/<name>.predictions.json`. Each
image's entry records the image file's size in bytes and mtime: a changed image's
predictions are not restored. A cache that cannot be read is ignored, never fatal.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from model.data import masks as M
from model.data.annotations import Category, Dataset, ImageRecord, Instance
from model.data.atomic import atomic_write_json
from model.data.coco_validate import attention_problem
from model.data.provenance import is_cached

FORMAT = "maskloop-predictions/1"


def _stamp(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [int(st.st_size), int(st.st_mtime_ns)]


def _image_stamp(ds: Dataset, rec: ImageRecord) -> list[int] | None:
    try:
        return _stamp(ds.image_path(rec))
    except Exception:  # an escaping file_name: never looked at
        return None


Snap = tuple  # (category_id, score, model, mask or None, offset, lazy segmentation or None)


def snap(inst: Instance) -> Snap:
    """What a cache entry needs of a prediction, read at once on the UI thread (a later
    edit replaces fields, never changes them in place); decoding waits for the writer."""
    if inst.is_lazy:
        return (inst.category_id, inst.score, inst.model, None, None, inst.lazy_segmentation)
    return (inst.category_id, inst.score, inst.model, inst.mask, inst.offset, None)


def image_entry(ds: Dataset, rec: ImageRecord, cached: list[Instance | Snap]) -> dict:
    """One predicted image's cache entry (its cached predictions as compressed RLE)."""
    preds = []
    for item in cached:
        cat, score, model, mask, offset, lazy = snap(item) if isinstance(item, Instance) else item
        if mask is None:
            seg = M.to_compressed_rle(lazy[0], lazy[1], lazy[2])
        else:
            seg = M.encode_rle(mask, offset, rec.height, rec.width)
        preds.append({"category_id": cat, "score": score, "model": model, "segmentation": seg})
    entry = {"id": rec.id, "file_name": rec.file_name, "width": rec.width, "height": rec.height,
             "file": _image_stamp(ds, rec), "model": rec.prediction_model, "predictions": preds}
    if rec.attention is not None:
        entry["attention"] = rec.attention
    return entry


def assemble(entries: list[dict], categories: list[Category]) -> dict:
    """The cache file's content: the entries and the categories they use."""
    used = {p["category_id"] for e in entries for p in e["predictions"]}
    cats = [{"id": c.id, "name": c.name, "supercategory": c.supercategory}
            for c in categories if c.id in used]
    return {"format": FORMAT, "categories": cats, "images": entries}


def cached_of(rec: ImageRecord) -> list[Instance]:
    return [i for i in rec.instances if is_cached(i)]


def cache_json(ds: Dataset) -> dict:
    """Every predicted image's cached predictions (an image predicted empty too)."""
    return assemble([image_entry(ds, rec, cached_of(rec)) for rec in ds.images
                     if rec.prediction_model is not None and rec.size_known], ds.categories)


def write_cache_json(path: Path, data: dict) -> None:
    """Write the cache atomically; with nothing predicted, remove the file."""
    if not data["images"]:
        Path(path).unlink(missing_ok=True)
        return
    atomic_write_json(path, data)


def write_cache(path: Path, ds: Dataset) -> None:
    write_cache_json(path, cache_json(ds))


@dataclass
class CachedImage:
    rec: ImageRecord
    model: str
    instances: list[Instance]
    entry: dict  # as read: written back as it is while the image does not change
    attention: float | None = None  # the predictions' review priority (None: not computed)


@dataclass
class Cache:
    categories: list[Category]
    images: list[CachedImage]
    skipped: int  # entries whose image changed or is gone


def read_cache(path: Path, ds: Dataset) -> Cache | None:
    """The cached predictions that still fit `ds`; None when there is no readable cache."""
    try:
        data = json.loads(Path(path).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    try:
        return _parse(data, ds)
    except (KeyError, TypeError, ValueError):
        return None  # hand-edited or from a newer version: predicting again is safe


def _parse(data: dict, ds: Dataset) -> Cache:
    cats = [Category(int(c["id"]), str(c["name"]), c.get("supercategory"))
            for c in data["categories"]]
    by_id = {rec.id: rec for rec in ds.images}
    images, skipped = [], 0
    for entry in data["images"]:
        rec = by_id.get(entry["id"])
        w, h = int(entry["width"]), int(entry["height"])
        if rec is None or rec.file_name != entry["file_name"] \
                or (rec.size_known and (rec.width, rec.height) != (w, h)) \
                or entry.get("file") is None or _image_stamp(ds, rec) != entry["file"]:
            skipped += 1
            continue
        if not rec.size_known:
            rec.width, rec.height = w, h  # the stamp says it is the same file
        insts = []
        for p in entry["predictions"]:
            seg = p["segmentation"]
            if M.segmentation_size(seg) != (h, w) or not isinstance(seg.get("counts"), str):
                raise ValueError("bad segmentation")
            score = float(p["score"])
            if not 0.0 <= score <= 1.0:
                raise ValueError("bad score")
            ann = {"id": None, "category_id": int(p["category_id"]), "segmentation": seg,
                   "score": score, "source": "model", "review": "unreviewed",
                   "model": p.get("model")}
            inst = Instance.from_annotation(ann, h, w)
            inst.original = None  # a cached prediction, not the file's
            insts.append(inst)
        attention = entry.get("attention")
        if attention is not None and attention_problem(attention):
            raise ValueError("bad attention")
        images.append(CachedImage(rec, str(entry["model"]), insts, entry,
                                  None if attention is None else float(attention)))
    return Cache(cats, images, skipped)
