"""Image-sized masks written a band of rows at a time: the mask PNGs and label images.

A mask PNG is the size of its image, and cv2.imencode wants the whole array: a
14000 x 14000 image's mask costs 196 MB as bool, as much again as uint8 and 392 MB as a
16-bit label image. Here a mask is held as its runs cut at column breaks (a few bytes a
run, never a pixel) and sorted by band of rows; each band is painted, filtered and
deflated on its own, so writing costs one band, however large the image. Rows without
a pixel are not painted or deflated at all: they are copied in as deflate blocks of zeros
made once (the PNG's checksum is carried across them), so a mask costs the rows it
touches, and the instances of a label image the pixels they hold: 65,535 small instances
on a large image no longer cost 65,535 times the image.
"""
from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Iterator

import numpy as np

from model.data import masks as M
from model.data.annotations import Instance

BAND_PIXELS = 1 << 22  # pixels painted at a time
PNG_LEVEL = 4  # zlib: masks come out under half the size of cv2.imencode's, noise stays fast


def instance_counts(inst: Instance, height: int, width: int) -> np.ndarray:
    """An instance's column-major run lengths, from the file's own segmentation when
    nobody changed it (no crop is decoded for that), else from its crop."""
    if inst.is_lazy:
        seg = inst.original.get("segmentation") or []
        return M.segmentation_counts(seg, height, width)
    return M.crop_counts(inst.mask, inst.offset, height, width)


