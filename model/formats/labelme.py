"""labelme's JSON: one file per image, its objects as `shapes`.

Read: polygon, rectangle (two corners), circle (centre and a point on the rim) and mask
(two corners and a base64 PNG of that box) shapes. Shapes that share a group_id and a
label are one instance; `__ignore__` shapes are crowd regions; lines and points are
no instances and are skipped with a warning. Shapes are rasterised as COCO rasterises
polygons (pycocotools), so COCO -> labelme -> COCO keeps each mask.

Write: one JSON per image, imagePath relative to it, every instance as polygons from
bridge.mask_to_polygons (holes bridged; the parts of one instance share a group_id),
crowd regions as `__ignore__` shapes whose class is kept in `maskloop_class`.
"""
from __future__ import annotations

import base64
import binascii
import math
import os
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from ..annotations import Dataset, ImageRecord, Instance
from ..atomic import atomic_write_json
from ..coco_validate import CocoFormatError, bad_coords, read_json
from ..images import DEFAULT_MAX_PIXELS, ImageReadError, list_images, read_size
from .bridge import (TooComplex, mask_to_polygons, polygons_iou, polygons_rle, rle_object,
                     rle_to_crop)
from .report import (CategoryTable, FormatError, PolygonReport, category_name, natural_key,
                     output_names)

VERSION = "5.5.0"
IGNORE = "__ignore__"
CLASS_KEY = "maskloop_class"  # an __ignore__ shape's class (labelme keeps unknown keys)
REGIONS = ("polygon", "rectangle", "circle", "mask")
NOT_REGIONS = ("line", "linestrip", "point", "points")


def is_labelme(data: Any) -> bool:
    """Does parsed JSON look like a labelme file (shapes plus an image reference)?"""
    return isinstance(data, dict) and isinstance(data.get("shapes"), list) and (
        "imagePath" in data or "imageHeight" in data or "imageData" in data)


# ------------------------------------------------------------------------ read

def _size(data: dict, image: Path, path: Path, warnings: list[str]) -> tuple[int, int]:
    """(height, width) from the file, checked against the image's header."""
    h, w = data.get("imageHeight"), data.get("imageWidth")
    for name, v in (("imageHeight", h), ("imageWidth", w)):
        if v is not None and (type(v) is not int or v < 1):
            raise FormatError(path, f"{name} must be a positive whole number, got {v!r}")
    try:
        real_w, real_h = read_size(image)
    except ImageReadError as e:
        if h is None or w is None:
            raise FormatError(path, f"no imageHeight/imageWidth and {e}") from None
        return h, w
    if h is not None and w is not None and (h, w) != (real_h, real_w):
        warnings.append(f"{path}: imageHeight/imageWidth {h}x{w} differ from {image} "
                        f"({real_h}x{real_w}); the image's size is used")
    if real_w * real_h > DEFAULT_MAX_PIXELS:
        raise FormatError(path, f"image {image} is {real_w}x{real_h}, over the pixel limit")
    return real_h, real_w


def _points(shape: dict, k: int, size: tuple[int, int], path: Path) -> list[float]:
    pts = shape.get("points")
    where = f"shape {k} ({shape.get('label')!r})"
    if not isinstance(pts, list) or not all(isinstance(p, list) and len(p) == 2 for p in pts):
        raise FormatError(path, f"{where}: points must be a list of [x, y] pairs")
    flat = [v for p in pts for v in p]
    why = bad_coords(flat, size)
    if why:
        raise FormatError(path, f"{where}: points {why}")
    return [float(v) for v in flat]


def _circle(flat: list[float]) -> list[float]:
    (cx, cy), (px, py) = flat[:2], flat[2:4]
    r = math.hypot(px - cx, py - cy)
    n = int(min(720, max(16, math.ceil(2 * math.pi * r))))
    t = np.arange(n) * (2 * math.pi / n)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1).ravel().tolist()


def _mask_shape(shape: dict, flat: list[float], where: str, path: Path,
                size: tuple[int, int]) -> dict:
    """A mask shape's PNG as an RLE object. labelme stores the crop from the box's
    top-left corner to its bottom-right one inclusive; the PNG's own size is used."""
    try:
        png = base64.b64decode(shape.get("mask") or "", validate=True)
        img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    except (binascii.Error, ValueError, cv2.error):
        img = None
    if img is None:
        raise FormatError(path, f"{where}: mask is not a base64-encoded PNG")
    crop = img.any(axis=2) if img.ndim == 3 else img > 0
    x0, y0 = math.floor(min(flat[0::2])), math.floor(min(flat[1::2]))  # as labelme: int()
    return rle_object(crop, (x0, y0), *size)


