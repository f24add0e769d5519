"""One YOLO label file read at numpy speed: every number parsed in one pass, every line
checked at once, and the instances built lazily (the polygon is kept as written, in
pixels, and filled by the YOLO rule only when its mask is first needed:
model/data/vertex_fill.py), so a file of a million lines reads in seconds, not minutes
(bench/yolo_read.py).

A bad line is told apart by the vectorised checks and then re-read on its own by
`parse_line`, whose message names the problem; nothing but `parse_line` decides what a
line means, so the fast path cannot read a line differently from the slow one.
"""
from __future__ import annotations

import gc
import math
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.data.annotations import Dataset, ImageRecord, Instance
from model.data.vertex_fill import VERTICES, fill_yolo, vertex_segmentation

MARGIN = 0.01  # normalised coordinates may leave [0, 1] by this much (then clamped)
MAX_CLASSES = 100_000
_WHITESPACE = np.zeros(256, bool)
_WHITESPACE[list(b" \t\r\n\v\f")] = True
_NOT_NUMBER = ~_WHITESPACE  # bytes no number numpy parses holds
_NOT_NUMBER[list(b"0123456789.+-eEnNaAiIfFtTyY")] = False


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
    raw: np.ndarray  # the file's bytes (UTF-8)
    newlines: np.ndarray  # byte offsets of the "\n"s
    values: np.ndarray | None  # None: some token is no number (each line is then re-read)
    start: np.ndarray
    count: np.ndarray

    def text(self, k: int) -> str:
        """Line k as text (only a line the fast checks refused is ever looked at)."""
        a = int(self.newlines[k - 1]) + 1 if k else 0
        b = int(self.newlines[k]) if k < self.newlines.size else self.raw.size
        return self.raw[a:b].tobytes().decode("utf-8", "replace")


def split_lines(text: str) -> Lines:
    """Token counts per line from one scan of the bytes, the numbers from one parse."""
    raw = np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8)
    newlines = np.flatnonzero(raw == ord("\n"))
    space = _WHITESPACE[raw]
    token_start = np.flatnonzero(~space[1:] & space[:-1]) + 1
    if raw.size and not space[0]:
        token_start = np.concatenate(([0], token_start))
    del space
    n_lines = newlines.size + 1
    count = np.bincount(np.searchsorted(newlines, token_start, side="right"),
                        minlength=n_lines)[:n_lines]
    start = np.cumsum(count) - count
    values = None
    if not _NOT_NUMBER[raw].any():  # else numpy would stop at the first odd token anyway
        try:
            values = np.fromstring(raw, sep=" ")  # text mode: not the deprecated one
        except (ValueError, DeprecationWarning):  # "unmatched data" (an error under -W error)
            values = None
    if values is not None and values.size != int(count.sum()):
        values = None
    return Lines(raw, newlines, values, start, count)


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
    bad = ~((vals >= -MARGIN) & (vals <= 1 + MARGIN))  # NaN fails this too
    bad[start[has]] = False  # the class tokens
    where = np.flatnonzero(bad)  # few: the line of each found by its start
    ok[np.searchsorted(start, where, side="right") - 1] = False
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
           "segmentation": vertex_segmentation([poly], rec.height, rec.width), "iscrowd": 0}
    return Instance.from_annotation(ann, rec.height, rec.width)


