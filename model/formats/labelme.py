"""labelme's JSON: one file per image, its objects as `shapes`.

Read: polygon, rectangle (two corners), circle (centre and a point on the rim) and mask
(two corners and a base64 PNG of that box) shapes. Shapes that share a group_id and a
label are one instance; `__ignore__` shapes are crowd regions; lines and points are
no instances and are skipped with a warning. Shapes are filled as labelme fills them
(labelme.utils.shape_to_mask: PIL's polygon, rectangle and ellipse with the outline
drawn in; model/data/vertex_fill.py), which takes a vertex as a pixel, not a corner as
COCO does: what labelme's tools see is what MaskLoop reads. An `__ignore__`
shape has no class of its own: it takes `maskloop_class` (also where a labelme re-save
nests it under `other_data`), else the label of the shapes in its group, else the class
it overlaps most, so no category is named `__ignore__`. With rectangles_as_boxes (predict
--from-boxes), a rectangle is a box without a mask.

Write: one JSON per image with the image beside it (imagePath is its name), every
instance as polygons through pixel centres (bridge.vertex_polygons; holes bridged; the
parts of one instance share a group_id), which labelme's rule fills back to the mask
exactly when unsimplified (--tolerance 0); crowd regions as `__ignore__` shapes whose
class is kept in `maskloop_class`.
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

from model.data.annotations import Dataset, ImageRecord, Instance
from model.data.coco_validate import bad_coords, read_json
from model.errors import CocoFormatError, FormatError, ImageReadError
from model.data.images import (DEFAULT_MAX_PIXELS, header_size, list_images, natural_key,
                               outside, read_size)
from model.data.vertex_fill import fill_labelme
from model.data.vertex_polygons import vertex_polygons
from model.formats.class_table import CategoryTable, category_name
from model.formats.confine import Confined
from model.formats.export_images import copy_images
from model.formats.folder import FolderExport
from model.formats.names import output_names
from model.formats.polygon_conversion import (converted, labelme_iou, polygons_rle,
                                              rle_object)
from model.formats.writer_reports import DEFAULT_TOLERANCE, PolygonReport

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


def _mask_shape(shape: dict, flat: list[float], where: str, path: Path,
                size: tuple[int, int]) -> dict:
    """A mask shape's PNG as an RLE object. labelme stores the crop from the box's
    top-left corner to its bottom-right one inclusive; the PNG's own size is used."""
    try:
        png = base64.b64decode(shape.get("mask") or "", validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(path, f"{where}: mask is not a base64-encoded PNG") from None
    try:  # the header's size first: a 110 KB PNG can hold 900 MB of zeros
        mw, mh = header_size(png, f"{where}'s mask")
    except ImageReadError:
        raise FormatError(path, f"{where}: mask is not a base64-encoded PNG") from None
    if mw > size[1] + 1 or mh > size[0] + 1:
        raise FormatError(path, f"{where}: mask PNG is {mw}x{mh}, larger than its "
                                f"{size[1]}x{size[0]} image")
    try:
        img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        img = None
    if img is None:
        raise FormatError(path, f"{where}: mask is not a base64-encoded PNG")
    crop = img.any(axis=2) if img.ndim == 3 else img > 0
    x0, y0 = math.floor(min(flat[0::2])), math.floor(min(flat[1::2]))  # as labelme: int()
    return rle_object(crop, (x0, y0), *size)


def _shape_rle(shape: dict, k: int, path: Path, size: tuple[int, int],
               warnings: list[str], boxes: bool = False) -> dict | list[float] | None:
    """One shape as a pycocotools RLE object (with `boxes`, a rectangle as a COCO bbox
    [x, y, w, h] in the image), or None (with a warning) when it is no region or too
    degenerate to have pixels."""
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
    if kind == "rectangle" and boxes and shape["label"] != IGNORE:
        # the pixels labelme itself shows for the rectangle (both corners included), so
        # the box filled by --from-boxes covers what the person drew, not one pixel less
        crop, (x0, y0) = fill_labelme(kind, flat[:4], *size)
        if not crop.any():
            warnings.append(f"{path}: {where} skipped: the box is empty in the image")
            return None
        return [float(x0), float(y0), float(crop.shape[1]), float(crop.shape[0])]
    return rle_object(*fill_labelme(kind, flat[:4] if kind != "polygon" else flat, *size),
                      *size)


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


def _inside(cand: Path, roots: list[Path], follow_symlinks: bool) -> bool:
    """Is cand inside one of the roots, as written (no `..` or absolute path out of it)
    and, unless follow_symlinks, with its links resolved too?"""
    plain = Path(os.path.normpath(os.path.abspath(cand)))
    return any(plain.is_relative_to(os.path.normpath(os.path.abspath(root)))
               and (follow_symlinks or not outside(cand, root)) for root in roots)


def _image_for(data: dict, path: Path, roots: list[Path] | None = None,
               follow_symlinks: bool = False) -> Path:
    """The image a file annotates: imagePath relative to the JSON, or the same name
    beside it (a folder moved since), else the file is skipped. imagePath is data, not
    a place: an image outside `roots` (the dataset's folder, and --images DIR) is never
    opened, nor one reached through a link out of them unless follow_symlinks."""
    ref = data.get("imagePath")
    if not isinstance(ref, str) or not ref.strip():
        raise FormatError(path, "imagePath must be a non-empty string")
    roots = roots or [path.parent]
    posix = ref.replace("\\", "/")
    refused = False
    for cand in (path.parent / posix, path.parent / PurePosixPath(posix).name):
        if not _inside(cand, roots, follow_symlinks):
            refused = True
            continue
        if cand.is_file():
            return Path(os.path.normpath(os.path.abspath(cand)))
    if refused:
        where = " or ".join(str(r) for r in roots)
        raise FormatError(path, f"imagePath {ref!r} points outside {where}; file skipped "
                                "(open a folder that holds the images too, or allow their "
                                "folder with --images DIR)")
    embedded = " (only embedded as imageData, which MaskLoop does not extract)" \
        if data.get("imageData") else ""
    raise FormatError(path, f"image {ref!r} not found{embedded}; file skipped")


def _regions(data: dict, path: Path, size: tuple[int, int], warnings: list[str],
             boxes: bool = False) -> list[tuple[dict, dict | list[float]]]:
    """(first shape, RLE of the union) per instance: shapes with the same group_id and
    label are one instance; a shape without a group_id is one on its own. With `boxes`,
    a rectangle alone in its group is (shape, its bbox)."""
    groups: dict[tuple, list] = {}
    for k, shape in enumerate(data["shapes"]):
        rle = _shape_rle(shape, k, path, size, warnings, boxes)
        if rle is not None:
            gid = shape.get("group_id")
            key = (shape["label"], gid) if gid is not None else ("", None, k)
            groups.setdefault(key, []).append((shape, rle))
    out = []
    for members in groups.values():
        rles = [r for _s, r in members if isinstance(r, dict)]
        if len(rles) < len(members):  # a box in a group with other shapes: their union
            if len(members) == 1:
                out.append(members[0])
                continue
            rles += [polygons_rle([_box_polygon(r)], *size) for _s, r in members
                     if not isinstance(r, dict)]
        out.append((members[0][0], mask_utils.merge(rles)))
    return out


def _box_polygon(box: list[float]) -> list[float]:
    x, y, w, h = box
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def _parse(path: Path, roots: list[Path] | None = None, follow_symlinks: bool = False,
           boxes: bool = False
           ) -> tuple[Path, tuple[int, int], dict, list, list[str]]:
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
    image = _image_for(data, path, roots, follow_symlinks)
    warnings: list[str] = []
    size = _size(data, image, path, warnings)
    return image, size, data, _regions(data, path, size, warnings, boxes), warnings


def _ignore_class(shape: dict, data: dict) -> str | None:
    """The class an __ignore__ shape names: maskloop_class (top-level, or nested under
    other_data by a labelme re-save), else the label of a shape in its group."""
    for holder in (shape, shape.get("other_data")):
        if isinstance(holder, dict) and isinstance(holder.get(CLASS_KEY), str):
            return holder[CLASS_KEY]
    gid = shape.get("group_id")
    if gid is not None:
        for other in data["shapes"]:
            if other.get("group_id") == gid and other["label"] != IGNORE:
                return other["label"]
    return None


def _most_overlapped(rle: dict, regions: list) -> str | None:
    """The label of the non-ignore region an ignore region overlaps most, if any."""
    best, name = 0, None
    for shape, other in regions:
        if shape["label"] == IGNORE or not isinstance(other, dict):
            continue
        inter = int(mask_utils.area(mask_utils.merge([rle, other], intersect=True)))
        if inter > best:
            best, name = inter, shape["label"]
    return name


def _add_instances(ds: Dataset, rec: ImageRecord, data: dict, regions: list, path: Path,
                   cats: CategoryTable, classless: list[Instance]) -> None:
    """The regions as instances; an __ignore__ region whose class nothing tells is
    appended to `classless` (read_labelme gives it the dataset's first class)."""
    for shape, region in regions:
        crowd = shape["label"] == IGNORE
        if isinstance(region, list):  # a rectangle read as a box (rectangles_as_boxes)
            ann = {"id": ds.new_annotation_id(), "image_id": rec.id,
                   "category_id": cats.id(shape["label"]), "bbox": region, "iscrowd": 0}
            inst = Instance.from_annotation(ann, rec.height, rec.width)
        else:
            area = int(mask_utils.area(region))
            if area == 0:
                ds.warnings.append(f"{path}: shape {shape['label']!r} has no pixels; skipped")
                continue
            name = shape["label"]
            if crowd:
                name = _ignore_class(shape, data) or _most_overlapped(region, regions)
            ann = {"id": ds.new_annotation_id(), "image_id": rec.id,  # kept as RLE, not a crop
                   "category_id": cats.id(name) if name is not None else 0,
                   "segmentation": {"size": [rec.height, rec.width],
                                    "counts": region["counts"].decode("ascii")},
                   "area": float(area), "iscrowd": int(crowd),
                   "bbox": [float(v) for v in mask_utils.toBbox(region)]}
            inst = Instance.from_annotation(ann, rec.height, rec.width)
            if name is None:
                classless.append(inst)
        extra = {"labelme_flags": shape.get("flags"),
                 "labelme_description": shape.get("description")}
        extra = {k: v for k, v in extra.items() if v}
        if extra:
            if inst.original is not None:
                inst.original.update(extra)
            else:
                inst.original = extra  # no segmentation: the mask rules; coco.py writes these
        ds.add_instance(rec, inst)


def _classes_for(ds: Dataset, classless: list[Instance], cats: CategoryTable) -> None:
    """__ignore__ regions that named no class and overlap none: the dataset's first
    class (a COCO crowd region needs one; crowd regions are never trained on)."""
    if not classless:
        return
    first = ds.categories[0].id if ds.categories else cats.id("object")
    for inst in classless:
        inst.category_id = first
    ds.warnings.append(f"{len(classless)} __ignore__ region(s) name no class and overlap no "
                       f"instance: made crowd regions of {ds.category(first).name!r} (a COCO "
                       "crowd region needs a class; crowd regions are never trained on)")


def read_labelme(path: Path | str, image_root: Path | str | None = None,
                 follow_symlinks: bool = False, rectangles_as_boxes: bool = False) -> Dataset:
    """A labelme .json file, or a folder of them (recursive, natural order). In a
    folder, a malformed file is skipped with a warning naming it, and images no file
    annotates are added without instances. An imagePath may point inside the folder
    (a file's own folder) or image_root, nowhere else; a JSON file of a folder that is a
    link out of it is not read unless follow_symlinks (confine.py). rectangles_as_boxes: a rectangle
    becomes a box without a mask (predict --from-boxes fills it)."""
    path = Path(path)
    if not path.exists():
        raise FormatError(path, "no such file or folder")
    single = path.is_file()
    folder = path.parent if single else path
    roots = [folder] + ([Path(image_root)] if image_root is not None else [])
    files = [path] if single else sorted(
        (p for p in folder.rglob("*.json") if not any(s.startswith(".") for s in
                                                       p.relative_to(folder).parts)),
        key=lambda p: natural_key(p.relative_to(folder).as_posix()))
    warnings: list[str] = []
    box = Confined(folder, follow_symlinks, warnings)  # the JSON files found in a folder
    parsed: dict[Path, tuple] = {}
    for f in files:
        if not single and not box.allows(f):
            continue
        try:
            image, size, data, regions, said = _parse(f, roots, follow_symlinks,
                                                      rectangles_as_boxes)
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
                                                              list_images(folder,
                                                                          follow_symlinks,
                                                                          warnings)))
                                     if p not in parsed]
    root = Path(os.path.commonpath([os.path.abspath(folder)] +
                                   [str(p.parent) for p in list(parsed) + unannotated]))
    ds = Dataset(image_root=root)
    ds.source_format = "labelme"
    ds.warnings = warnings
    cats = CategoryTable(ds)
    classless: list[Instance] = []
    entries = [(p.relative_to(root).as_posix(), p) for p in list(parsed) + unannotated]
    for rel, image in sorted(entries, key=lambda e: natural_key(e[0])):
        if image not in parsed:
            ds.add_image(rel)
            continue
        (h, w), data, regions, f = parsed[image]
        rec = ds.add_image(rel, w, h)
        if data.get("flags"):
            rec.extra["labelme_flags"] = data["flags"]
        _add_instances(ds, rec, data, regions, f, cats, classless)
    _classes_for(ds, classless, cats)
    return ds


