"""All instance masks composited into one premultiplied BGRA buffer.

napari's labels layer is the model: one array, and only the edited region is
recomposited and sent to the screen. Each instance paints its fill (at the
overlay opacity) and a one-pixel outline (opaque) into its own bbox; later
instances are on top. Cost of an update is proportional to the dirty rectangle
and the instances that touch it, never to the image.
"""
from __future__ import annotations

from typing import Callable, Sequence

import cv2
import numpy as np

from model.data.annotations import Instance
from model.editing.pixel_ops import Rect, mask_rect

_KERNEL = np.ones((3, 3), np.uint8)
ColorFn = Callable[[Instance], tuple[int, int, int]]


def instance_rect(inst: Instance) -> Rect | None:
    return mask_rect(inst.mask, inst.offset)


def _intersect(a: Rect, b: Rect) -> Rect | None:
    r = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return r if r[0] < r[2] and r[1] < r[3] else None


class OverlayCompositor:
    """Owns the HxWx4 buffer; `render(rect)` rebuilds just that rectangle."""

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width
        self.buffer = np.zeros((height, width, 4), np.uint8)  # B, G, R, A premultiplied
        self._pixels = self.buffer.view(np.uint32)[..., 0]  # one word per pixel: fast masked fills
        self._edges: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id(inst) -> (mask, outline)
        self.opacity = 0.45
        self.outline = True

    def _edge(self, inst: Instance, hit: Rect) -> np.ndarray:
        """Outline pixels of `inst` inside `hit`. A finished mask's outline is computed
        once and cached (masks are immutable); a live stroke's buffer is outlined
        locally, so each move costs the stroke's area, not the instance's."""
        if not inst.stroking:
            mask = inst.mask
            cached = self._edges.get(id(inst))
            if cached is None or cached[0] is not mask:
                full = self._local_edge(inst, mask_rect(mask, inst.offset))
                self._edges[id(inst)] = cached = (mask, full)
            ix, iy = inst.offset
            return cached[1][hit[1] - iy:hit[3] - iy, hit[0] - ix:hit[2] - ix]
        return self._local_edge(inst, hit)

    def forget(self, keep) -> None:
        alive = {id(i) for i in keep}
        for k in [k for k in self._edges if k not in alive]:
            del self._edges[k]

    @staticmethod
    def _local_edge(inst: Instance, hit: Rect) -> np.ndarray:
        ix, iy = inst.offset
        h, w = inst.mask.shape
        x0, y0, x1, y1 = hit
        cx0, cy0 = max(x0 - 1, ix), max(y0 - 1, iy)
        cx1, cy1 = min(x1 + 1, ix + w), min(y1 + 1, iy + h)
        ctx = np.pad(inst.mask[cy0 - iy:cy1 - iy, cx0 - ix:cx1 - ix].view(np.uint8),
                     ((cy0 - (y0 - 1), (y1 + 1) - cy1), (cx0 - (x0 - 1), (x1 + 1) - cx1)))
        # pixels outside the instance's crop count as background, so its border is outlined
        eroded = cv2.erode(ctx, _KERNEL, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        return (ctx & ~eroded)[1:-1, 1:-1].astype(bool)

    def full_rect(self) -> Rect:
        return (0, 0, self.width, self.height)

    def render(self, instances: Sequence[Instance], color: ColorFn,
               rect: Rect | None = None) -> Rect | None:
        """Recomposite `rect` (default: everything) from instances in draw order."""
        rect = self.full_rect() if rect is None else _intersect(rect, self.full_rect())
        if rect is None:
            return None
        x0, y0, x1, y1 = rect
        self._pixels[y0:y1, x0:x1] = 0
        a = self.opacity
        for inst in instances:
            r = instance_rect(inst)
            hit = r and _intersect(r, rect)
            if not hit:
                continue
            ix, iy = inst.offset
            rgb = color(inst)
            fill = np.round(np.array([rgb[2] * a, rgb[1] * a, rgb[0] * a, 255 * a]))
            fill = fill.astype(np.uint8).view(np.uint32)[0]
            line = np.array([rgb[2], rgb[1], rgb[0], 255], np.uint8).view(np.uint32)[0]
            hx0, hy0, hx1, hy1 = hit
            sub = self._pixels[hy0:hy1, hx0:hx1]
            np.copyto(sub, fill, where=inst.mask[hy0 - iy:hy1 - iy, hx0 - ix:hx1 - ix])
            if self.outline:
                np.copyto(sub, line, where=self._edge(inst, hit))
        return rect

    def hit_test(self, instances: Sequence[Instance], x: int, y: int) -> Instance | None:
        """Top-most (last drawn) instance whose mask covers pixel (x, y)."""
        for inst in reversed(instances):
            ix, iy = inst.offset
            h, w = inst.mask.shape
            if ix <= x < ix + w and iy <= y < iy + h and inst.mask[y - iy, x - ix]:
                return inst
        return None