def _shape_rle(shape: dict, k: int, path: Path, size: tuple[int, int],
               warnings: list[str]) -> dict | None:
    """One shape as a pycocotools RLE object, or None (with a warning) when it is
    no region or too degenerate to have pixels."""
    kind = shape.get("shape_type") or "polygon"  # labelme before 4.0 wrote none
    where = f"shape {k} ({shape.get('label')!r}, {kind})"
    if kind not in REGIONS:
        why = "not a region" if kind in NOT_REGIONS else "unknown shape_type"
        warnings.append(f"{path}: {where} skipped: {why}")
        return None
    flat = _points(shape, k, size, path)
    need = {"polygon": 6, "rectangle": 4, "circle": 4, "mask": 4}[kind]
    if len(flat) < need:
        warnings.append(f"{path}: {where} skipped: too few points")
        return None
    if kind == "mask":
        return _mask_shape(shape, flat, where, path, size)
    if kind == "rectangle":
        x0, x1, y0, y1 = min(flat[0::2]), max(flat[0::2]), min(flat[1::2]), max(flat[1::2])
        flat = [x0, y0, x1, y0, x1, y1, x0, y1]
    elif kind == "circle":
        flat = _circle(flat)
    return polygons_rle([flat], *size)


def _check_shape(shape: Any, k: int, path: Path) -> None:
    if not isinstance(shape, dict):
        raise FormatError(path, f"shape {k} is not an object")
    checks = (("label", str, False), ("shape_type", str, True), ("flags", dict, True),
              ("description", str, True), ("mask", str, True))
    for key, kind, optional in checks:
        v = shape.get(key)
        if (v is None and not optional) or (v is not None and not isinstance(v, kind)):
            raise FormatError(path, f"shape {k}: {key} must be a {kind.__name__}, got {v!r}")
    gid = shape.get("group_id")
    if gid is not None and (type(gid) is not int or abs(gid) > 2 ** 53):
        raise FormatError(path, f"shape {k}: group_id must be a whole number or null, "
                                f"got {gid!r}")


def _image_for(data: dict, path: Path) -> Path:
    """The image a file annotates: imagePath relative to the JSON, or the same name
    beside it (a folder moved since), else the file is skipped."""
    ref = data.get("imagePath")
    if not isinstance(ref, str) or not ref.strip():
        raise FormatError(path, "imagePath must be a non-empty string")
    ref = ref.replace("\\", "/")
    for cand in (path.parent / ref, path.parent / PurePosixPath(ref).name):
        if cand.is_file():
            return Path(os.path.normpath(os.path.abspath(cand)))
    embedded = " (only embedded as imageData, which MaskLoop does not extract)" \
        if data.get("imageData") else ""
    raise FormatError(path, f"image {ref!r} not found{embedded}; file skipped")


def _regions(data: dict, path: Path, size: tuple[int, int],
             warnings: list[str]) -> list[tuple[dict, dict]]:
    """(first shape, RLE of the union) per instance: shapes with the same group_id and
    label are one instance; a shape without a group_id is one on its own."""
    groups: dict[tuple, list] = {}
    for k, shape in enumerate(data["shapes"]):
        rle = _shape_rle(shape, k, path, size, warnings)
        if rle is not None:
            gid = shape.get("group_id")
            key = (shape["label"], gid) if gid is not None else ("", None, k)
            groups.setdefault(key, []).append((shape, rle))
    return [(members[0][0], mask_utils.merge([r for _s, r in members]))
            for members in groups.values()]


def _parse(path: Path) -> tuple[Path, tuple[int, int], dict, list, list[str]]:
    """Everything a file holds, converted, or FormatError: a file is read whole or
    not at all. Returns (image, (h, w), data, regions, warnings)."""
    try:
        data = read_json(path)
    except CocoFormatError as e:
        raise FormatError(path, "; ".join(e.problems)) from None
    if not is_labelme(data):
        raise FormatError(path, "not a labelme file (no 'shapes' list and 'imagePath')")
    for k, shape in enumerate(data["shapes"]):
        _check_shape(shape, k, path)
    flags = data.get("flags")
    if flags is not None and not isinstance(flags, dict):
        raise FormatError(path, f"flags must be an object, got {flags!r}")
    image = _image_for(data, path)
    warnings: list[str] = []
    size = _size(data, image, path, warnings)
    return image, size, data, _regions(data, path, size, warnings), warnings


def _add_instances(ds: Dataset, rec: ImageRecord, regions: list, path: Path,
                   cats: CategoryTable) -> None:
    for shape, rle in regions:
        crop, offset = rle_to_crop(rle, rec.height, rec.width)
        if crop.size == 0:
            ds.warnings.append(f"{path}: shape {shape['label']!r} has no pixels; skipped")
            continue
        crowd = shape["label"] == IGNORE
        name = shape.get(CLASS_KEY) if crowd and isinstance(shape.get(CLASS_KEY), str) \
            else shape["label"]
        inst = Instance(cats.id(name), crop, offset, iscrowd=crowd)
        extra = {"labelme_flags": shape.get("flags"),
                 "labelme_description": shape.get("description")}
        extra = {k: v for k, v in extra.items() if v}
        if extra:
            inst.original = extra  # no segmentation: the mask rules; coco.py writes these
        ds.add_instance(rec, inst)


