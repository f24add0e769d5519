"""One YOLO label file read at numpy speed: every number parsed in one pass, every line
checked at once, and the instances built lazily (the polygon is kept as the COCO
segmentation it is, and rasterised only when its mask is first needed), so a file of a
million lines reads in seconds, not minutes (bench/yolo_read.py).

A bad line is told apart by the vectorised checks and then re-read on its own by
`parse_line`, whose message names the problem; nothing but `parse_line` decides what a
line means, so the fast path cannot read a line differently from the slow one.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..annotations import Dataset, ImageRecord, Instance
from .bridge import polygons_rle

MARGIN = 0.01  # normalised coordinates may leave [0, 1] by this much (then clamped)
MAX_CLASSES = 100_000
_WHITESPACE = np.zeros(256, bool)
_WHITESPACE[list(b" \t\r\n\v\f")] = True


def parse_line(line: str, n_names: int | None) -> tuple[int, list[float]]:
    """(class index, coordinates) of one label line, or ValueError saying why not."""
    tokens = line.split()
    try:
        cls = float(tokens[0])
        coords = [float(t) for t in tokens[1:]]
    except ValueError:
        raise ValueError("holds something that is not a number") from None
    if not cls.is_integer() or cls < 0 or cls >= (n_names or MAX_CLASSES):
        raise ValueError(f"class index {tokens[0]} is out of range"
                         + (f" (there are {n_names} names)" if n_names else ""))
    if not all(math.isfinite(v) for v in coords):
        raise ValueError("holds a coordinate that is NaN or infinite")
    if len(coords) % 2:
        raise ValueError(f"has an odd number of coordinates ({len(coords)})")
    if len(coords) < 6 and len(coords) != 4:
        raise ValueError(f"has {len(coords)} coordinates: neither a polygon nor a box")
    if coords and (min(coords) < -MARGIN or max(coords) > 1 + MARGIN):
        raise ValueError("has coordinates outside [0, 1] (they must be normalised)")
    return int(cls), [min(max(v, 0.0), 1.0) for v in coords]


@dataclass
class Lines:
    """The numbers of a label file, line by line: line k's tokens are
    values[start[k]:start[k] + count[k]] (count 0: a blank line)."""
    text_lines: list[str]
    values: np.ndarray | None  # None: some token is no number (each line is then re-read)
    start: np.ndarray
    count: np.ndarray


def split_lines(text: str) -> Lines:
    """Token counts per line from one scan of the bytes, the numbers from one parse."""
    lines = text.split("\n")
    raw = np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8)
    space = _WHITESPACE[raw]
    token_start = np.flatnonzero(~space[1:] & space[:-1]) + 1
    if raw.size and not space[0]:
        token_start = np.concatenate(([0], token_start))
    del space
    line_of = np.searchsorted(np.flatnonzero(raw == ord("\n")), token_start, side="right")
    count = np.bincount(line_of, minlength=len(lines))[:len(lines)]
    start = np.cumsum(count) - count
    with warnings.catch_warnings():  # numpy says "unmatched data" for a non-number
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            values = np.fromstring(raw, sep=" ")  # text mode: not the deprecated one
        except ValueError:
            values = None
    if values is not None and values.size != int(count.sum()):
        values = None
    return Lines(lines, values, start, count)


def _good_lines(lines: Lines, n_names: int | None) -> np.ndarray:
    """Per line: True where the vectorised checks pass (a line they fail is re-read by
    parse_line for its message)."""
    count = lines.count
    if lines.values is None:
        return np.zeros(count.size, bool)
    vals, start = lines.values, lines.start
    has = count > 0
    cls = np.full(count.size, -1.0)
    cls[has] = vals[start[has]]
    limit = n_names or MAX_CLASSES
    m = count - 1
    ok = has & (cls >= 0) & (cls < limit) & (cls == np.floor(cls))
    ok &= (m == 4) | ((m >= 6) & (m % 2 == 0))
    coord = np.ones(vals.size, bool)
    coord[start[has]] = False  # the class tokens
    line_of = np.repeat(np.arange(count.size), count)
    bad = coord & ~((vals >= -MARGIN) & (vals <= 1 + MARGIN))  # NaN fails this too
    ok &= np.bincount(line_of[bad], minlength=count.size) == 0
    return ok


def _box(ds: Dataset, rec: ImageRecord, cls: int, c: list[float]) -> Instance | None:
    """A detection box (centre x, y, width, height in pixels) as a box-only instance."""
    h, w = rec.height, rec.width
    cx, cy, bw, bh = c
    x0, y0 = max(cx - bw / 2, 0.0), max(cy - bh / 2, 0.0)
    x1, y1 = min(cx + bw / 2, float(w)), min(cy + bh / 2, float(h))
    if x1 <= x0 or y1 <= y0:
        return None
    ann = {"id": ds.new_annotation_id(), "image_id": rec.id, "category_id": cls + 1,
           "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": 0}
    return Instance.from_annotation(ann, h, w)  # a box-only instance, as COCO keeps one


def _polygon(ds: Dataset, rec: ImageRecord, cls: int, poly: list[float]) -> Instance:
    ann = {"id": ds.new_annotation_id(), "image_id": rec.id, "category_id": cls + 1,
           "segmentation": [poly], "iscrowd": 0}
    return Instance.from_annotation(ann, rec.height, rec.width)


def read_label_file(ds: Dataset, rec: ImageRecord, label: Path, text: str,
                    n_names: int | None, seen: set[int]) -> int:
    """Add the instances of one label file's text to rec, in line order; a bad line is
    named in ds.warnings and skipped. Returns the number of lines skipped."""
    lines = split_lines(text)
    ok = _good_lines(lines, n_names)
    h, w = rec.height, rec.width
    vals, start, count = lines.values, lines.start, lines.count
    pixels: list[float] = []
    fast = np.zeros(count.size, bool)  # a polygon that passed every check and has pixels
    category = np.zeros(count.size, np.int64)
    if vals is not None and ok.any():
        coords = np.clip(vals, 0.0, 1.0)
        scale = np.where((np.arange(vals.size) - np.repeat(start, count)) % 2 == 1, w, h)
        pixels = np.round(coords * scale, 6).tolist()  # x at odd offsets (after the class)
        fast = ok & (count - 1 >= 6) & ~_thin(vals, start, count, w, h)
        category[fast] = vals[start[fast]] + 1
        seen.update(int(c) - 1 for c in np.unique(category[fast]))
    starts, counts, fast_l, category_l = start.tolist(), count.tolist(), fast.tolist(), \
        category.tolist()
    new_id, rec_id, add = ds.new_annotation_id, rec.id, rec.instances.append
    lazy = Instance.from_annotation
    skipped = 0
    for k in np.flatnonzero(count > 0).tolist():
        a = starts[k]
        if fast_l[k]:  # the hot path: one dict and one lazy instance per line
            add(lazy({"id": new_id(), "image_id": rec_id, "category_id": category_l[k],
                      "segmentation": [pixels[a + 1:a + counts[k]]], "iscrowd": 0}, h, w))
            continue
        if ok[k]:
            cls, coords = int(vals[a]), pixels[a + 1:a + counts[k]]
        else:
            try:
                cls, norm = parse_line(lines.text_lines[k], n_names)
            except ValueError as e:
                ds.warnings.append(f"{label}, line {k + 1}: {e}; skipped")
                skipped += 1
                continue
            coords = [v * (w if i % 2 == 0 else h) for i, v in enumerate(norm)]
        if len(coords) == 4:
            inst = _box(ds, rec, cls, coords)
        else:
            inst = _polygon(ds, rec, cls, coords) if _has_pixels(coords, h, w) else None
        if inst is None:
            ds.warnings.append(f"{label}, line {k + 1}: the shape covers no pixels; skipped")
            skipped += 1
            continue
        seen.add(cls)
        ds.add_instance(rec, inst)
    return skipped


def _has_pixels(poly: list[float], h: int, w: int) -> bool:
    from pycocotools import mask as mask_utils
    rle = polygons_rle([poly], h, w)
    return rle is not None and int(mask_utils.area(rle)) > 0


def _thin(vals: np.ndarray, start: np.ndarray, count: np.ndarray, w: int, h: int
          ) -> np.ndarray:
    """Per line: a polygon thin or small enough that it may cover no pixel centre (its
    box under two pixels a side, or its area under two pixels); only these are
    rasterised now, to skip the empty ones as the rasteriser would leave them."""
    n = count.size
    out = np.zeros(n, bool)
    poly = np.flatnonzero(count - 1 >= 6)
    if poly.size == 0:
        return out
    lens = (count[poly] - 1) // 2
    idx = np.repeat(start[poly] + 1, lens * 2) + _ramp(lens * 2)
    pts = np.clip(vals[idx], 0.0, 1.0).reshape(-1, 2) * (w, h)
    seg = np.repeat(np.arange(poly.size), lens)
    first = np.cumsum(lens) - lens
    x, y = pts[:, 0], pts[:, 1]
    nxt = np.arange(x.size) + 1
    last = first + lens - 1
    nxt[last] = first
    cross = np.bincount(seg, x * y[nxt] - x[nxt] * y, minlength=poly.size)
    area = np.abs(cross) / 2
    span_x = np.maximum.reduceat(x, first) - np.minimum.reduceat(x, first)
    span_y = np.maximum.reduceat(y, first) - np.minimum.reduceat(y, first)
    out[poly] = (area < 2) | (span_x < 2) | (span_y < 2)
    return out


def _ramp(n: np.ndarray) -> np.ndarray:
    """0..n[0]-1, 0..n[1]-1, ... as one array."""
    return np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
