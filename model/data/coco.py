"""Lossless COCO instances JSON: load into a Dataset, save it back atomically.

What nobody touched is written back as it came: the same segmentation (polygon
coordinates or RLE string), bbox, area, key order and unknown keys. New and
edited masks are written as compressed RLE (counts as str) or, on request, as
polygons where polygons reproduce them pixel for pixel (no holes; see
polygons.exact_polygons); the rest stay RLE, so either format is lossless.
"""
from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable

from model.data import masks as M
from model.data import polygons as P
from model.data.annotations import Category, Dataset, ImageRecord, Instance, unsafe_file_name
from model.data.atomic import atomic_write
from model.data.coco_validate import Validator, is_id, read_json, validate
from model.errors import CocoFormatError, ImageReadError
from model.data.images import read_size
from model.data.provenance import review_state
from model.data.vertex_fill import is_vertex_segmentation

FORMATS = ("rle", "polygon")
WRITE_BATCH = 512  # annotations encoded per json.dumps call
_BIG3 = ("images", "annotations", "categories")


@dataclass
class SaveReport:
    """How each annotation was written; the CLI prints it, tests assert on it."""
    annotations: int = 0
    unchanged: int = 0  # written back with their original segmentation
    rle: int = 0
    polygon: int = 0
    kept_rle_hole: int = 0  # polygon asked for, but the mask has a hole
    kept_rle_crowd: int = 0
    kept_rle_shape: int = 0  # polygon asked for, but it would not reproduce the mask
    box_only: int = 0  # a bbox without a mask (no or an empty segmentation): kept as it came
    kept_rle_complex: int = 0  # polygon asked for, but its outline is too long (P.TooComplex)


# ----------------------------------------------------------------------------- load

def load_dataset(path: Path | str, image_root: Path | str | None = None) -> Dataset:
    """Parse, validate and wrap a COCO file; masks are decoded lazily."""
    path = Path(path)
    return dataset_from_json(read_json(path), path=path, image_root=image_root)


def _no_size(img: Any) -> bool:
    return isinstance(img, dict) and is_id(img.get("id")) and (
        img.get("width") is None or img.get("height") is None)


def fill_missing_sizes(data: Any, root: Path, follow_symlinks: bool = False
                       ) -> tuple[list[str], dict[int, str]]:
    """Images without width/height (Label Studio's COCO export leaves them out for
    unlabelled images; pycocotools does not need them): from the image file's header,
    else from the RLE size of a mask on it. Returns (warnings, unresolved): one warning
    per way a size was found, and why no way resolves an image, by its id."""
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        return [], {}
    todo = {img["id"]: img for img in data["images"] if _no_size(img)}
    if not todo:
        return [], {}
    probe = Dataset(image_root=root)
    probe.follow_symlinks = follow_symlinks
    from_header, from_rle, why = [], [], {}
    for ident, img in todo.items():
        name = img.get("file_name")
        try:
            if not isinstance(name, str):
                raise ImageReadError(f"image id {ident}", "no file_name")
            rec = ImageRecord(id=ident, file_name=name)
            img["width"], img["height"] = read_size(probe.image_path(rec))
            from_header.append(img)
        except ImageReadError as e:
            why[ident] = str(e)
    anns = data.get("annotations")
    for ann in anns if why and isinstance(anns, list) else []:
        ok = isinstance(ann, dict) and is_id(ann.get("image_id"))  # a list id: validate's
        seg = ann.get("segmentation") if ok else None
        img = todo.get(ann["image_id"]) if ok else None
        size = seg.get("size") if isinstance(seg, dict) else None
        if img is not None and img["id"] in why and isinstance(size, list) and len(size) == 2:
            img["height"], img["width"] = size
            del why[img["id"]]
            from_rle.append(img)
    warnings = []
    if from_header:
        first = from_header[0]
        warnings.append(f"{len(from_header)} image(s) have no width/height: read from the "
                        f"image files' headers (image id {first['id']}, {first['file_name']}: "
                        f"{first['width']}x{first['height']})")
    if from_rle:
        warnings.append(f"{len(from_rle)} image(s) have no width/height and no readable "
                        "image file: taken from the size of their RLE masks")
    return warnings, why


SHOWN_NAMES = 3  # images a warning about many names


def _leave_out(data: dict, why: dict[int, str]) -> str | None:
    """Leave out the images no size resolves for, with their annotations, as pycocotools
    and datumaro load such a file (a Label Studio export of the JSON alone lists its
    unlabelled images without a size, and their files are elsewhere). Returns the
    warning that counts them and names a few, or None when no image would remain (the
    file is refused then: it is more likely the wrong --images)."""
    keep = [img for img in data["images"] if not (isinstance(img, dict) and is_id(img.get("id"))
                                                   and img["id"] in why)]
    if not keep:
        return None
    anns = data.get("annotations")
    n_anns = 0
    if isinstance(anns, list):
        kept = [a for a in anns if not (isinstance(a, dict) and is_id(a.get("image_id"))
                                        and a["image_id"] in why)]
        n_anns = len(anns) - len(kept)
        data["annotations"] = kept
    data["images"] = keep
    shown = "; ".join(list(why.values())[:SHOWN_NAMES])
    more = f"; and {len(why) - SHOWN_NAMES} more" if len(why) > SHOWN_NAMES else ""
    return (f"{len(why)} image(s) have no width/height and their files cannot be read, so "
            f"they are left out with their {n_anns} annotation(s), as pycocotools would "
            f"load the rest: {shown}{more}")


