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
    make the same pixel (model/formats/yolo.py).
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
BAND = 1 << 22  # pixels drawn at a time when a fill is only counted (fill_iou)
_EMPTY = (np.zeros((0, 0), bool), (0, 0))


def is_vertex_segmentation(segmentation) -> bool:
    """A YOLO-read polygon kept as it was written (see the module's docstring)."""
    return isinstance(segmentation, dict) and VERTICES in segmentation


def vertex_segmentation(polygons: list[list[float]], height: int, width: int) -> dict:
    return {"size": [height, width], VERTICES: polygons}


def _tight(canvas: np.ndarray, x0: int, y0: int) -> tuple[np.ndarray, Offset]:
    """The drawn part of a 0/1 uint8 canvas as a bool crop (a view: no second copy)."""
    rows = np.flatnonzero(canvas.any(axis=1))
    if rows.size == 0:
        return _EMPTY
    cols = np.flatnonzero(canvas.any(axis=0))
    crop = canvas[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].view(bool)
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


def _draw(rule: str, shape: tuple[int, int], pts: list[np.ndarray], dx: int, dy: int
          ) -> np.ndarray:
    """Whole-pixel polygons drawn by `rule` ("yolo": cv2.fillPoly, "labelme": PIL's polygon
    with its outline) into a canvas of `shape` whose top-left pixel is (dx, dy). PIL draws
    whole-pixel polygons the same after any shift, cut by the canvas or not, so a band of
    rows is what the full image holds there; cv2.fillPoly draws a polygon cut by the
    canvas differently (tests check both)."""
    if rule == "yolo":
        canvas = np.zeros(shape, np.uint8)
        for p in pts:
            cv2.fillPoly(canvas, [(p - (dx, dy)).astype(np.int32).reshape(-1, 1, 2)], 1)
        return canvas.view(bool)
    image = Image.new("L", (shape[1], shape[0]))
    draw = ImageDraw.Draw(image)
    for p in pts:
        draw.polygon([(int(x) - dx, int(y) - dy) for x, y in p.tolist()], outline=1, fill=1)
    return np.asarray(image).view(bool)


def fill_iou(rule: str, polygons, mask: np.ndarray, offset: Offset, height: int,
             width: int) -> float:
    """IoU of the rule's fill of whole-pixel polygons (their union; what MaskLoop writes)
    against a cropped mask, inside the image, counted a band of rows at a time: for
    labelme's rule memory follows the band; the YOLO rule is drawn whole (one byte a
    pixel of the polygons' and the mask's box, as when the file is read)."""
    pts = [yolo_pixels(p) for p in polygons]
    pts = [p for p in pts if len(p)]
    mask = np.asarray(mask, bool)
    mx, my = offset
    mh, mw = mask.shape
    xs = [int(p[:, 0].min()) for p in pts] + [mx] * bool(mask.size)
    ys = [int(p[:, 1].min()) for p in pts] + [my] * bool(mask.size)
    xe = [int(p[:, 0].max()) + 1 for p in pts] + [mx + mw] * bool(mask.size)
    ye = [int(p[:, 1].max()) + 1 for p in pts] + [my + mh] * bool(mask.size)
    if not xs:
        return 1.0
    x0, y0 = max(min(xs), 0), max(min(ys), 0)
    x1, y1 = min(max(xe), width), min(max(ye), height)
    if x1 <= x0 or y1 <= y0:
        return 1.0
    rows = max(1, BAND // (x1 - x0))
    whole = _draw(rule, (y1 - y0, x1 - x0), pts, x0, y0) if rule == "yolo" else None
    inter = union = 0
    for r in range(y0, y1, rows):
        n = min(rows, y1 - r)
        got = whole[r - y0:r - y0 + n] if whole is not None else _draw(
            rule, (n, x1 - x0), pts, x0, r)
        want = np.zeros((n, x1 - x0), bool)
        a, b = max(r, my), min(r + n, my + mh)
        c, d = max(x0, mx), min(x1, mx + mw)
        if a < b and c < d:
            want[a - r:b - r, c - x0:d - x0] = mask[a - my:b - my, c - mx:d - mx]
        inter += int(np.count_nonzero(got & want))
        union += int(np.count_nonzero(got | want))
    return inter / union if union else 1.0


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