@contextmanager
def _collector_paused():
    """CPython's cyclic collector held off while one file's instances are built, and put
    back as it was (also on an error). A million lines make five million objects, none in
    a cycle; the collector would walk the whole growing heap 17 times on the way, half of
    the read's time (bench/yolo_read.py). The pause is the stdlib's own pattern around
    allocation bursts (timeit, _posixsubprocess): nothing is left changed on return."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _boxes(vals: np.ndarray, start: np.ndarray, rows: np.ndarray, w: int, h: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """COCO bboxes [x, y, w, h] (clipped to the image) of the box lines `rows`, and
    whether each keeps an area."""
    c = np.clip(vals[start[rows, None] + np.arange(1, 5)], 0.0, 1.0) * (w, h, w, h)
    x0 = np.maximum(c[:, 0] - c[:, 2] / 2, 0.0)
    y0 = np.maximum(c[:, 1] - c[:, 3] / 2, 0.0)
    x1 = np.minimum(c[:, 0] + c[:, 2] / 2, float(w))
    y1 = np.minimum(c[:, 1] + c[:, 3] / 2, float(h))
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1), (x1 > x0) & (y1 > y0)


def read_label_file(ds: Dataset, rec: ImageRecord, label: Path, text: str,
                    n_names: int | None, seen: set[int]) -> int:
    """Add the instances of one label file's text to rec, in line order; a bad line is
    named in ds.warnings and skipped. Returns the number of lines skipped."""
    lines = split_lines(text)
    ok = _good_lines(lines, n_names)
    h, w = rec.height, rec.width
    vals, start, count = lines.values, lines.start, lines.count
    pixels: list[float] = []
    fast = np.zeros(count.size, bool)  # polygons that passed every check and have pixels
    box_row = np.full(count.size, -1)  # row in `boxes` of a box line that passed them all
    boxes: list = []
    category = np.zeros(count.size, np.int64)
    if vals is not None and ok.any():
        pix = np.clip(vals, 0.0, 1.0)  # in place from here: a 10^6-line file has 17M values
        parity = np.resize(np.array([0, 1], np.int8), vals.size)
        is_x = parity != np.repeat((start % 2).astype(np.int8), count)  # odd offset: an x
        del parity
        np.multiply(pix, w, out=pix, where=is_x)
        np.multiply(pix, h, out=pix, where=~is_x)
        del is_x
        pixels = np.round(pix, 6, out=pix).tolist()
        del pix
        fast = ok & (count - 1 >= 6) & ~_thin(vals, start, count, w, h)
        rows = np.flatnonzero(ok & (count == 5))
        box_array, keep = _boxes(vals, start, rows, w, h)
        box_row[rows[keep]] = np.arange(int(keep.sum()))
        boxes = box_array[keep].tolist()
        good = fast | (box_row >= 0)
        category[good] = vals[start[good]] + 1
        seen.update(int(c) - 1 for c in np.unique(category[good]))
    fast_l, box_l, category_l = fast.tolist(), box_row.tolist(), category.tolist()
    with _collector_paused():
        return _build(ds, rec, label, lines, n_names, seen, pixels, fast_l, box_l, boxes,
                      category_l)


def _build(ds: Dataset, rec: ImageRecord, label: Path, lines: Lines, n_names: int | None,
           seen: set[int], pixels: list[float], fast_l: list[bool], box_l: list[int],
           boxes: list, category_l: list[int]) -> int:
    """read_label_file's loop over the lines, in order; returns the lines skipped."""
    h, w = rec.height, rec.width
    starts, counts = lines.start.tolist(), lines.count.tolist()
    new_id, rec_id, add = ds.new_annotation_id, rec.id, rec.instances.append
    lazy = Instance.from_annotation
    size = [h, w]  # one list for the file's segmentations (nothing changes them)
    skipped = 0
    for k in np.flatnonzero(lines.count > 0).tolist():
        a = starts[k]
        if fast_l[k]:  # the hot path: two dicts and one lazy instance per line
            add(lazy({"id": new_id(), "image_id": rec_id, "category_id": category_l[k],
                      "segmentation": {"size": size, VERTICES: [pixels[a + 1:a + counts[k]]]},
                      "iscrowd": 0}, h, w))
            continue
        if box_l[k] >= 0:  # a detection box: a box-only instance, as COCO keeps one
            add(lazy({"id": new_id(), "image_id": rec_id, "category_id": category_l[k],
                      "bbox": boxes[box_l[k]], "iscrowd": 0}, h, w))
            continue
        try:  # what the checks refused or could not settle: the line on its own
            cls, norm = parse_line(lines.text(k), n_names)
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
            ds.warnings.append(f"{label}, line {k + 1}: the shape draws no pixel inside the "
                               "image; skipped")
            skipped += 1
            continue
        seen.add(cls)
        ds.add_instance(rec, inst)
    return skipped


def _has_pixels(poly: list[float], h: int, w: int) -> bool:
    """Does the YOLO rule draw any pixel of the polygon inside the image? (A vertex at
    the normalised coordinate 1 is the pixel just past the image's edge.)"""
    return fill_yolo([poly], h, w)[0].size > 0


def _thin(vals: np.ndarray, start: np.ndarray, count: np.ndarray, w: int, h: int
          ) -> np.ndarray:
    """Per line: a polygon thin or small enough that the YOLO rule may draw none of it
    inside the image (its box under three pixels a side, or its area under four: only a
    polygon along the right or bottom edge, at the normalised coordinate 1, draws
    nothing); only these are filled now, to skip the empty ones."""
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
    out[poly] = (area < 4) | (span_x < 3) | (span_y < 3)
    return out


def _ramp(n: np.ndarray) -> np.ndarray:
    """0..n[0]-1, 0..n[1]-1, ... as one array."""
    return np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
