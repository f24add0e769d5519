"""Mask files and label images read as COCO runs, never as a crop per instance.

A label image of 65,535 ids scattered over it gives each id a box the size of the image:
a crop per id costs ids x pixels (a 4096 x 4096 image took 10 s and 2.5 GB, a 14000 x 14000
one ran out of memory at 17 GB). Here the image is walked once, a strip of columns at a
time, and kept only as its runs (id, start, length in COCO's column-major order); each id's
RLE, area and box come from its own runs. Memory follows the runs, which the caps below
bound: an image whose ids are noise (a run every pixel or two) is refused with the count,
not read at a cost nobody can predict.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
from pycocotools import mask as mask_utils

from model.data import masks as M

STRIP_PIXELS = 1 << 22  # pixels walked at a time
MAX_LABEL_RUNS = 4_000_000  # a real label image has far fewer: 65,535 cells of 30 columns = 2M
MAX_LABEL_IDS = 65_535  # what a 16-bit label image holds; a 32-bit one may hold no more here
COUNTS_BATCH = 1 << 20  # counts handed to pycocotools' encoder at a time (Python ints: 36 B each)


def _strip_runs(labels: np.ndarray, max_runs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, length, id) of every nonzero run, in column-major order: one strip of
    columns at a time, a run that goes on across a strip's edge joined. ValueError past
    max_runs, said as soon as the count passes it."""
    h, w = labels.shape
    cols = max(1, STRIP_PIXELS // max(h, 1))
    starts, lengths, ids = [], [], []
    runs, tail = 0, 0  # tail: the id of the previous strip's last run (0: background)
    for c0 in range(0, w, cols):
        s = np.ascontiguousarray(labels[:, c0:c0 + cols].T).ravel()  # column-major pixels
        st = np.flatnonzero(s[1:] != s[:-1]) + 1
        st = np.concatenate(([0], st))
        ln = np.diff(np.concatenate((st, [s.size])))
        v = s[st]
        del s
        if tail and v[0] == tail:  # the previous strip's last run goes on here
            lengths[-1][-1] += ln[0]
            st, ln, v = st[1:], ln[1:], v[1:]
        tail = int(v[-1]) if v.size else tail
        keep = v != 0
        if keep.any():  # so lengths[-1][-1] is always the last run kept
            starts.append(st[keep] + c0 * h)
            lengths.append(ln[keep])
            ids.append(v[keep])
            runs += int(np.count_nonzero(keep))
        if runs > max_runs:
            raise ValueError(f"more than {max_runs:,} runs of label ids (the ids change every "
                             "few pixels: noise, not instances)")
    if not starts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    cat = np.concatenate
    return (cat(starts).astype(np.int64), cat(lengths).astype(np.int64),
            cat(ids).astype(np.int64))


def label_regions(labels: np.ndarray, max_runs: int = MAX_LABEL_RUNS,
                  max_ids: int = MAX_LABEL_IDS) -> Iterator[tuple[int, dict]]:
    """(id, COCO annotation fields) per nonzero id of a 2-D integer label image, in id
    order: the segmentation as compressed RLE from the id's own runs, bbox and area from
    them. ValueError (the reason) past max_runs runs or max_ids ids, before any is given."""
    h, w = labels.shape
    start, length, vals = _strip_runs(labels, max_runs)
    if start.size == 0:
        return
    order = np.argsort(vals, kind="stable")  # stable: each id's runs stay in column order
    start, length, vals = start[order], length[order], vals[order]
    del order
    first = np.flatnonzero(np.r_[True, vals[1:] != vals[:-1]])
    ids = vals[first]
    del vals
    if ids.size > max_ids:
        raise ValueError(f"{ids.size:,} label ids, more than the {max_ids:,} one label image "
                         "may hold")
    after = np.r_[first[1:], start.size]  # one past each id's last run
    end = start + length
    c0, c1 = start // h, (end - 1) // h
    wraps = c1 > c0  # a run down past a column's foot goes on at the next one's top
    top = np.where(wraps, 0, start % h)
    foot = np.where(wraps, h - 1, (end - 1) % h)
    x0, x1 = c0[first], c1[after - 1]
    y0, y1 = np.minimum.reduceat(top, first), np.maximum.reduceat(foot, first)
    area = np.add.reduceat(length, first)
    del c0, c1, wraps, top, foot
    gap = start - np.r_[0, end[:-1]]
    gap[first] = start[first]  # an id's first run counts from pixel 0
    counts = np.stack([gap, length], axis=1).ravel()  # [gap, run, gap, run, ...] per id
    rest = h * w - end[after - 1]  # the background after each id's last run
    del gap, start, length, end
    ids, area, x0, y0, x1, y1, rest = (a.tolist() for a in (ids, area, x0, y0, x1, y1, rest))
    first = first.tolist()  # after stays an array: searched for each batch
    k = 0
    while k < len(ids):  # a batch of ids at a time: Python's ints stay a few MB
        j = max(k + 1, int(np.searchsorted(after, first[k] + COUNTS_BATCH // 2, side="right")))
        objs = [{"size": [h, w], "counts": counts[2 * first[i]:2 * int(after[i])].tolist()
                 + [rest[i]]} for i in range(k, j)]
        for i, obj in zip(range(k, j), mask_utils.frPyObjects(objs, h, w)):
            yield ids[i], {
                "segmentation": {"size": [h, w], "counts": obj["counts"].decode("ascii")},
                "area": float(area[i]),
                "bbox": [float(x0[i]), float(y0[i]), float(x1[i] - x0[i] + 1),
                         float(y1[i] - y0[i] + 1)],
                "iscrowd": 0}
        k = j


def counts_fields(counts: np.ndarray, height: int, width: int) -> dict | None:
    """COCO annotation fields (compressed RLE, area, bbox) of one mask's column-major run
    lengths, or None when it has no pixel; costs its runs, never its pixels."""
    col, r0, r1 = M.run_columns(counts, height, width)
    if col.size == 0:
        return None
    x0, y0 = int(col[0]), int(r0.min())
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts.tolist()},
                                 height, width)
    return {"segmentation": {"size": [height, width], "counts": rle["counts"].decode("ascii")},
            "area": float((r1 - r0).sum()),
            "bbox": [float(x0), float(y0), float(int(col[-1]) - x0 + 1),
                     float(int(r1.max()) - y0)]}


def mask_fields(mask: np.ndarray) -> dict | None:
    """counts_fields of an image-sized mask (nonzero = inside), read a band of rows at a
    time: the mask itself is the only image-sized array (an 8-bit one is turned to bool in
    place, not copied)."""
    if mask.ndim == 3:
        mask = mask.any(axis=2)
    elif mask.dtype in (np.uint8, np.int8) and mask.flags.c_contiguous \
            and mask.flags.writeable:  # Pillow's palette arrays are read-only
        np.not_equal(mask, 0, out=mask.view(bool))
        mask = mask.view(bool)
    elif mask.dtype != bool:
        mask = mask != 0
    h, w = mask.shape
    return counts_fields(M.crop_counts(mask, (0, 0), h, w), h, w)
