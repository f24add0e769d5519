"""Mask primitives: cropped bool masks, bboxes, COCO RLE and polygons.

A mask lives as a bool array cropped to its bbox plus an integer (x, y) offset.
Full-image arrays are made only briefly (decoding a COCO polygon, for example).
RLE is encoded straight from the crop, so a small instance on a 12 MP image
never costs a 12 MP buffer.
"""
from __future__ import annotations

import cv2
import numpy as np
from pycocotools import mask as mask_utils

# A polygon written for an instance must reproduce its mask up to this many
# pixels at the boundary (Chebyshev distance); otherwise the instance stays RLE.
POLYGON_TOLERANCE_PX = 1

Offset = tuple[int, int]


def empty_mask() -> tuple[np.ndarray, Offset]:
    return np.zeros((0, 0), dtype=bool), (0, 0)


def tight_crop(mask: np.ndarray, offset: Offset = (0, 0)) -> tuple[np.ndarray, Offset]:
    """Shrink a mask to its nonzero bbox so offset + shape *is* the bbox."""
    mask = np.asarray(mask).astype(bool, copy=False)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return empty_mask()
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    crop = mask[y0:y1, x0:x1]
    if crop.shape != mask.shape:
        crop = crop.copy()
    return crop, (offset[0] + x0, offset[1] + y0)


def bbox_of(mask: np.ndarray, offset: Offset) -> list[float]:
    """COCO [x, y, w, h] of a tight-cropped mask (empty mask -> zeros)."""
    h, w = mask.shape
    if h == 0 or w == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(offset[0]), float(offset[1]), float(w), float(h)]


def paste(mask: np.ndarray, offset: Offset, height: int, width: int,
          out: np.ndarray | None = None) -> np.ndarray:
    """Paste a crop into a full-image bool array (clipped at the borders)."""
    if out is None:
        out = np.zeros((height, width), dtype=bool)
    x0, y0 = offset
    h, w = mask.shape
    ax0, ay0 = max(x0, 0), max(y0, 0)
    ax1, ay1 = min(x0 + w, width), min(y0 + h, height)
    if ax1 > ax0 and ay1 > ay0:
        out[ay0:ay1, ax0:ax1] |= mask[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0]
    return out


def clip_to_image(mask: np.ndarray, offset: Offset, height: int,
                  width: int) -> tuple[np.ndarray, Offset]:
    """Drop the parts of a crop that fall outside the image."""
    x0, y0 = offset
    h, w = mask.shape
    if x0 >= 0 and y0 >= 0 and x0 + w <= width and y0 + h <= height:
        return mask, offset
    ax0, ay0 = max(x0, 0), max(y0, 0)
    ax1, ay1 = min(x0 + w, width), min(y0 + h, height)
    if ax1 <= ax0 or ay1 <= ay0:
        return empty_mask()
    return tight_crop(mask[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0], (ax0, ay0))


# ----------------------------------------------------------------------------- RLE

def rle_counts_from_crop(mask: np.ndarray, offset: Offset, height: int,
                         width: int) -> list[int]:
    """Uncompressed COCO RLE counts (column-major) computed from the crop only.

    Cost is O(crop area), not O(image area).
    """
    mask, offset = clip_to_image(mask, offset, height, width)
    total = height * width
    h, w = mask.shape
    if h == 0 or w == 0:
        return [total]
    x0, y0 = offset
    gap = height - h
    # Column-major walk over the crop's columns; between two crop columns lie
    # `gap` zeros (below this column's crop and above the next one's).
    vals = np.zeros((w, h + 1), dtype=np.int8)
    vals[:, :h] = mask.T
    weights = np.ones((w, h + 1), dtype=np.int64)
    weights[:, h] = gap
    vals = vals.ravel()[:-1]
    weights = weights.ravel()[:-1]
    lead = x0 * height + y0
    trail = total - lead - (w - 1) * height - h
    vals = np.concatenate(([0], vals, [0]))
    weights = np.concatenate(([lead], weights, [trail]))
    keep = weights > 0
    vals, weights = vals[keep], weights[keep]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(vals)) + 1))
    runs = np.add.reduceat(weights, starts)
    counts = runs.tolist()
    if vals[0] == 1:
        counts.insert(0, 0)
    return counts


def encode_rle(mask: np.ndarray, offset: Offset, height: int, width: int) -> dict:
    """Compressed COCO RLE ({"size": [h, w], "counts": str}) of a cropped mask."""
    counts = rle_counts_from_crop(mask, offset, height, width)
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}


