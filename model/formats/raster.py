"""Image-sized masks written a band of rows at a time: the mask PNGs and label images.

A mask PNG is the size of its image, and cv2.imencode wants the whole array: a
14000 x 14000 image's mask costs 196 MB as bool, as much again as uint8 and 392 MB as a
16-bit label image. Here a mask is held as its runs cut at column breaks (a few bytes a
run, never a pixel) and sorted by band of rows; each band is painted, filtered and
deflated on its own, so writing costs one band, however large the image.
"""
from __future__ import annotations

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
        marks = np.zeros((rows + 1, -(-self.width // 8) * 8), np.uint8)
        col = self._col[s:e]
        marks[self._a[s:e], col] = 1  # runs in one column never overlap: starts differ
        marks[self._b[s:e], col] ^= 1
        M.fill_down(marks)
        return marks[:-1, :self.width].view(bool)


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png(width: int, height: int, bands: Iterator[np.ndarray], depth: int = 8) -> bytes:
    """A greyscale PNG (8- or 16-bit) from its rows, given as bands of rows in order."""
    deflate = zlib.compressobj(PNG_LEVEL)
    data = []
    for band in bands:
        rows = np.ascontiguousarray(band, ">u2" if depth == 16 else np.uint8)
        raw = np.zeros((rows.shape[0], 1 + rows.shape[1] * rows.itemsize), np.uint8)
        raw[:, 1:] = rows.view(np.uint8).reshape(rows.shape[0], -1)  # filter byte 0: none
        data.append(deflate.compress(raw.tobytes()))
    data.append(deflate.flush())
    head = struct.pack(">IIBBBBB", width, height, depth, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", head) + _chunk(b"IDAT", b"".join(data))
            + _chunk(b"IEND", b""))


def mask_png(mask: BandedMask) -> bytes:
    """The mask as an 8-bit PNG of its image's size, 255 inside."""
    return png(mask.width, mask.height,
               (mask.band(k).view(np.uint8) * np.uint8(255) for k in range(mask.bands)))


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

    def _bands(self) -> Iterator[np.ndarray]:
        rows = max(1, min(self.height, BAND_PIXELS // max(self.width, 1)))
        for k in range(-(-self.height // rows)):
            n = min(rows, self.height - k * rows)
            labels = np.zeros((n, self.width), np.uint16)
            claimed = np.zeros((n, self.width), bool)
            twice = np.zeros((n, self.width), bool)
            for label, mask in self.layers:
                m = mask.band(k)
                twice |= claimed & m
                claimed |= m
                labels[m] = label
            self.overlaps += int(np.count_nonzero(twice))
            self.shown.update(int(v) for v in np.unique(labels))
            yield labels

    def png(self) -> bytes:
        """The 16-bit PNG; self.overlaps and self.shown are filled as it is made."""
        self.overlaps = 0
        self.shown = set()
        return png(self.width, self.height, self._bands(), 16)
