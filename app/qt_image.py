"""The only numpy <-> QImage code. A QImage made here wraps the array's memory:
the array is kept alive on the QImage (`_keep`) and must not be mutated while shown
unless the owner repaints afterwards (the overlay does exactly that)."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def rgb_to_bgra(rgb: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """HxWx3 RGB uint8 -> HxWx4 B,G,R,255: QImage.Format_RGB32's byte order, Qt's fast path."""
    h, w = rgb.shape[:2]
    if out is None:
        out = np.empty((h, w, 4), np.uint8)
    out[..., 0] = rgb[..., 2]
    out[..., 1] = rgb[..., 1]
    out[..., 2] = rgb[..., 0]
    out[..., 3] = 255
    return out


def wrap_bgra(buf: np.ndarray, premultiplied_alpha: bool = False) -> QImage:
    """Wrap an HxWx4 uint8 (B,G,R,A bytes) array without copying."""
    if buf.dtype != np.uint8 or buf.ndim != 3 or buf.shape[2] != 4 or not buf.flags.c_contiguous:
        raise ValueError("expected a C-contiguous HxWx4 uint8 array")
    h, w = buf.shape[:2]
    fmt = QImage.Format_ARGB32_Premultiplied if premultiplied_alpha else QImage.Format_RGB32
    img = QImage(buf.data, w, h, buf.strides[0], fmt)
    img._keep = buf  # the QImage does not own the memory; keep the array alive with it
    return img

