"""Structural checks of a COCO instances file, before anything is built from it.

Every problem is collected (with the annotation id where there is one), so the
user sees the first dozen at once instead of one KeyError at a time.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from .annotations import REVIEWS, SOURCES, IMAGE_STATES

MAX_SHOWN = 12


class CocoFormatError(ValueError):
    """A COCO file that cannot be loaded; `problems` lists every fault found."""

    def __init__(self, path: Path | str | None, problems: list[str]):
        self.path = None if path is None else Path(path)
        self.problems = problems
        where = str(self.path) if self.path else "COCO data"
        shown = "\n".join(f"  - {p}" for p in problems[:MAX_SHOWN])
        more = f"\n  ... and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
        super().__init__(f"{where}: invalid COCO file ({len(problems)} problem"
                         f"{'s' if len(problems) != 1 else ''}):\n{shown}{more}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_segmentation(seg: Any, where: str, size: tuple[int, int] | None,
                        problems: list[str]) -> None:
    if isinstance(seg, list):
        for k, poly in enumerate(seg):
            if not isinstance(poly, list) or not all(_is_num(v) for v in poly):
                problems.append(f"{where}: polygon {k} is not a list of numbers")
            elif len(poly) % 2:
                problems.append(f"{where}: polygon {k} has an odd number of coordinates "
                                f"({len(poly)})")
        return
    if not isinstance(seg, dict):
        problems.append(f"{where}: segmentation must be a polygon list or an RLE dict, "
                        f"got {type(seg).__name__}")
        return
    rle_size, counts = seg.get("size"), seg.get("counts")
    if not (isinstance(rle_size, list) and len(rle_size) == 2 and all(_is_int(v) for v in rle_size)):
        problems.append(f"{where}: RLE 'size' must be [height, width]")
        return
    if not isinstance(counts, (str, list)):
        problems.append(f"{where}: RLE 'counts' must be a string or a list of integers")
        return
    if isinstance(counts, list):
        if not all(_is_int(v) and v >= 0 for v in counts):
            problems.append(f"{where}: RLE 'counts' list holds a non-integer or negative value")
        elif sum(counts) != rle_size[0] * rle_size[1]:
            problems.append(f"{where}: RLE 'counts' sum to {sum(counts)}, not "
                            f"{rle_size[0]}x{rle_size[1]} = {rle_size[0] * rle_size[1]}")
    if size is not None and tuple(rle_size) != size:
        problems.append(f"{where}: mask size {rle_size[0]}x{rle_size[1]} (h x w) disagrees with "
                        f"its image, {size[0]}x{size[1]}")


def validate(data: Any, path: Path | str | None = None) -> None:
    """Raise CocoFormatError listing every structural problem of a parsed file."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise CocoFormatError(path, [f"top level must be a JSON object, got {type(data).__name__}"])
    for key in ("images", "categories"):
        if key not in data:
            problems.append(f"missing top-level key '{key}'")
        elif not isinstance(data[key], list):
            problems.append(f"'{key}' must be a list, got {type(data[key]).__name__}")
    if "annotations" in data and not isinstance(data["annotations"], list):
        problems.append(f"'annotations' must be a list, got {type(data['annotations']).__name__}")
    if problems:
        raise CocoFormatError(path, problems)

    sizes: dict[int, tuple[int, int] | None] = {}
    for i, img in enumerate(data["images"]):
        where = f"image #{i}"
        if not isinstance(img, dict):
            problems.append(f"{where}: must be an object")
            continue
        if not _is_int(img.get("id")):
            problems.append(f"{where}: missing or non-integer 'id'")
            continue
        where = f"image id {img['id']}"
        if not isinstance(img.get("file_name"), str):
            problems.append(f"{where}: missing or non-string 'file_name'")
        ok = True
        for k in ("width", "height"):
            if not (_is_int(img.get(k)) and img[k] > 0):
                problems.append(f"{where}: missing or invalid '{k}' (a positive integer)")
                ok = False
        if img.get("review", "unreviewed") not in IMAGE_STATES:
            problems.append(f"{where}: 'review' must be one of {IMAGE_STATES}")
        sizes[img["id"]] = (img["height"], img["width"]) if ok else None
    for ident, n in Counter(i.get("id") for i in data["images"] if isinstance(i, dict)).items():
        if n > 1 and ident is not None:
            problems.append(f"image id {ident} is used {n} times")

    cat_ids = set()
    for i, cat in enumerate(data["categories"]):
        if not isinstance(cat, dict) or not _is_int(cat.get("id")):
            problems.append(f"category #{i}: missing or non-integer 'id'")
            continue
        if not isinstance(cat.get("name"), str):
            problems.append(f"category id {cat['id']}: missing or non-string 'name'")
        if cat["id"] in cat_ids:
            problems.append(f"category id {cat['id']} is used more than once")
        cat_ids.add(cat["id"])

    ann_ids: Counter = Counter()
    for i, ann in enumerate(data.get("annotations", [])):
        if not isinstance(ann, dict):
            problems.append(f"annotation #{i}: must be an object")
            continue
        if not _is_int(ann.get("id")):
            problems.append(f"annotation #{i}: missing or non-integer 'id'")
            continue
        aid = ann["id"]
        ann_ids[aid] += 1
        where = f"annotation id {aid}"
        for key in ("image_id", "category_id", "segmentation"):
            if key not in ann:
                problems.append(f"{where}: missing '{key}'")
        img_id, cat_id = ann.get("image_id"), ann.get("category_id")
        if "image_id" in ann and not (_is_int(img_id) and img_id in sizes):
            problems.append(f"{where}: image_id {img_id!r} is not an image in this file")
        if "category_id" in ann and not (_is_int(cat_id) and cat_id in cat_ids):
            problems.append(f"{where}: category_id {cat_id!r} is not a category in this file")
        if "segmentation" in ann:
            _check_segmentation(ann["segmentation"], where, sizes.get(img_id), problems)
        if "bbox" in ann and not (isinstance(ann["bbox"], list) and len(ann["bbox"]) == 4
                                  and all(_is_num(v) for v in ann["bbox"])):
            problems.append(f"{where}: 'bbox' must be [x, y, w, h] numbers")
        if ann.get("iscrowd", 0) not in (0, 1, True, False):
            problems.append(f"{where}: 'iscrowd' must be 0 or 1")
        if ann.get("score") is not None and not _is_num(ann["score"]):
            problems.append(f"{where}: 'score' must be a number")
        if ann.get("source") is not None and ann["source"] not in SOURCES:
            problems.append(f"{where}: 'source' must be one of {SOURCES}")
        if ann.get("review") is not None and ann["review"] not in REVIEWS:
            problems.append(f"{where}: 'review' must be one of {REVIEWS}")
    for aid, n in ann_ids.items():
        if n > 1:
            problems.append(f"annotation id {aid} is used {n} times")
    if problems:
        raise CocoFormatError(path, problems)
