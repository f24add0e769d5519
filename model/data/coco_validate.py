"""Structural checks of a COCO instances file, before anything is built from it.

Every problem is collected (with the annotation id where there is one), so the
user sees the first dozen at once instead of one KeyError at a time.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from model.data.annotations import FILE_REVIEWS, SOURCES, IMAGE_STATES
from model.data.images import DEFAULT_MAX_PIXELS
from model.data.masks import rle_string_counts, rle_strings_check
from model.errors import CocoFormatError

MAX_ID = 2 ** 53  # JSON readers in other languages lose integers past this
MAX_NUMBER = 1e300
COORD_MARGIN = 4  # coordinates may leave the image by this many image sizes, no more


def read_json(path: Path | str) -> Any:
    """Parse a JSON file, or raise CocoFormatError naming it: a missing or unreadable
    file, bad bytes, nesting deep enough to exhaust the parser, or a 5,000-digit number."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CocoFormatError(path, ["file not found"]) from None
    except IsADirectoryError:
        raise CocoFormatError(path, ["is a folder, not a JSON file"]) from None
    except OSError as e:
        raise CocoFormatError(path, [f"cannot read file: {e.strerror or e}"]) from None
    try:
        return json.loads(raw)
    except RecursionError:
        raise CocoFormatError(path, ["not valid JSON: nested too deeply"]) from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise CocoFormatError(path, [f"not valid JSON: {e}"]) from None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_id(v: Any) -> bool:
    return _is_int(v) and -MAX_ID < v < MAX_ID


def is_num(v: Any) -> bool:
    """A finite number: Python's JSON reader turns NaN, Infinity and 1e999 into floats,
    and keeps a 300-digit integer as an int no float can hold."""
    if type(v) is float:
        return math.isfinite(v)
    return type(v) is int and -MAX_NUMBER < v < MAX_NUMBER


_NUMBER_TYPES = {int, float}


def attention_problem(v: Any) -> str | None:
    """Why a stored image attention (the review queue's priority, written by `predict`
    and the prediction cache) is unusable: it must be a finite number in [0, 1]."""
    if not is_num(v) or not 0.0 <= float(v) <= 1.0:
        return f"'attention' must be a number in [0, 1], got {v!r}"
    return None


def bad_coords(values: list, size: tuple[int, int] | None) -> str | None:
    """Why x, y pairs are unusable: not finite, or far outside the image."""
    try:  # NaN and Infinity make the sum so; a 400-digit integer cannot become a float
        finite = set(map(type, values)) <= _NUMBER_TYPES and math.isfinite(sum(values))
    except OverflowError:
        finite = False
    if not finite:
        return "holds a value that is not a finite number (NaN, Infinity or not a number)"
    if size is None:
        return None
    h, w = size
    xs, ys = values[0::2], values[1::2]
    lo_x, hi_x, lo_y, hi_y = -COORD_MARGIN * w, (COORD_MARGIN + 1) * w, \
        -COORD_MARGIN * h, (COORD_MARGIN + 1) * h
    if xs and (min(xs) < lo_x or max(xs) > hi_x) or ys and (min(ys) < lo_y or max(ys) > hi_y):
        return (f"has coordinates far outside its {w}x{h} image (allowed: within "
                f"{COORD_MARGIN}x the image size)")
    return None