# ------------------------------------------------------------------------ write

def _shape(label: str, poly: list[float], group_id: int | None, inst: Instance) -> dict:
    original = inst.original or {}
    return {"label": label, "points": [poly[i:i + 2] for i in range(0, len(poly), 2)],
            "group_id": group_id, "description": original.get("labelme_description") or "",
            "shape_type": "polygon", "flags": original.get("labelme_flags") or {},
            "mask": None}


def write_labelme(ds: Dataset, out_dir: Path | str, tolerance: float = DEFAULT_TOLERANCE
                  ) -> PolygonReport:
    """One labelme JSON per image under out_dir (subfolders mirrored) with the image
    beside it (a hard link or a copy) as labelme keeps them, so imagePath is the image's
    name and the folder stands on its own; imageData null. Instances as polygons; crowd
    regions as __ignore__. Written as one folder (folder.FolderExport: all or nothing,
    never outside out_dir)."""
    report = PolygonReport()
    names = output_names(ds, beside=(".json",))
    with FolderExport(out_dir, "labelme") as folder:
        copy_images(ds, folder, names, report.warnings, under="")
        for rec in ds.images:
            ds.ensure_size(rec)
            data = {"version": VERSION, "flags": rec.extra.get("labelme_flags") or {},
                    "shapes": _shapes(ds, rec, tolerance, report),
                    "imagePath": names[rec.id].image.name, "imageData": None,
                    "imageHeight": rec.height, "imageWidth": rec.width}
            folder.write_json(names[rec.id].file(".json"), data, indent=2)
            report.images += 1
        folder.summary = {"images": report.images, "instances": report.instances}
    report.warnings += folder.warnings
    return report


def _shapes(ds: Dataset, rec: ImageRecord, tolerance: float, report: PolygonReport) -> list:
    """The image's instances as labelme polygon shapes; the parts of one share a group_id."""
    h, w = rec.height, rec.width
    shapes, group = [], 0
    for inst in rec.instances:
        def measured(mask, offset, crowd=inst.iscrowd):
            polys, bridged = vertex_polygons(mask, offset, tolerance)
            iou = None if crowd or not polys else labelme_iou(polys, mask, offset, h, w)
            return polys, bridged, iou
        got = converted(inst, rec.file_name, report, measured)
        if got is None:  # too complex: named in the report
            continue
        polys, bridged, iou = got
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
    return shapes