def read_labelme(path: Path | str) -> Dataset:
    """A labelme .json file, or a folder of them (recursive, natural order). In a
    folder, a malformed file is skipped with a warning naming it, and images no file
    annotates are added without instances."""
    path = Path(path)
    if not path.exists():
        raise FormatError(path, "no such file or folder")
    single = path.is_file()
    folder = path.parent if single else path
    files = [path] if single else sorted(
        (p for p in folder.rglob("*.json") if not any(s.startswith(".") for s in
                                                       p.relative_to(folder).parts)),
        key=lambda p: natural_key(p.relative_to(folder).as_posix()))
    warnings: list[str] = []
    parsed: dict[Path, tuple] = {}
    for f in files:
        try:
            image, size, data, regions, said = _parse(f)
        except FormatError as e:
            if single:
                raise
            warnings.append(str(e))
            continue
        if image in parsed:
            warnings.append(f"{f}: annotates {image}, as {parsed[image][3]} does; skipped")
            continue
        warnings += said
        parsed[image] = (size, data, regions, f)
    unannotated = [] if single else [p for p in map(Path, map(os.path.abspath,
                                                              list_images(folder)))
                                     if p not in parsed]
    root = Path(os.path.commonpath([os.path.abspath(folder)] +
                                   [str(p.parent) for p in list(parsed) + unannotated]))
    ds = Dataset(image_root=root)
    ds.source_format = "labelme"
    ds.warnings = warnings
    cats = CategoryTable(ds)
    entries = [(p.relative_to(root).as_posix(), p) for p in list(parsed) + unannotated]
    for rel, image in sorted(entries, key=lambda e: natural_key(e[0])):
        if image not in parsed:
            ds.add_image(rel)
            continue
        (h, w), data, regions, f = parsed[image]
        rec = ds.add_image(rel, w, h)
        if data.get("flags"):
            rec.extra["labelme_flags"] = data["flags"]
        _add_instances(ds, rec, regions, f, cats)
    return ds


# ------------------------------------------------------------------------ write

def _shape(label: str, poly: list[float], group_id: int | None, inst: Instance) -> dict:
    original = inst.original or {}
    return {"label": label, "points": [poly[i:i + 2] for i in range(0, len(poly), 2)],
            "group_id": group_id, "description": original.get("labelme_description") or "",
            "shape_type": "polygon", "flags": original.get("labelme_flags") or {},
            "mask": None}


def _image_path(ds: Dataset, rec: ImageRecord, json_dir: Path) -> str:
    image = os.path.abspath(ds.image_path(rec))
    try:
        return Path(os.path.relpath(image, os.path.abspath(json_dir))).as_posix()
    except ValueError:  # another drive (Windows): only an absolute path reaches it
        return Path(image).as_posix()


def write_labelme(ds: Dataset, out_dir: Path | str, tolerance: float = 0.5) -> PolygonReport:
    """One labelme JSON per image under out_dir (subfolders mirrored), imagePath
    relative to it, imageData null. Instances as polygons; crowd regions as __ignore__."""
    out_dir = Path(out_dir)
    report = PolygonReport()
    names = output_names(ds)
    for rec in ds.images:
        ds.ensure_size(rec)
        h, w = rec.height, rec.width
        target = out_dir / names[rec.id].with_suffix(".json")
        shapes, group = [], 0
        for inst in rec.instances:
            lazy = inst.is_lazy  # decoded for this instance only, so an export stays small
            try:
                polys, bridged = mask_to_polygons(inst.mask, inst.offset, tolerance)
                iou = None if inst.iscrowd or not polys else polygons_iou(
                    polys, inst.mask, inst.offset, h, w)
            except TooComplex as e:
                report.too_complex(rec.file_name, inst.id, str(e))
                continue
            finally:
                if lazy:
                    inst.forget_mask()
            if not polys:
                report.lost += 1
                continue
            name = category_name(ds, inst.category_id)
            label = IGNORE if inst.iscrowd else name
            gid = None
            if len(polys) > 1:
                group += 1
                gid = group
            for poly in polys:
                shape = _shape(label, poly, gid, inst)
                if inst.iscrowd:
                    shape[CLASS_KEY] = name
                shapes.append(shape)
            if inst.iscrowd:
                report.crowd_kept += 1
            else:
                report.add(iou, len(polys), bridged)
        data = {"version": VERSION, "flags": rec.extra.get("labelme_flags") or {},
                "shapes": shapes, "imagePath": _image_path(ds, rec, target.parent),
                "imageData": None, "imageHeight": h, "imageWidth": w}
        atomic_write_json(target, data, indent=2)
        report.images += 1
    return report
