"""Mask primitives: cropped bool masks, bboxes and COCO RLE (polygons: polygons.py).

A segmentation here is any COCO one (polygons, RLE, uncompressed RLE) or a polygon read
from a YOLO label file, kept as written and filled by the YOLO rule when needed
(vertex_fill.py; COCO files never hold it).

A mask lives as a bool array cropped to its bbox plus an integer (x, y) offset.
RLE is encoded straight from the crop and decoded straight into one, a band of rows
at a time, so memory follows the runs and the crop: a small instance on a 12 MP
image never costs a 12 MP buffer, and an image-sized mask on a 200 MP image costs
its crop (one byte a pixel), never an int64 array of the image's size.
"""
from __future__ import annotations

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from model.data.vertex_fill import fill_yolo, is_vertex_segmentation

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

CHUNK = 1 << 22  # pixels handled per numpy pass by the encoder and decoder below


def crop_counts(mask: np.ndarray, offset: Offset, height: int, width: int) -> np.ndarray:
    """Uncompressed COCO RLE counts (column-major, int64) computed from the crop only.

    Compares each row with the one above, a band of rows at a time, and keeps only where
    runs start and end (then sorted column by column): memory follows the runs, never
    the image (a full-image mask on a 200 MP image costs a few MB here, not 8 bytes a
    pixel), and every pass reads the crop in its own row order.
    """
    mask, offset = clip_to_image(mask, offset, height, width)
    total = height * width
    h, w = mask.shape
    if h == 0 or w == 0:
        return np.array([total], np.int64)
    x0, y0 = offset
    rows = np.ascontiguousarray(mask, bool).view(np.uint8)  # integer loops beat bool ones
    wp = -(-w // 8) * 8
    step = max(1, CHUNK // wp)
    edges = []
    for r in range(0, h + 1, step):  # row h: the zero row below the crop
        n = min(step, h + 1 - r)
        changed = np.zeros((n, wp), np.uint8)  # whole 8-byte words: searched 8 at a time
        above = rows[r - 1] if r else np.zeros(w, np.uint8)
        below = rows[r:r + n] if r + n <= h else np.concatenate([rows[r:h], np.zeros((1, w),
                                                                                    np.uint8)])
        np.bitwise_xor(below[:1], above, out=changed[:1, :w])
        np.bitwise_xor(below[1:], below[:-1], out=changed[1:, :w])
        wr, wc = np.nonzero(changed.view(np.uint64))
        k, b = np.nonzero(changed.view(np.uint64)[wr, wc].view(np.uint8).reshape(-1, 8))
        cc, rr = wc[k] * 8 + b, wr[k]
        edges.append((cc.astype(np.int64) + x0) * height + (rr.astype(np.int64) + r + y0))
    bounds = np.sort(np.concatenate(edges))  # a run starts at each even place, ends at each odd
    if bounds.size == 0:
        return np.array([total], np.int64)
    starts, ends = bounds[0::2], bounds[1::2]
    # a run that reaches the bottom of a full-height column goes on at the next one's top
    joined = np.flatnonzero(ends[:-1] == starts[1:])
    if joined.size:
        starts, ends = np.delete(starts, joined + 1), np.delete(ends, joined)
    marks = np.empty(2 * starts.size + 2, np.int64)
    marks[0], marks[1:-1:2], marks[2:-1:2], marks[-1] = 0, starts, ends, total
    counts = np.diff(marks)
    return counts[:-1] if counts[-1] == 0 else counts  # no empty run at the end


def rle_counts_from_crop(mask: np.ndarray, offset: Offset, height: int,
                         width: int) -> list[int]:
    """crop_counts as a list (what pycocotools' frPyObjects takes)."""
    return crop_counts(mask, offset, height, width).tolist()


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
    own rasteriser, so they come out exactly as every COCO tool draws them; a YOLO
    polygon through the YOLO rule)."""
    if is_vertex_segmentation(segmentation):
        crop, offset = fill_yolo(segmentation["vertices"], height, width)
        return crop_counts(crop, offset, height, width)
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


def run_columns(counts: np.ndarray, height: int, width: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Foreground runs cut at column breaks: (column, first row, row after the last),
    in column-major order. Cost follows the runs (a run down a whole 14,000-column image
    is 14,000 pieces), never the pixels."""
    counts = np.asarray(counts, np.int64)
    if counts.size and int(counts.min()) < 0:
        raise ValueError("RLE counts hold a negative run")
    ends = np.cumsum(counts)
    if ends.size == 0 or ends[-1] != height * width:
        raise ValueError(f"RLE counts sum to {int(ends[-1]) if ends.size else 0}, not "
                         f"{height}x{width}")
    s, e = (ends - counts)[1::2], ends[1::2]
    keep = e > s
    s, e = s[keep], e[keep]
    if s.size == 0:
        z = np.zeros(0, np.int64)
        return z, z, z
    c0, c1 = s // height, (e - 1) // height  # first and last column of each run
    n = c1 - c0 + 1
    if int(n.max()) == 1:  # the usual case: no run wraps into the next column
        return c0, s - c0 * height, e - c0 * height
    first = np.cumsum(n) - n
    col = np.repeat(c0, n) + (np.arange(int(n.sum())) - np.repeat(first, n))
    r0 = np.zeros(col.size, np.int64)
    r0[first] = s % height
    r1 = np.full(col.size, height, np.int64)
    r1[first + n - 1] = (e - 1) % height + 1
    return col, r0, r1


def crop_from_counts(counts: np.ndarray, height: int, width: int) -> tuple[np.ndarray, Offset]:
    """A tight crop straight from column-major run lengths: cost follows the runs and
    the crop's area (one byte a pixel while it is built), never the image's."""
    col, r0, r1 = run_columns(counts, height, width)
    if col.size == 0:
        return empty_mask()
    x0, y0 = int(col[0]), int(r0.min())
    crop_w, crop_h = int(col[-1]) - x0 + 1, int(r1.max()) - y0
    # 1 where a run starts and just below where it ends, then xor-ed down each column
    # (starts are distinct, and so are ends; a run that begins where one ends toggles
    # twice). Rows are padded to whole 8-byte words so the xor takes 8 pixels at a time,
    # then moved together in place: one byte a pixel, and no second array
    wp = -(-crop_w // 8) * 8
    buf = np.zeros((crop_h + 1) * wp, np.uint8)
    marks = buf.reshape(crop_h + 1, wp)
    marks[r0 - y0, col - x0] = 1
    marks[r1 - y0, col - x0] ^= 1
    fill_down(marks)
    if wp != crop_w:
        for r in range(1, crop_h):
            buf[r * crop_w:(r + 1) * crop_w] = marks[r, :crop_w]
    return buf[:crop_h * crop_w].view(bool).reshape(crop_h, crop_w), (x0, y0)


def fill_down(marks: np.ndarray) -> None:
    """Xor each row of a uint8 0/1 array into the ones below it, in place: toggles where
    runs start and end become the runs. The width must be whole 8-byte words (the xor
    then takes 8 pixels at a time)."""
    words = marks.view(np.uint64)
    if words.size <= CHUNK // 8:
        np.bitwise_xor.accumulate(words, axis=0, out=words)
    else:
        for r in range(1, len(words)):
            np.bitwise_xor(words[r], words[r - 1], out=words[r])


def decode_segmentation(segmentation, height: int, width: int) -> tuple[np.ndarray, Offset]:
    """Any segmentation (COCO polygons, RLE, uncompressed RLE; a YOLO polygon) -> tight
    crop, without a full-image buffer."""
    if is_vertex_segmentation(segmentation):
        return fill_yolo(segmentation["vertices"], height, width)
    return crop_from_counts(segmentation_counts(segmentation, height, width), height, width)


def _to_rle_object(segmentation, height: int, width: int) -> dict:
    """Any segmentation -> a pycocotools compressed RLE object."""
    if is_vertex_segmentation(segmentation):
        return mask_utils.frPyObjects({"size": [height, width], "counts": segmentation_counts(
            segmentation, height, width).tolist()}, height, width)
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


def segmentation_bbox(segmentation, height: int, width: int) -> list[float]:
    """COCO [x, y, w, h] of a segmentation's pixels, as bbox_of gives it for the decoded
    crop (zeros when empty), from the runs alone."""
    if segmentation_area(segmentation, height, width) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    rle = _to_rle_object(segmentation, height, width)
    return [float(v) for v in mask_utils.toBbox(rle)]


def segmentation_size(segmentation) -> tuple[int, int] | None:
    """The (h, w) an RLE declares; polygons declare none."""
    if isinstance(segmentation, dict) and "size" in segmentation:
        h, w = segmentation["size"]
        return int(h), int(w)
    return None


# ------------------------------------------------------------------------- polygons

def has_hole(mask: np.ndarray) -> bool:
    """True when some background region is enclosed by the mask (8-connected fg).

    OpenCV pads its own copy of the image (one byte a pixel), so the crop is passed
    as it is, not padded into another copy first."""
    if mask.size == 0:
        return False
    _, hierarchy = cv2.findContours(as_uint8(mask), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return hierarchy is not None and bool((hierarchy[0][:, 3] >= 0).any())


def as_uint8(mask: np.ndarray) -> np.ndarray:
    """A bool mask as 0/1 uint8 for OpenCV, without a copy where it is contiguous."""
    mask = np.ascontiguousarray(mask)
    return mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