def check_segmentation(seg: Any, where: str, size: tuple[int, int] | None,
                       problems: list[str], pending: list | None = None) -> None:
    """Problems of one segmentation. A compressed RLE string is checked right away, or,
    with `pending`, queued as (string, h*w, where) for one batched check."""
    if isinstance(seg, list):
        for k, poly in enumerate(seg):
            if not isinstance(poly, list):
                problems.append(f"{where}: polygon {k} is not a list of numbers")
            elif len(poly) % 2:
                problems.append(f"{where}: polygon {k} has an odd number of coordinates "
                                f"({len(poly)})")
            elif (why := bad_coords(poly, size)) is not None:
                problems.append(f"{where}: polygon {k} {why}")
        return
    if not isinstance(seg, dict):
        problems.append(f"{where}: segmentation must be a polygon list or an RLE dict, "
                        f"got {type(seg).__name__}")
        return
    rle_size, counts = seg.get("size"), seg.get("counts")
    if not (isinstance(rle_size, list) and len(rle_size) == 2
            and all(_is_int(v) and 0 < v <= DEFAULT_MAX_PIXELS for v in rle_size)):
        problems.append(f"{where}: RLE 'size' must be [height, width], positive integers")
        return
    if size is not None and tuple(rle_size) != size:
        problems.append(f"{where}: mask size {rle_size[0]}x{rle_size[1]} (h x w) disagrees with "
                        f"its image, {size[0]}x{size[1]}")
        return
    total = rle_size[0] * rle_size[1]
    if isinstance(counts, str):
        if pending is not None:
            pending.append((counts, total, where))
            return
        parsed = rle_string_counts(counts)
        if parsed is None or int(parsed.sum()) != total:
            problems.append(f"{where}: RLE 'counts' is not a valid compressed RLE string of "
                            f"a {rle_size[0]}x{rle_size[1]} mask")
        return
    if not isinstance(counts, list):
        problems.append(f"{where}: RLE 'counts' must be a string or a list of integers")
    elif not all(_is_int(v) and v >= 0 for v in counts):
        problems.append(f"{where}: RLE 'counts' list holds a non-integer or negative value")
    elif sum(counts) != total:
        problems.append(f"{where}: RLE 'counts' sum to {sum(counts)}, not "
                        f"{rle_size[0]}x{rle_size[1]} = {total}")


def check_pending(pending: list[tuple[str, int, str]], problems: list[str]) -> None:
    """The RLE strings check_segmentation queued, checked in one batch."""
    if pending:
        ok = rle_strings_check([p[0] for p in pending], [p[1] for p in pending])
        for (_s, total, where) in (p for p, good in zip(pending, ok) if not good):
            problems.append(f"{where}: RLE 'counts' is not a valid compressed RLE string of "
                            f"a mask of {total} pixels")


