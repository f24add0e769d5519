"""Half-resolution copies of a BGRA buffer, so a zoomed-out 12 MP view paints from
a small image instead of resampling 48 MB on every repaint.

Level k has 1/2**k the resolution; each level is made from the one above by
2x2 averaging (OpenCV's INTER_AREA), region by region, so an edit updates only
the rectangle it touched at every level. Premultiplied alpha averages correctly.
"""
from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtGui import QImage

from ..qt_image import wrap_bgra

MIN_SIDE = 600  # no level smaller than this


class Pyramid:
    def __init__(self, base: np.ndarray, premultiplied: bool):
        self.premultiplied = premultiplied
        self.levels: list[np.ndarray] = [base]
        h, w = base.shape[:2]
        while max(h, w) > 2 * MIN_SIDE:
            h, w = (h + 1) // 2, (w + 1) // 2
            self.levels.append(np.zeros((h, w, 4), np.uint8))
        self.images: list[QImage] = [wrap_bgra(a, premultiplied) for a in self.levels]
        self.update(None)

    def update(self, rect: tuple[int, int, int, int] | None) -> None:
        """Recompute every level inside `rect` (base pixels; None: everything)."""
        h, w = self.levels[0].shape[:2]
        x0, y0, x1, y1 = rect if rect is not None else (0, 0, w, h)
        for k in range(1, len(self.levels)):
            src, dst = self.levels[k - 1], self.levels[k]
            x0, y0, x1, y1 = x0 // 2, y0 // 2, (x1 + 1) // 2, (y1 + 1) // 2
            dh, dw = dst.shape[:2]
            x1, y1 = min(x1, dw), min(y1, dh)
            if x1 <= x0 or y1 <= y0:
                return
            block = src[2 * y0:min(2 * y1, src.shape[0]), 2 * x0:min(2 * x1, src.shape[1])]
            if block.shape[:2] != (2 * (y1 - y0), 2 * (x1 - x0)):
                # the last odd row or column: repeat it
                block = np.pad(block, ((0, 2 * (y1 - y0) - block.shape[0]),
                                       (0, 2 * (x1 - x0) - block.shape[1]), (0, 0)), mode="edge")
            dst[y0:y1, x0:x1] = cv2.resize(block, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)

    def level_for(self, scale: float) -> int:
        """The smallest level still at least as sharp as the screen."""
        k = 0
        while k + 1 < len(self.levels) and scale * (2 ** (k + 1)) <= 1.0:
            k += 1
        return k