def rle_string_counts(counts: str) -> np.ndarray | None:
    """Uncompressed counts of a compressed COCO RLE string, or None when it is malformed.

    pycocotools' LEB128-like format: 6 bits a character from '0' (48), 5 of value and
    a continuation bit, the last character's 0x10 the sign; counts after the second
    are stored as the difference to the count two before. pycocotools itself checks
    none of this and writes past its buffer on garbage, so every string is checked
    here first. Vectorised: a few numpy passes, no Python loop per character.
    """
    if not counts:
        return np.zeros(0, np.int64)
    try:
        raw = np.frombuffer(counts.encode("ascii"), np.uint8).astype(np.int64) - 48
    except UnicodeEncodeError:
        return None
    if raw.min() < 0 or raw.max() > 63:
        return None
    more = (raw & 0x20) != 0
    if more[-1]:
        return None  # the last value never ends
    ends = np.flatnonzero(~more)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > 7:  # > 35 bits: no image has runs that long
        return None
    k = np.arange(raw.size) - np.repeat(starts, lengths)
    x = np.add.reduceat((raw & 0x1F) << (5 * k), starts)
    negative = (raw[ends] & 0x10) != 0
    x[negative] -= np.left_shift(1, 5 * lengths[negative])
    cnts = x.copy()
    cnts[1::2] = np.cumsum(x[1::2])
    cnts[2::2] = np.cumsum(x[2::2])
    if (cnts < 0).any():
        return None
    return cnts


CHECK_CHUNK = 16_384  # characters per pass: small buffers stay in cache and are reused


def rle_strings_check(strings: list[str], totals: list[int]) -> np.ndarray:
    """Validate many compressed RLE strings at once: True where string k is well formed,
    has no negative run and its runs sum to totals[k] (height x width).

    The same parse as rle_string_counts, over buffers of many strings at a time, so a
    file of 200,000 annotations costs a few thousand numpy passes, not 200,000 x 20.
    """
    out = np.ones(len(strings), bool)
    i = 0
    while i < len(strings):
        j, size = i, 0
        while j < len(strings) and (size == 0 or size + len(strings[j]) <= CHECK_CHUNK):
            size += len(strings[j])
            j += 1
        out[i:j] = _rle_strings_check(strings[i:j], totals[i:j])
        i = j
    return out


def _rle_strings_check(strings: list[str], totals: list[int]) -> np.ndarray:
    n = len(strings)
    ok = np.ones(n, bool)
    if n == 0:
        return ok
    try:
        joined = "".join(strings).encode("ascii")
    except UnicodeEncodeError:  # rare: check one by one
        return np.array([(c := rle_string_counts(s)) is not None and int(c.sum()) == t
                         and (len(s) > 0 or t == 0) for s, t in zip(strings, totals)])
    lens = np.fromiter((len(s) for s in strings), np.int64, n)
    totals_a = np.asarray(totals, np.int64)
    empty = lens == 0
    ok[empty] = totals_a[empty] == 0
    raw = np.frombuffer(joined, np.uint8)
    if raw.size == 0:
        return ok
    chars = raw.astype(np.int16) - 48
    bad = (chars < 0) | (chars > 63)
    last = np.cumsum(lens)[~empty] - 1  # each non-empty string's last character
    end = (chars & 0x20) == 0
    dangling = ~end[last]  # a string whose last value never ends
    end[last] = True
    sid_char = np.repeat(np.arange(n, dtype=np.int32), lens)
    if bad.any():
        ok[np.unique(sid_char[bad])] = False
    ok[np.flatnonzero(~empty)[dangling]] = False
    ends = np.flatnonzero(end)
    starts = np.empty_like(ends)
    starts[0], starts[1:] = 0, ends[:-1] + 1
    tlen = ends - starts + 1
    tsid = sid_char[ends]
    if (tlen > 7).any():
        ok[np.unique(tsid[tlen > 7])] = False
    # value of each character within its token: (c & 31) << 5k, k its place in the token
    k = np.arange(raw.size, dtype=np.int64)
    k -= np.repeat(starts, tlen)
    val = (chars & 0x1F).astype(np.int64) << (5 * np.minimum(k, 6))
    x = np.add.reduceat(val, starts)
    neg = (chars[ends] & 0x10) != 0
    x[neg] -= np.left_shift(1, 5 * np.minimum(tlen[neg], 7))
    first = np.searchsorted(tsid, np.arange(n))  # each string's first token
    m = np.arange(x.size) - first[tsid]  # a token's place in its string
    cnts = x
    for parity, lo in ((1, 1), (0, 2)):  # counts from the fourth on: deltas two back
        sel = (m >= lo) & ((m & 1) == parity)
        c = np.cumsum(np.where(sel, x, 0))
        before = first[tsid] + lo - 1  # the cumulative sum just before this group began
        base = np.where(before >= 0, c[np.clip(before, 0, c.size - 1)], 0)  # used where sel
        cnts = np.where(sel, c - base, cnts)
    has = np.bincount(tsid, minlength=n) > 0
    negative = np.bincount(tsid, weights=(cnts < 0), minlength=n) > 0
    sums = np.bincount(tsid, weights=cnts.astype(np.float64), minlength=n)
    ok &= ~negative
    ok[has] &= sums[has] == totals_a[has]
    return ok