class Validator:
    """The checks of one COCO document, item by item: the loader runs them over a parsed
    file, the writer over each item it is about to write (what MaskLoop writes,
    MaskLoop must read back)."""

    def __init__(self):
        self.problems: list[str] = []
        self.sizes: dict[int, tuple[int, int] | None] = {}
        self.cat_ids: set[int] = set()
        self.ann_ids: Counter = Counter()
        self.image_ids: Counter = Counter()
        self.pending: list[tuple[str, int, str]] = []  # RLE strings, checked together

    def image(self, img: Any, i: int) -> None:
        problems = self.problems
        where = f"image #{i}"
        if not isinstance(img, dict):
            problems.append(f"{where}: must be an object")
            return
        if not is_id(img.get("id")):
            problems.append(f"{where}: missing or non-integer 'id'")
            return
        where = f"image id {img['id']}"
        self.image_ids[img["id"]] += 1
        if not isinstance(img.get("file_name"), str):
            problems.append(f"{where}: missing or non-string 'file_name'")
        ok = True
        for k in ("width", "height"):
            if not (_is_int(img.get(k)) and img[k] > 0):
                problems.append(f"{where}: missing or invalid '{k}' (a positive integer)")
                ok = False
        if ok and img["width"] * img["height"] > DEFAULT_MAX_PIXELS:
            problems.append(f"{where}: {img['width']}x{img['height']} is over the "
                            f"{DEFAULT_MAX_PIXELS // 1_000_000}-megapixel limit")
            ok = False
        if img.get("review", "unreviewed") not in IMAGE_STATES:
            problems.append(f"{where}: 'review' must be one of {IMAGE_STATES}")
        if "attention" in img and attention_problem(img["attention"]):
            problems.append(f"{where}: {attention_problem(img['attention'])}")
        self.sizes[img["id"]] = (img["height"], img["width"]) if ok else None

    def category(self, cat: Any, i: int) -> None:
        if not isinstance(cat, dict) or not is_id(cat.get("id")):
            self.problems.append(f"category #{i}: missing or non-integer 'id'")
            return
        if not isinstance(cat.get("name"), str):
            self.problems.append(f"category id {cat['id']}: missing or non-string 'name'")
        if cat["id"] in self.cat_ids:
            self.problems.append(f"category id {cat['id']} is used more than once")
        self.cat_ids.add(cat["id"])

    def annotation(self, ann: Any, i: int, deep: bool = True) -> None:
        """`deep` False skips re-reading a segmentation's content (a written-back one
        that was checked when it was loaded); its size is still checked."""
        problems = self.problems
        if not isinstance(ann, dict):
            problems.append(f"annotation #{i}: must be an object")
            return
        if not is_id(ann.get("id")):
            problems.append(f"annotation #{i}: missing or non-integer 'id'")
            return
        aid = ann["id"]
        self.ann_ids[aid] += 1
        where = f"annotation id {aid}"
        for key in ("image_id", "category_id"):
            if key not in ann:
                problems.append(f"{where}: missing '{key}'")
        seg = ann.get("segmentation")
        # null or {} (other tools' writers) is no mask, as [] is (COCO's own box-only
        # form): with a bbox, a box without a mask, written back as it came
        no_mask = seg is None or (isinstance(seg, dict) and not seg)
        if no_mask and "bbox" not in ann:
            problems.append(f"{where}: missing 'segmentation' (and no 'bbox' either)"
                            if "segmentation" not in ann else
                            f"{where}: segmentation {json.dumps(seg)} is no mask, and there "
                            "is no 'bbox' either")
        img_id, cat_id = ann.get("image_id"), ann.get("category_id")
        if "image_id" in ann and not (is_id(img_id) and img_id in self.sizes):
            problems.append(f"{where}: image_id {img_id!r} is not an image in this file")
        if "category_id" in ann and not (is_id(cat_id) and cat_id in self.cat_ids):
            problems.append(f"{where}: category_id {cat_id!r} is not a category in this file")
        size = self.sizes.get(img_id) if is_id(img_id) else None
        if "segmentation" in ann and not no_mask:
            if deep or not isinstance(seg, dict):
                check_segmentation(seg, where, size, problems, self.pending)
            elif size is not None and seg.get("size") != list(size):
                problems.append(f"{where}: mask size {seg.get('size')} (h, w) disagrees with "
                                f"its image, {size[0]}x{size[1]}")
        if "bbox" in ann:
            box = ann["bbox"]
            if not (isinstance(box, list) and len(box) == 4):
                problems.append(f"{where}: 'bbox' must be [x, y, w, h] numbers")
            elif (why := bad_coords(box, size)) is not None:
                problems.append(f"{where}: 'bbox' {why}")
            elif box[2] < 0 or box[3] < 0:
                problems.append(f"{where}: 'bbox' has a negative width or height")
        if "area" in ann and not (is_num(ann["area"]) and ann["area"] >= 0):
            problems.append(f"{where}: 'area' must be a finite number >= 0")
        if ann.get("iscrowd", 0) not in (0, 1, True, False):
            problems.append(f"{where}: 'iscrowd' must be 0 or 1")
        if ann.get("score") is not None and not is_num(ann["score"]):
            problems.append(f"{where}: 'score' must be a finite number")
        if ann.get("source") is not None and ann["source"] not in SOURCES:
            problems.append(f"{where}: 'source' must be one of {SOURCES}")
        if ann.get("review") is not None and ann["review"] not in FILE_REVIEWS:
            problems.append(f"{where}: 'review' must be one of {FILE_REVIEWS}")

    def finish(self) -> list[str]:
        """The problems found, duplicates of ids and bad RLE strings included."""
        check_pending(self.pending, self.problems)
        self.pending = []
        for ident, n in self.image_ids.items():
            if n > 1:
                self.problems.append(f"image id {ident} is used {n} times")
        for aid, n in self.ann_ids.items():
            if n > 1:
                self.problems.append(f"annotation id {aid} is used {n} times")
        return self.problems


def validate(data: Any, path: Path | str | None = None) -> None:
    """Raise CocoFormatError listing every problem of a parsed file: structure, types,
    and numbers (non-finite values, coordinates far outside the image, sizes over the
    pixel cap, RLE strings that do not decode to their image's size)."""
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
    v = Validator()
    for i, img in enumerate(data["images"]):
        v.image(img, i)
    for i, cat in enumerate(data["categories"]):
        v.category(cat, i)
    for i, ann in enumerate(data.get("annotations", [])):
        v.annotation(ann, i)
    if v.finish():
        raise CocoFormatError(path, v.problems)
