"""The effort record on disk: `.maskloop/<coco stem>.effort.json` beside the COCO file
(never in it: effort is about the person's work, not the data), written atomically when
the dataset is saved, so it always describes the saved file.

Reading validates every number (finite, non-negative integers; IoUs in [0, 1]) and
every name; an entry that does not fit is skipped and said in one warning naming the
file, never fatal: the record is a measurement, and the data must still open. A
gesture kind this version does not know (written by a newer one) is left out of its
entry, which is kept, and said in the same warning.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from model.data import masks as M
from model.data.annotations import Dataset
from model.data.images import DEFAULT_MAX_PIXELS
from model.data.state_folder import state_folder
from model.data.atomic import atomic_write_json
from model.effort.action_costs import KINDS, Tally
from model.effort.record import MODEL, ORIGINS, OUTCOMES, EffortRecord, ImageEffort, Touched

FORMAT = "maskloop-effort/1"
NAME = "effort.json"


def effort_file(coco_path: Path) -> Path:
    """Where the effort of the dataset saved at coco_path is kept."""
    coco_path = Path(coco_path)
    return state_folder(coco_path.parent)[0] / f"{coco_path.stem}.{NAME}"


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2 ** 53


def _iou(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) \
        and 0.0 <= v <= 1.0


# ------------------------------------------------------------------------- writing

def to_json(entries: list[dict]) -> dict:
    """record.image_entry dicts as the file holds them (model masks as compressed RLE)."""
    images = []
    for e in entries:
        insts = []
        for item in e["instances"]:
            item = dict(item)
            mm = item.pop("model_mask", None)
            if isinstance(mm, dict):  # as a file held it (read, never decoded)
                item["model_mask"] = mm
            elif mm is not None and e["width"] and e["height"]:
                item["model_mask"] = M.encode_rle(mm[0], mm[1], e["height"], e["width"])
            insts.append(item)
        images.append({**e, "instances": insts})
    return {"format": FORMAT, "images": images}


def write(path: Path, record: EffortRecord, ds: Dataset) -> dict:
    """Write the record as the saved dataset makes it; what is written is read back
    first (a file MaskLoop cannot read must never replace one it could)."""
    doc = to_json(record.outcomes(ds))
    _entries, problems = parse(json.loads(json.dumps(doc)))
    if problems:
        raise ValueError(f"{path}: the effort record to write does not validate: {problems[0]}")
    atomic_write_json(path, doc)
    return doc


# ------------------------------------------------------------------------- reading

def _instance(item, width: int, height: int) -> tuple[dict | None, str | None]:
    if not isinstance(item, dict):
        return None, "an instance that is not an object"
    if not _count(item.get("id")):
        return None, f"instance id {item.get('id')!r} is not a non-negative integer"
    if not isinstance(item.get("version"), str):
        return None, f"instance {item['id']}: version is not a string"
    if item.get("origin") not in ORIGINS:
        return None, f"instance {item['id']}: origin {item.get('origin')!r} is not one of " \
                     f"{', '.join(ORIGINS)}"
    if item.get("outcome") not in OUTCOMES:
        return None, f"instance {item['id']}: outcome {item.get('outcome')!r} is not one of " \
                     f"{', '.join(OUTCOMES)}"
    out = {k: item[k] for k in ("id", "version", "origin", "outcome")}
    if "iou" in item:
        if not _iou(item["iou"]):
            return None, f"instance {item['id']}: iou {item['iou']!r} is not a number in [0, 1]"
        out["iou"] = float(item["iou"])
    if item.get("model_mask") is not None:
        why = _model_mask_problem(item["model_mask"], width, height)
        if why is not None:  # a mask that does not decode: the entry is not usable
            return None, f"instance {item['id']}: {why}"
        out["model_mask"] = item["model_mask"]  # decoded (to its box) only when used
    return out, None


def _model_mask_problem(mm, width: int, height: int) -> str | None:
    """Why a model_mask is no COCO RLE of its image (None: it is), from its runs alone:
    `report` never needs its pixels, and ten image-sized masks decoded at 20000 x 20000
    took 4 GB."""
    if not isinstance(mm, dict) or not isinstance(mm.get("counts"), (str, list)):
        return "model_mask is not COCO RLE"
    if "size" in mm and mm["size"] != [height, width]:
        return f"model_mask's size {mm['size']!r} is not its image's [{height}, {width}]"
    try:
        counts = M.segmentation_counts(mm, height, width)
    except (ValueError, TypeError, OverflowError) as e:
        return f"model_mask does not decode ({e})"
    total = height * width
    if counts.size and (int(counts.min()) < 0 or int(counts.max()) > total
                        or int(counts.sum()) != total):
        return f"model_mask does not decode (its runs do not cover {height}x{width} pixels)"
    return None


def _image(e, unknown: list[str] | None = None) -> tuple[dict | None, str | None]:
    """One image entry, or why it is skipped; kinds this version does not know are
    left out (and named in `unknown`)."""
    if not isinstance(e, dict):
        return None, "an image entry that is not an object"
    for k in ("id", "width", "height"):
        if not _count(e.get(k)):
            return None, f"image {k} {e.get(k)!r} is not a non-negative integer"
    if e["width"] * e["height"] > DEFAULT_MAX_PIXELS:
        return None, (f"image {e['id']}: {e['width']}x{e['height']} is over the "
                      f"{DEFAULT_MAX_PIXELS // 1_000_000}-megapixel limit")
    if not isinstance(e.get("file_name"), str):
        return None, f"image {e['id']}: file_name is not a string"
    actions = e.get("actions", {})
    if not isinstance(actions, dict):
        return None, f"image {e['id']}: actions is not an object"
    clean: dict[str, dict[str, int]] = {}
    for version, kinds in actions.items():
        if not isinstance(kinds, dict):
            return None, f"image {e['id']}: actions of {version!r} is not an object"
        for kind, n in kinds.items():
            if not _count(n):
                return None, f"image {e['id']}: {kind} count {n!r} is not a non-negative " \
                             "integer"
        known = {k: n for k, n in kinds.items() if k in KINDS}
        if unknown is not None:
            unknown += [f"image {e['id']}: unknown action kind {k!r} left out"
                        for k in kinds if k not in KINDS]
        clean[version] = known
    items = e.get("instances", [])
    if not isinstance(items, list):
        return None, f"image {e['id']}: instances is not a list"
    insts = []
    for item in items:
        inst, why = _instance(item, e["width"], e["height"])
        if why is not None:
            return None, f"image {e['id']}: {why}"
        insts.append(inst)
    return {"id": e["id"], "file_name": e["file_name"], "width": e["width"],
            "height": e["height"], "actions": clean, "instances": insts}, None


def _is_record(doc) -> bool:
    return isinstance(doc, dict) and doc.get("format") == FORMAT \
        and isinstance(doc.get("images"), list)


def parse(doc, unknown: list[str] | None = None) -> tuple[list[dict], list[str]]:
    """The valid image entries of a file's content, and what was wrong with the rest;
    gesture kinds left out of kept entries are named in `unknown`."""
    if not _is_record(doc):
        return [], [f"not a MaskLoop effort record (format {FORMAT!r} with a list of images)"]
    entries, problems = [], []
    for e in doc["images"]:
        entry, why = _image(e, unknown)
        if why is None:
            entries.append(entry)
        else:
            problems.append(why)
    return entries, problems


def read(path: Path) -> tuple[list[dict], str | None]:
    """A file's valid entries and one warning line naming it (None: all well). A file
    that does not exist is no record yet, not a problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], None
    except (OSError, UnicodeDecodeError) as e:
        return [], f"{path}: the effort record cannot be read ({e}); it is ignored"
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        return [], f"{path}: the effort record is nested too deeply; it is ignored"
    except ValueError as e:
        return [], f"{path}: the effort record is not valid JSON ({e}); it is ignored"
    unknown: list[str] = []
    entries, problems = parse(doc, unknown)
    if not problems and not unknown:
        return entries, None
    if not _is_record(doc):
        return [], f"{path}: {problems[0]}; it is ignored"
    said = []
    if problems:
        said.append(f"{len(problems)} entr{'y' if len(problems) == 1 else 'ies'} of the effort "
                    f"record skipped (first: {problems[0]})")
    if unknown:
        said.append(f"{len(unknown)} gesture kind(s) this version does not know left out "
                    f"(first: {unknown[0]})")
    return entries, f"{path}: " + "; ".join(said)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number this file may hold")


def record_from(entries: list[dict], ds: Dataset) -> EffortRecord:
    """The record to go on with, from a file's entries: images matched by id and file
    name (an entry for another image is dropped), each instance touched once already,
    so nothing done in this session's undo history can take it away."""
    names = {rec.id: rec.file_name for rec in ds.images}
    record = EffortRecord()
    for e in entries:
        if names.get(e["id"]) != e["file_name"]:
            continue
        img = ImageEffort(e["file_name"], e["width"], e["height"])
        for version, kinds in e["actions"].items():
            tally = Tally()
            for kind, n in kinds.items():
                if n:
                    tally.add(kind, n)
            img.actions[version] = tally
        for item in e["instances"]:
            mm = item.get("model_mask") if item["origin"] == MODEL else None
            if isinstance(mm, dict):  # its box only, never the image
                mm = M.decode_segmentation(mm, e["height"], e["width"])
            img.touched[item["id"]] = Touched(item["version"], item["origin"], mm)
        record.images[e["id"]] = img
    return record
