"""Crowd annotations that are really ordinary instances, said once so the user can decide
(`--crowd-as-instances` on the command line, one question in the app). Left as crowd,
they are never trained on and evaluate as ignore regions.

Writers that do this: CVAT's COCO export (through Datumaro) writes every brush-drawn
instance as RLE with `iscrowd: 1`; supervision's `as_coco` marks every object with a hole
or several parts as crowd (`iscrowd: true` before 0.31, 1 since), with the box's area.
COCO itself keeps crowd regions for what they mean: after 10 to 15 instances of a class
were drawn one by one, the rest of that class in the image became ONE crowd region, RLE,
whose area is its pixel count. So the signs are:

- the file's origin: Datumaro-style (every annotation carries CVAT's `attributes` dict
  with `occluded`, or `info` is Datumaro's skeleton of empty strings), or supervision's
  (an empty `info` and every class's supercategory `common-objects`);
- a crowd region given as a polygon (COCO's are RLE);
- `iscrowd` written as a JSON boolean (COCO's tools write 0 and 1);
- every crowd region's `area` its box's width x height, more than its pixels;
- an image with several crowd regions of one class (COCO has at most one).

The class of a crowd annotation is no sign: real COCO has crowd regions of classes that
also have ordinary instances (person), and datasets keep ignore-only classes as crowd
regions on purpose; for those, the user decides.
"""
from __future__ import annotations

import math
from collections import Counter

from model.data import masks as M
from model.data.annotations import Dataset, ImageRecord, Instance
from model.editing.ops import AttrOp, Edit

SUPERVISION_SUPERCATEGORY = "common-objects"  # supervision's classes_to_coco_categories
_DATUMARO_INFO = {"contributor", "date_created", "description", "url", "version", "year"}


def datumaro_style(ds: Dataset) -> bool:
    info = ds.extra.get("info")
    if isinstance(info, dict) and set(info) == _DATUMARO_INFO and not any(info.values()):
        return True
    seen = False
    for _rec, inst in ds.instances():
        attrs = inst.original.get("attributes") if inst.original else None
        if not (isinstance(attrs, dict) and "occluded" in attrs):
            return False
        seen = True
    return seen


def supervision_style(ds: Dataset) -> bool:
    """supervision's as_coco: `info` empty and every category `common-objects`."""
    return ds.extra.get("info") == {} and bool(ds.categories) and all(
        c.supercategory == SUPERVISION_SUPERCATEGORY for c in ds.categories)


def crowd_sign(ds: Dataset) -> str | None:
    """Why the dataset's crowd annotations look like ordinary instances (a clause for a
    message), or None when they look like crowd regions as COCO means them."""
    crowd = [(rec, inst) for rec, inst in ds.instances() if inst.iscrowd]
    if not crowd:
        return None
    if datumaro_style(ds):
        return "CVAT's COCO export (through Datumaro) writes brush masks that way"
    if supervision_style(ds):
        return ("the file is supervision's as_coco output, which marks every object with a "
                "hole or several parts as crowd")
    anns = [inst.original for _rec, inst in crowd if isinstance(inst.original, dict)]
    polygons = sum(1 for a in anns if isinstance(a.get("segmentation"), list)
                   and a["segmentation"])
    if polygons:
        return (f"{polygons} of them are polygons, which a COCO crowd region never is (it is "
                "RLE)")
    if any(type(a.get("iscrowd")) is bool for a in anns):
        return ("the file writes iscrowd as true/false, as supervision's as_coco did, which "
                "marks every object with a hole or several parts as crowd")
    if _box_areas([(rec, inst) for rec, inst in crowd if isinstance(inst.original, dict)]):
        return ("their area is their box's, not their pixel count as a COCO crowd region's "
                "is: supervision's as_coco writes them so, marking every object with a hole "
                "or several parts as crowd")
    per_class = Counter((rec.id, inst.category_id) for rec, inst in crowd)
    images = len({image for (image, _c), n in per_class.items() if n > 1})
    if images:
        return (f"{images} image(s) hold several crowd regions of one class, where COCO has "
                "at most one (the rest of a class past those drawn one by one)")
    return None


def _box_areas(crowd: list[tuple[ImageRecord, Instance]]) -> bool:
    """Does every crowd region's `area` equal its box's width x height, while its mask
    covers fewer pixels? COCO gives a crowd region its pixel count."""
    seen = False
    for rec, inst in crowd:
        ann = inst.original
        seg, area, bbox = ann.get("segmentation"), ann.get("area"), ann.get("bbox")
        if not (isinstance(seg, dict) and isinstance(area, (int, float))
                and isinstance(bbox, list) and len(bbox) == 4):
            return False
        if not math.isclose(area, bbox[2] * bbox[3], rel_tol=1e-9):
            return False
        try:
            pixels = int(M.segmentation_counts(seg, rec.height, rec.width)[1::2].sum())
        except (ValueError, KeyError, TypeError):
            return False
        if pixels >= area:
            return False
        seen = True
    return seen


def brush_crowds(ds: Dataset) -> list[tuple[ImageRecord, Instance]]:
    """The crowd annotations, when crowd_sign says they look like ordinary instances."""
    if crowd_sign(ds) is None:
        return []
    return [(rec, inst) for rec, inst in ds.instances() if inst.iscrowd]


def crowd_edit(pairs: list[tuple[ImageRecord, Instance]]) -> Edit:
    """One undoable step that makes these crowd masks ordinary instances (the masks,
    ids and every other field stay as they are)."""
    return Edit(f"Treat {len(pairs)} crowd mask(s) as instances",
                [AttrOp(rec, inst, "iscrowd", True, False) for rec, inst in pairs])


def treat_as_instances(ds: Dataset) -> int:
    """The CLI's --crowd-as-instances: every crowd annotation, since the user asked for it
    knowing the file (the signs above only decide whether to ask)."""
    pairs = [(rec, inst) for rec, inst in ds.instances() if inst.iscrowd]
    crowd_edit(pairs).apply()
    return len(pairs)