class BandedMask:
    """A mask as runs per band of rows: band k holds rows [k * rows, (k + 1) * rows)."""

    def __init__(self, counts: np.ndarray, height: int, width: int):
        self.height, self.width = height, width
        self.rows = max(1, min(height, BAND_PIXELS // max(width, 1)))
        col, r0, r1 = M.run_columns(counts, height, width)
        self.pixels = int((r1 - r0).sum())
        first, last = r0 // self.rows, (r1 - 1) // self.rows
        n = last - first + 1  # a run down a whole column crosses every band
        which = np.repeat(np.arange(col.size), n)
        band = np.repeat(first, n) + (np.arange(which.size) - np.repeat(np.cumsum(n) - n, n))
        top = band * self.rows
        order = np.argsort(band, kind="stable")
        self._band = band[order]
        self._col = col[which][order].astype(np.int32)
        self._a = (np.maximum(r0[which], top) - top)[order].astype(np.int32)
        self._b = (np.minimum(r1[which], top + self.rows) - top)[order].astype(np.int32)
        self._cut = np.searchsorted(self._band, np.arange(self.bands + 1))

    @property
    def bands(self) -> int:
        return -(-self.height // self.rows)

    def band(self, k: int) -> np.ndarray:
        """Rows [k * rows, (k + 1) * rows) as a bool array of the image's width."""
        rows = min(self.rows, self.height - k * self.rows)
        s, e = self._cut[k], self._cut[k + 1]
        return _paint(self._col[s:e], self._a[s:e], self._b[s:e], rows, self.width)

    def segments(self) -> Iterator[np.ndarray | int]:
        """The mask's rows in order: a bool array for each stretch of rows that holds a
        pixel, the number of rows for each stretch that holds none."""
        for k in range(self.bands):
            rows = min(self.rows, self.height - k * self.rows)
            s, e = self._cut[k], self._cut[k + 1]
            if s == e:
                yield rows
                continue
            order = np.argsort(self._a[s:e], kind="stable")
            col, a, b = self._col[s:e][order], self._a[s:e][order], self._b[s:e][order]
            cover = np.cumsum(np.bincount(a, minlength=rows + 1)
                              - np.bincount(b, minlength=rows + 1))[:rows] > 0
            done = 0
            for t0, t1 in _stretches(cover, self.width):
                if t0 > done:
                    yield t0 - done
                i, j = np.searchsorted(a, [t0, t1])  # a run lies inside one stretch
                yield _paint(col[i:j], a[i:j] - t0, b[i:j] - t0, t1 - t0, self.width)
                done = t1
            if rows > done:
                yield rows - done

    def paint(self, k: int, labels: np.ndarray, claimed: np.ndarray, twice: np.ndarray,
              label: int) -> None:
        """Paint band k into a label band (later wins), marking the pixels claimed and
        those claimed twice; costs this mask's pixels in the band, not the band."""
        s, e = self._cut[k], self._cut[k + 1]
        if s == e:
            return
        col, a, b = self._col[s:e], self._a[s:e], self._b[s:e]
        length = (b - a).astype(np.int64)
        n = int(length.sum())
        if n * 8 > labels.size:  # most of the band: paint it whole
            m = self.band(k)
            twice |= claimed & m
            claimed |= m
            labels[m] = label
            return
        w = labels.shape[1]
        idx = np.repeat(a.astype(np.int64) * w + col, length)
        idx += (np.arange(n) - np.repeat(np.cumsum(length) - length, length)) * w
        flat_claimed, flat_twice = claimed.reshape(-1), twice.reshape(-1)
        flat_twice[idx] |= flat_claimed[idx]  # a mask's runs never share a pixel
        flat_claimed[idx] = True
        labels.reshape(-1)[idx] = label


def _paint(col: np.ndarray, a: np.ndarray, b: np.ndarray, rows: int, width: int) -> np.ndarray:
    """Runs (column, first row, row after the last) as a bool array of rows x width."""
    marks = np.zeros((rows + 1, -(-width // 8) * 8), np.uint8)
    marks[a, col] = 1  # runs in one column never overlap: starts differ
    marks[b, col] ^= 1
    M.fill_down(marks)
    return marks[:-1, :width].view(bool)


def _stretches(cover: np.ndarray, width: int) -> Iterator[tuple[int, int]]:
    """(first, after last) of each stretch of covered rows; gaps too short to be worth a
    block of their own (under 16 KB of pixels) are kept inside a stretch."""
    edges = np.flatnonzero(np.diff(np.r_[0, cover.view(np.int8), 0])).reshape(-1, 2)
    if len(edges) > 1:
        gap = edges[1:, 0] - edges[:-1, 1]
        keep = np.r_[True, gap * max(width, 1) >= 1 << 14]
        starts = edges[keep, 0]
        ends = np.r_[edges[1:, 0][keep[1:]] - gap[keep[1:]], edges[-1, 1]]
        edges = np.stack([starts, ends], axis=1)
    return ((int(t0), int(t1)) for t0, t1 in edges)


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


ZERO_BLOCK = 1 << 20  # bytes of zero rows deflated once and then copied as often as needed


@functools.lru_cache(maxsize=256)
def _zero_block(row_bytes: int, rows: int) -> bytes:
    """Raw deflate of `rows` zero rows, ending in a full flush: it refers to nothing
    before it, so it may be copied anywhere into a stream between flushes."""
    c = zlib.compressobj(PNG_LEVEL, zlib.DEFLATED, -15)
    return c.compress(bytes(row_bytes * rows)) + c.flush(zlib.Z_FULL_FLUSH)


def _zero_rows(row_bytes: int, n: int) -> list[bytes]:
    unit = max(1, ZERO_BLOCK // row_bytes)
    q, r = divmod(n, unit)
    out = [_zero_block(row_bytes, unit) * q] if q else []
    step = 1
    while r:  # the rest as blocks of 1, 2, 4, ... rows: a few sizes, each made once
        if r & 1:
            out.append(_zero_block(row_bytes, step))
        r, step = r >> 1, step << 1
    return out


def _adler_zeros(adler: int, n: int) -> int:
    """adler32 carried over n zero bytes: the sum of bytes stays, the sum of sums grows
    by n times it."""
    s1, s2 = adler & 0xFFFF, adler >> 16
    return (((s2 + n * s1) % 65521) << 16) | s1


def png(width: int, height: int, bands: Iterator[np.ndarray | int], depth: int = 8) -> bytes:
    """A greyscale PNG (8- or 16-bit) from its rows, in order: arrays of rows, or the
    number of rows of zeros (copied in as ready-made deflate blocks)."""
    row_bytes = 1 + width * depth // 8
    deflate = zlib.compressobj(PNG_LEVEL, zlib.DEFLATED, -15)
    data, adler, live = [], 1, False
    for band in bands:
        if isinstance(band, (int, np.integer)):
            if band <= 0:
                continue
            if live:  # the compressor's window must not reach over the copied blocks
                data.append(deflate.flush(zlib.Z_FULL_FLUSH))
                live = False
            data += _zero_rows(row_bytes, int(band))
            adler = _adler_zeros(adler, int(band) * row_bytes)
            continue
        rows = np.ascontiguousarray(band, ">u2" if depth == 16 else np.uint8)
        raw = np.zeros((rows.shape[0], row_bytes), np.uint8)
        raw[:, 1:] = rows.view(np.uint8).reshape(rows.shape[0], -1)  # filter byte 0: none
        raw = raw.tobytes()
        adler = zlib.adler32(raw, adler)
        data.append(deflate.compress(raw))
        live = True
    data.append(deflate.flush())  # the final block
    stream = b"\x78\x01" + b"".join(data) + struct.pack(">I", adler)
    head = struct.pack(">IIBBBBB", width, height, depth, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", head) + _chunk(b"IDAT", stream)
            + _chunk(b"IEND", b""))


def mask_png(mask: BandedMask) -> bytes:
    """The mask as an 8-bit PNG of its image's size, 255 inside."""
    return png(mask.width, mask.height,
               (seg if isinstance(seg, int) else seg.view(np.uint8) * np.uint8(255)
                for seg in mask.segments()))


class LabelImage:
    """Instances painted into one 16-bit label image (a later instance wins a pixel), a
    band at a time when written; counts the pixels more than one instance claims and
    keeps the labels still visible (`shown`), so a hidden instance can be named."""

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width
        self.layers: list[tuple[int, BandedMask]] = []
        self.overlaps = 0
        self.shown: set[int] = set()

    def add(self, label: int, mask: BandedMask) -> None:
        self.layers.append((label, mask))

    def _bands(self) -> Iterator[np.ndarray | int]:
        rows = max(1, min(self.height, BAND_PIXELS // max(self.width, 1)))
        for k in range(-(-self.height // rows)):
            n = min(rows, self.height - k * rows)
            labels = np.zeros((n, self.width), np.uint16)
            claimed = np.zeros((n, self.width), bool)
            twice = np.zeros((n, self.width), bool)
            for label, mask in self.layers:
                mask.paint(k, labels, claimed, twice, label)
            self.overlaps += int(np.count_nonzero(twice))
            self.shown.update(np.flatnonzero(np.bincount(labels.reshape(-1))).tolist())
            done = 0
            for t0, t1 in _stretches(claimed.any(axis=1), self.width * 2):
                if t0 > done:
                    yield t0 - done
                yield labels[t0:t1]
                done = t1
            if n > done:
                yield n - done

    def png(self) -> bytes:
        """The 16-bit PNG; self.overlaps and self.shown are filled as it is made."""
        self.overlaps = 0
        self.shown = set()
        return png(self.width, self.height, self._bands(), 16)