def dataset_from_json(data: dict, path: Path | None = None,
                      image_root: Path | str | None = None,
                      follow_symlinks: bool = False) -> Dataset:
    root = Path(image_root) if image_root is not None else (
        path.parent if path is not None else Path("."))
    found, why = fill_missing_sizes(data, root, follow_symlinks)
    left_out = _leave_out(data, why) if why else None
    if left_out is not None:
        found.append(left_out)
        why = {}
    unresolved = [f"image id {i}: no width/height, and they cannot be read from the image "
                  f"({reason})" for i, reason in why.items()]
    try:
        validate(data, path)
    except CocoFormatError as e:
        if not unresolved:
            raise
        said = {p.split(":")[0] for p in unresolved}  # "image id 5": said with its reason
        raise CocoFormatError(path, unresolved + [
            p for p in e.problems if p.split(":")[0] not in said
            or "missing or invalid" not in p]) from None
    if unresolved:
        raise CocoFormatError(path, unresolved)
    categories = [Category(c["id"], c["name"], c.get("supercategory"), extra=c)
                  for c in data["categories"]]
    images, by_id, warnings = [], {}, []
    for img in data["images"]:
        rec = ImageRecord(id=img["id"], file_name=img["file_name"], width=img["width"],
                          height=img["height"], status=img.get("review", "unreviewed"),
                          extra=img, attention=img.get("attention"))
        rec.path_error = unsafe_file_name(rec.file_name)
        if rec.path_error:
            warnings.append(f"image id {rec.id}: {rec.path_error}; it will not be opened")
        images.append(rec)
        by_id[rec.id] = rec
    for ann in data.get("annotations", []):
        rec = by_id[ann["image_id"]]
        rec.instances.append(Instance.from_annotation(ann, rec.height, rec.width))
    ds = Dataset(categories, images, image_root=root, path=path,
                 extra={k: v for k, v in data.items() if k not in _BIG3})
    ds.key_order = list(data.keys())
    ds.warnings = found + warnings
    return ds


# ----------------------------------------------------------------------------- save

def _encode(inst: Instance, rec: ImageRecord, fmt: str, report: SaveReport):
    h, w = rec.height, rec.width
    if fmt == "polygon":
        if inst.iscrowd:
            report.kept_rle_crowd += 1
        else:
            polys, why = P.exact_polygons(inst.mask, inst.offset, h, w)
            if polys is not None:
                report.polygon += 1
                return polys
            if why == "hole":
                report.kept_rle_hole += 1
            elif why == "complex":
                report.kept_rle_complex += 1
            else:
                report.kept_rle_shape += 1
    report.rle += 1
    if not inst.edited:  # straight from the file's own segmentation, in pycocotools' C
        return M.to_compressed_rle(inst.original["segmentation"], h, w)
    return M.encode_rle(inst.mask, inst.offset, h, w)


def _already_in(seg, fmt: str) -> bool:
    if fmt == "polygon":
        return isinstance(seg, list)
    return isinstance(seg, dict) and isinstance(seg.get("counts"), str)


def annotation_json(inst: Instance, rec: ImageRecord, fmt: str = "rle",
                    convert_all: bool = False, report: SaveReport | None = None) -> dict:
    report = report if report is not None else SaveReport()
    report.annotations += 1
    d: dict = dict(inst.original) if inst.original else {}
    d["id"] = inst.id
    d["image_id"] = rec.id
    d["category_id"] = inst.category_id
    seg = d.get("segmentation")
    if inst.box_only and not inst.edited:
        report.box_only += 1  # `segmentation: []` stays [], none stays none: no mask made up
    if not inst.edited and (inst.box_only or not (
            (convert_all and seg is not None and not _already_in(seg, fmt))
            or is_vertex_segmentation(seg))):  # a YOLO polygon is no COCO one: made RLE
        report.unchanged += 1
        if "bbox" not in d:
            d["bbox"] = inst.bbox
        if "area" not in d:
            d["area"] = inst.area
    else:
        d["segmentation"] = _encode(inst, rec, fmt, report)
        if inst.edited or "area" not in d:
            d["area"] = inst.area
        if inst.edited or "bbox" not in d:
            d["bbox"] = inst.bbox
    d["iscrowd"] = int(inst.iscrowd)  # pycocotools' COCOeval needs the key
    original = inst.original or {}
    if inst.provenance_changed or any(k in original for k in ("source", "review", "score")):
        if inst.score is not None or "score" in original:
            d["score"] = inst.score
        d["source"] = inst.source
        d["review"] = review_state(inst)  # `decided` for a person's work, as the rule says
        if inst.model is not None or "model" in original:
            d["model"] = inst.model
    return d


