"""How the tools that fill polygon vertices turn a polygon into pixels: the reading rules
of YOLO-seg and labelme, which MaskLoop reads and writes by.

pycocotools (COCO) takes pixel (x, y) as the square [x, x+1) x [y, y+1) and fills the
pixels whose centres a polygon covers. The YOLO-seg and labelme tools instead take a
vertex as a pixel and fill the polygon with its outline drawn in:
  - YOLO-seg (Ultralytics' polygon2mask, supervision's from_yolo and polygon_to_mask):
    the normalised coordinates times the image size, made integers, then
    cv2.fillPoly (a Bresenham outline, even-odd inside). supervision rounds to the
    nearest pixel, Ultralytics truncates; MaskLoop reads by rounding (a writer's last
    decimal may land just under the pixel it meant) and writes coordinates that both
    make the same pixel (yolo.py).
  - labelme (labelme.utils.shape_to_mask): PIL's ImageDraw.polygon(points, outline=1,
    fill=1) on the points as given; rectangles ImageDraw.rectangle, circles
    ImageDraw.ellipse, both with outline=1, fill=1.
So a 3 x 3 square is the polygon (0, 0), (2, 0), (2, 2), (0, 2) for these tools, and
(0, 0), (3, 0), (3, 3), (0, 3) for pycocotools; the one read by the other's rule is a
pixel off on two sides.

Each rule fills a canvas the size of what it draws (clipped to the image), never the
image, and returns a tight crop. A segmentation read from a YOLO label file keeps its
polygon as `{"size": [h, w], "vertices": [[x0, y0, ...]]}` (vertices in pixels, filled by
the YOLO rule when first needed): masks.py decodes it like any COCO segmentation, and
COCO files never hold it (coco.py writes it as RLE).
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image, ImageDraw

Offset = tuple[int, int]
VERTICES = "vertices"  # the key of a segmentation filled by the YOLO rule
_EMPTY = (np.zeros((0, 0), bool), (0, 0))


def is_vertex_segmentation(segmentation) -> bool:
    """A YOLO-read polygon kept as it was written (see the module's docstring)."""
    return isinstance(segmentation, dict) and VERTICES in segmentation


def vertex_segmentation(polygons: list[list[float]], height: int, width: int) -> dict:
    return {"size": [height, width], VERTICES: polygons}


def _tight(canvas: np.ndarray, x0: int, y0: int) -> tuple[np.ndarray, Offset]:
    rows = np.flatnonzero(canvas.any(axis=1))
    if rows.size == 0:
        return _EMPTY
    cols = np.flatnonzero(canvas.any(axis=0))
    crop = canvas[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(bool)
    return crop, (x0 + int(cols[0]), y0 + int(rows[0]))


def yolo_pixels(polygon) -> np.ndarray:
    """A polygon's vertices (flat x y ... or n x 2, in pixels) as the YOLO rule's integer
    pixels: rounded to the nearest."""
    return np.rint(np.asarray(polygon, np.float64).reshape(-1, 2)).astype(np.int64)


def fill_yolo(polygons, height: int, width: int) -> tuple[np.ndarray, Offset]:
    """The YOLO rule: each polygon's vertices rounded to pixels and filled by
    cv2.fillPoly, outline included; the union of the polygons as a tight crop."""
    pts = [yolo_pixels(p) for p in polygons]
    pts = [p for p in pts if len(p)]
    if not pts:
        return _EMPTY
    allp = np.concatenate(pts)
    x0, y0 = max(int(allp[:, 0].min()), 0), max(int(allp[:, 1].min()), 0)
    x1, y1 = min(int(allp[:, 0].max()), width - 1), min(int(allp[:, 1].max()), height - 1)
    if x1 < x0 or y1 < y0:
        return _EMPTY  # every vertex right of or below the image: nothing drawn in it
    canvas = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    for p in pts:  # one call per polygon: each is filled on its own (even-odd inside it)
        cv2.fillPoly(canvas, [(p - (x0, y0)).astype(np.int32).reshape(-1, 1, 2)], 1)
    return _tight(canvas, x0, y0)


def _pil_canvas(xs: list[float], ys: list[float], height: int, width: int
                ) -> tuple[int, int, int, int] | None:
    """(x0, y0, canvas width, canvas height): the part of the image PIL can draw the
    shape into. PIL's drawing is the same after a shift by whole pixels that keeps every
    coordinate's sign, so the canvas starts left of and above the shape (or at 0)."""
    x0 = max(math.floor(min(xs)) - 1, 0)
    y0 = max(math.floor(min(ys)) - 1, 0)
    x1 = min(math.ceil(max(xs)) + 2, width)
    y1 = min(math.ceil(max(ys)) + 2, height)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def fill_labelme(kind: str, points: list[float], height: int, width: int
                 ) -> tuple[np.ndarray, Offset]:
    """labelme's rule for one shape (kind polygon, rectangle or circle; points flat
    x y ...): PIL's drawing with outline=1, fill=1, as a tight crop."""
    xs, ys = points[0::2], points[1::2]
    if kind == "circle":
        (cx, cy), (px, py) = (xs[0], ys[0]), (xs[1], ys[1])
        d = math.hypot(cx - px, cy - py)
        xs, ys = [cx - d, cx + d], [cy - d, cy + d]
    box = _pil_canvas(xs, ys, height, width)
    if box is None:
        return _EMPTY
    x0, y0, cw, ch = box
    image = Image.new("L", (cw, ch))
    draw = ImageDraw.Draw(image)
    xy = [(x - x0, y - y0) for x, y in zip(xs, ys)]
    if kind == "circle":
        draw.ellipse(xy, outline=1, fill=1)
    elif kind == "rectangle":
        draw.rectangle([(min(xs) - x0, min(ys) - y0), (max(xs) - x0, max(ys) - y0)],
                       outline=1, fill=1)
    else:
        draw.polygon(xy, outline=1, fill=1)
    return _tight(np.asarray(image), x0, y0)
