"""Crowd masks that are really brush masks: CVAT's COCO export (through Datumaro)
writes every brush-drawn instance as RLE with `iscrowd: 1`. Left as crowd, they are
never trained on and evaluate as ignore regions, so the user is asked once.

The sign is the file's origin: a Datumaro-style file, whose every annotation carries
CVAT's `attributes` dict (with `occluded`), or whose `info` is Datumaro's skeleton of
empty strings. The class of a crowd annotation is no sign: real COCO has crowd regions
of classes that also have ordinary instances (person), and datasets keep ignore-only
classes as crowd regions on purpose; for those, `--crowd-as-instances` (CLI) decides.
"""
from __future__ import annotations

from model.data.annotations import Dataset, ImageRecord, Instance
from model.editing.ops import AttrOp, Edit

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


def brush_crowds(ds: Dataset) -> list[tuple[ImageRecord, Instance]]:
    """The crowd annotations that look like ordinary instances drawn with a brush."""
    crowd = [(rec, inst) for rec, inst in ds.instances() if inst.iscrowd]
    if not crowd or not datumaro_style(ds):
        return []
    return crowd


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