def image_json(rec: ImageRecord) -> dict:
    d = dict(rec.extra)
    d["id"] = rec.id
    d["file_name"] = rec.file_name
    d["width"] = rec.width
    d["height"] = rec.height
    if rec.status != "unreviewed" or "review" in rec.extra:
        d["review"] = rec.status
    return d


def _root_keys(ds: Dataset) -> tuple[list[str], dict]:
    """The root keys in the file's order, and the values besides the big three."""
    extra = dict(ds.extra)
    # COCO's required 'info': pycocotools 2.0.10's loadRes (and so detectron2's
    # evaluator) raises KeyError on a ground truth without it, so a file that lacks it gains it
    extra.setdefault("info", {"description": "MaskLoop annotations",
                              "date_created": _dt.date.today().isoformat()})
    if not ds.key_order:  # a new file
        extra.setdefault("licenses", [])
    keys = list(dict.fromkeys(list(ds.key_order) + list(extra) + list(_BIG3)))
    return keys, extra


def _prepare(ds: Dataset) -> None:
    ids = ds.new_annotation_id
    for rec in ds.images:
        ds.ensure_size(rec)
        for inst in rec.instances:
            if inst.id is None:
                inst.id = ids()


def dataset_json(ds: Dataset, fmt: str = "rle", convert_all: bool = False
                 ) -> tuple[dict, SaveReport]:
    """The COCO dict for a dataset; unknown root keys keep their place and order."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    report = SaveReport()
    _prepare(ds)
    body = {
        "images": [image_json(rec) for rec in ds.images],
        "annotations": [annotation_json(inst, rec, fmt, convert_all, report)
                        for rec in ds.images for inst in rec.instances],
        "categories": [c.to_json() for c in ds.categories],
    }
    keys, extra = _root_keys(ds)
    return {key: body[key] if key in body else extra[key] for key in keys}, report


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


Check = Callable[[Instance, ImageRecord, dict], None]


def write_dataset(f: IO[bytes], ds: Dataset, fmt: str = "rle", convert_all: bool = False,
                  check: Check | None = None) -> SaveReport:
    """Stream the dataset as COCO JSON into `f`, annotation by annotation.

    Each item is checked with the loader's own rules before it is written (what
    MaskLoop writes, MaskLoop must read back), and a mask decoded only to be written
    is dropped again, so a save never holds every decoded mask at once. `check`, if
    given, sees each annotation as written (export's round-trip check).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    _prepare(ds)
    report, v = SaveReport(), Validator()
    images = [image_json(rec) for rec in ds.images]
    categories = [c.to_json() for c in ds.categories]
    for i, img in enumerate(images):
        v.image(img, i)
    for i, cat in enumerate(categories):
        v.category(cat, i)
    _refuse(v.problems)
    keys, extra = _root_keys(ds)
    f.write(b"{")
    for n, key in enumerate(keys):
        f.write((b"," if n else b"") + _dumps(key) + b":")
        if key == "images":
            _write_list(f, images)
        elif key == "categories":
            _write_list(f, categories)
        elif key == "annotations":
            f.write(b"[")
            k, batch = 0, []
            for rec in ds.images:
                for inst in rec.instances:
                    lazy = inst.is_lazy
                    ann = annotation_json(inst, rec, fmt, convert_all, report)
                    seg = ann.get("segmentation")
                    # a polygon we wrote is checked point by point; an RLE string we wrote
                    # came from pycocotools' encoder, so its size is checked, not re-parsed,
                    # like one the file came with (parsed when it was loaded)
                    v.annotation(ann, k, deep=isinstance(seg, list) and (
                        inst.original is None or seg is not inst.original.get("segmentation")))
                    _refuse(v.problems)
                    if check is not None:
                        check(inst, rec, ann)
                    if lazy:
                        inst.forget_mask()
                    batch.append(ann)
                    k += 1
                    if len(batch) == WRITE_BATCH:
                        _write_items(f, batch, first=k == len(batch))
                        batch = []
            _write_items(f, batch, first=k == len(batch))
            f.write(b"]")
        else:
            f.write(_dumps(extra[key]))
    f.write(b"}")
    _refuse(v.finish())
    return report


def _write_list(f: IO[bytes], items: list) -> None:
    f.write(_dumps(items))


def _write_items(f: IO[bytes], items: list, first: bool) -> None:
    """Items of an open JSON list, many to one dumps call (a call per item costs more
    than the encoding)."""
    if items:
        f.write(b"" if first else b",")
        f.write(_dumps(items)[1:-1])


def _refuse(problems: list[str]) -> None:
    if problems:
        raise CocoFormatError(None, ["MaskLoop refused to write a file it could not read back "
                                     "(please report this):"] + problems)


def save_dataset(ds: Dataset, path: Path | str, fmt: str = "rle",
                 convert_all: bool = False, check: Check | None = None) -> SaveReport:
    """Atomically write the dataset as COCO JSON (temp file, fsync, os.replace): a
    refused or failed write leaves the old file as it was."""
    out: list[SaveReport] = []
    atomic_write(path, lambda f: out.append(write_dataset(f, ds, fmt, convert_all, check)))
    return out[0]