def segmentation_counts(segmentation, height: int, width: int) -> np.ndarray:
    """Uncompressed counts of any COCO segmentation (polygons go through pycocotools'
    own rasteriser, so they come out exactly as every COCO tool draws them)."""
    if isinstance(segmentation, list):
        segmentation = _to_rle_object(segmentation, height, width)
    counts = segmentation["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if isinstance(counts, str):
        out = rle_string_counts(counts)
        if out is None:
            raise ValueError("malformed RLE counts string")
        return out
    return np.asarray(counts, np.int64)


def crop_from_counts(counts: np.ndarray, height: int, width: int) -> tuple[np.ndarray, Offset]:
    """A tight crop straight from column-major run lengths: cost follows the runs and
    the crop's area, never the image's (a 12 MP image's small object stays small)."""
    ends = np.cumsum(counts)
    if ends.size == 0 or ends[-1] != height * width:
        raise ValueError(f"RLE counts sum to {int(ends[-1]) if ends.size else 0}, not "
                         f"{height}x{width}")
    s, e = (ends - counts)[1::2], ends[1::2]
    keep = e > s
    s, e = s[keep], e[keep]
    if s.size == 0:
        return empty_mask()
    c0, c1 = s // height, (e - 1) // height  # first and last column of each run
    n = c1 - c0 + 1  # a run may wrap over several columns
    col = np.repeat(c0, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    r0 = np.where(col == np.repeat(c0, n), np.repeat(s % height, n), 0)
    r1 = np.where(col == np.repeat(c1, n), np.repeat((e - 1) % height + 1, n), height)
    x0, y0 = int(col.min()), int(r0.min())
    crop_w, crop_h = int(col.max()) - x0 + 1, int(r1.max()) - y0
    diff = np.zeros((crop_h + 1, crop_w), np.int32)
    np.add.at(diff, (r0 - y0, col - x0), 1)
    np.add.at(diff, (r1 - y0, col - x0), -1)
    crop = np.cumsum(diff[:-1], axis=0) > 0
    return tight_crop(crop, (x0, y0))


def decode_segmentation(segmentation, height: int, width: int) -> tuple[np.ndarray, Offset]:
    """Any COCO segmentation (polygons, RLE, uncompressed RLE) -> tight crop, without a
    full-image buffer."""
    return crop_from_counts(segmentation_counts(segmentation, height, width), height, width)


def _to_rle_object(segmentation, height: int, width: int) -> dict:
    """Any COCO segmentation -> a pycocotools compressed RLE object."""
    if isinstance(segmentation, list):
        polys = [p for p in segmentation if len(p) >= 6]
        if not polys:
            return mask_utils.frPyObjects({"size": [height, width], "counts": [height * width]},
                                          height, width)
        rles = mask_utils.frPyObjects(polys, height, width)
        return rles[0] if len(rles) == 1 else mask_utils.merge(rles)
    counts = segmentation["counts"]
    if isinstance(counts, list):
        return mask_utils.frPyObjects(segmentation, height, width)
    if isinstance(counts, str):
        return {"size": list(segmentation["size"]), "counts": counts.encode("ascii")}
    return segmentation


def to_compressed_rle(segmentation, height: int, width: int) -> dict:
    """Any COCO segmentation as compressed RLE ({"size", "counts": str}), in C."""
    rle = _to_rle_object(segmentation, height, width)
    counts = rle["counts"]
    return {"size": [height, width],
            "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


def segmentation_area(segmentation, height: int, width: int) -> int:
    return int(mask_utils.area(_to_rle_object(segmentation, height, width)))


def segmentation_size(segmentation) -> tuple[int, int] | None:
    """The (h, w) an RLE declares; polygons declare none."""
    if isinstance(segmentation, dict) and "size" in segmentation:
        h, w = segmentation["size"]
        return int(h), int(w)
    return None


# ------------------------------------------------------------------------- polygons

def has_hole(mask: np.ndarray) -> bool:
    """True when some background region is enclosed by the mask (8-connected fg)."""
    if mask.size == 0:
        return False
    padded = np.pad(mask.astype(np.uint8), 1)
    _, hierarchy = cv2.findContours(padded, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return hierarchy is not None and bool((hierarchy[0][:, 3] >= 0).any())


# Contour vertices sit on boundary pixel centres; moving each one this far towards
# the outside along both axes puts straight edges on the pixel edges (so a rectangle
# rasterises back exactly) while diagonal steps stay just inside their tie line.
_OUTWARD = 0.4


def polygons_from_mask(mask: np.ndarray, offset: Offset) -> list[list[float]]:
    """Outer contours of a mask as COCO polygons (pixel (x, y) covers [x, x+1)).

    CHAIN_APPROX_SIMPLE drops only collinear points, so no shape is simplified
    away; the rasterised result differs from the mask only on its boundary (see
    POLYGON_TOLERANCE_PX). Returns [] when a part is a line or a dot.
    """
    if mask.size == 0:
        return []
    padded = np.pad(mask.astype(np.uint8), 1)
    contours, _ = cv2.findContours(padded, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        p = c.reshape(-1, 2).astype(np.float64) - 1.0
        if len(p) < 3:
            return []
        x, y = p[:, 0], p[:, 1]
        orientation = 1.0 if np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) > 0 else -1.0
        e_in = p - np.roll(p, 1, axis=0)
        e_out = np.roll(p, -1, axis=0) - p
        n_in = np.sign(np.stack([e_in[:, 1], -e_in[:, 0]], 1) * orientation)
        n_out = np.sign(np.stack([e_out[:, 1], -e_out[:, 0]], 1) * orientation)
        q = p + 0.5 + _OUTWARD * np.sign(n_in + n_out)
        q += offset
        polys.append([round(v, 2) for v in q.ravel().tolist()])
    return polys


def polygon_reproduces(mask: np.ndarray, offset: Offset, polys: list[list[float]],
                       height: int, width: int) -> bool:
    """Does the rasterised polygon equal the mask up to the boundary tolerance?"""
    if not polys:
        return False
    back, back_off = decode_segmentation(polys, height, width)
    if back.size == 0:
        return False
    pad = POLYGON_TOLERANCE_PX
    x0 = min(offset[0], back_off[0]) - pad
    y0 = min(offset[1], back_off[1]) - pad
    x1 = max(offset[0] + mask.shape[1], back_off[0] + back.shape[1]) + pad
    y1 = max(offset[1] + mask.shape[0], back_off[1] + back.shape[0]) + pad
    a = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    b = np.zeros_like(a)
    a[offset[1] - y0:offset[1] - y0 + mask.shape[0],
      offset[0] - x0:offset[0] - x0 + mask.shape[1]] = mask
    b[back_off[1] - y0:back_off[1] - y0 + back.shape[0],
      back_off[0] - x0:back_off[0] - x0 + back.shape[1]] = back
    kernel = np.ones((2 * pad + 1, 2 * pad + 1), np.uint8)
    band = cv2.dilate(a, kernel) & ~cv2.erode(a, kernel, borderType=cv2.BORDER_CONSTANT,
                                             borderValue=0) & 1
    diff = (a ^ b).astype(bool)
    if (diff & ~band.astype(bool)).any():
        return False
    # every connected part must survive, however thin
    n_a, _ = cv2.connectedComponents(a, connectivity=8)
    n_b, _ = cv2.connectedComponents(b, connectivity=8)
    return n_a == n_b


def to_polygons_or_none(mask: np.ndarray, offset: Offset, height: int,
                        width: int) -> list[list[float]] | None:
    """Polygons for a mask, or None when polygons cannot express it faithfully."""
    if mask.size == 0 or has_hole(mask):
        return None
    polys = polygons_from_mask(mask, offset)
    if not polygon_reproduces(mask, offset, polys, height, width):
        return None
    return polys
