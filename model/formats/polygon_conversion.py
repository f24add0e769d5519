"""Masks as plain polygons and back, for the formats that hold nothing else, each in the
convention of the tools that read it (vertex_fill.py says how they differ):
  - polygon-only COCO: pycocotools' pixel edges (model/data/polygons.py), where pixel
    (x, y) covers [x, x+1) x [y, y+1);
  - YOLO-seg and labelme: polygons through pixel centres, whose tools fill the vertices
    with the outline drawn in (model/data/vertex_polygons.py).
Every connected part of a mask becomes one polygon, its holes cut in with zero-width
bridges. Measured on 65 random blobs and discs through pycocotools: mean IoU 1.000
unsimplified (every mask exact), 0.999 (worst 0.996) at the default 0.5 px, 0.95 at 1 px
(small discs suffer).

Readers that take one polygon an object (YOLO-seg; Label Studio, which reads only
`segmentation[0]` of a COCO annotation) get the parts joined into one polygon by
zero-width bridges, the largest first (`instance_polygon`, vertex_polygons.vertex_polygon).
A mask drawn as one polygon often rasterises to several pieces (a thin neck, a one-pixel
speck), so this matters for most COCO files, not only for the objects drawn in parts.

Each writer's report measures what was written by its readers' rule (`polygons_iou`:
pycocotools; `yolo_iou`, `labelme_iou`: the vertex-filling rules), never by another.
Every polygon writer converts an instance through `converted`, which holds its mask only
for the conversion.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, TypeVar

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from model.data import masks as M
from model.data import polygons as P
from model.data.polygons import TooComplex
from model.data.vertex_fill import fill_iou

if TYPE_CHECKING:
    from model.data.annotations import Instance
    from model.formats.writer_reports import PolygonReport

T = TypeVar("T")


def converted(inst: "Instance", file_name: str, report: "PolygonReport",
              convert: Callable[[np.ndarray, M.Offset], T]) -> T | None:
    """convert(mask, offset) of one instance, for a polygon writer. A mask still held as
    the file's segmentation is decoded for this call alone and forgotten after, so an
    export of a large file holds one decoded mask at a time. An instance too complex for
    polygons (TooComplex) is named in the report's warnings and gives None."""
    lazy = inst.is_lazy
    try:
        return convert(inst.mask, inst.offset)
    except TooComplex as e:
        report.too_complex(file_name, inst.id, str(e))
        return None
    finally:
        if lazy:
            inst.forget_mask()


@dataclass
class OnePolygon:
    """An instance as one polygon, and what it took."""
    polygon: list[float]
    holes_bridged: int = 0
    parts_joined: int = 0  # parts besides the largest, bridged in
    fragments_dropped: int = 0  # parts left out: every pixel within tolerance of the rest


def instance_polygon(mask: np.ndarray, offset: M.Offset, tolerance: float = 0.5
                     ) -> OnePolygon | None:
    """The mask as one polygon: its parts (holes bridged in) joined by zero-width bridges,
    the largest part first. A part is dropped only where each of its pixels lies within
    `tolerance` px of the rest of the mask (parts are at least 2 px apart, so below a
    tolerance of 2 nothing is dropped). None for an empty mask; TooComplex for one no
    polygon tool could use."""
    budget = P.Budget()
    ps = sorted(P.parts(mask, tolerance, budget=budget), key=lambda p: -p.area)
    if not ps:
        return None
    dropped = _fragments(np.asarray(mask, bool), ps, tolerance, budget)
    kept = [p for k, p in enumerate(ps) if k not in dropped]
    ring = P.join_rings([p.ring for p in kept], budget)
    return OnePolygon(P.flat(ring, offset), sum(p.holes for p in kept), len(kept) - 1,
                      len(dropped))


def _fragments(mask: np.ndarray, ps: list[P.Part], tolerance: float,
               budget: P.Budget) -> set[int]:
    """Indices of the parts (besides the largest, ps[0]) whose every pixel lies within
    `tolerance` px of the mask's other pixels (those of parts dropped before excluded)."""
    dropped: set[int] = set()
    if len(ps) < 2 or tolerance < 2:
        return dropped
    h, w = mask.shape
    margin = int(np.ceil(tolerance)) + 1
    gone: list[np.ndarray] = []  # (y, x) of the pixels of the parts dropped so far
    for k in range(1, len(ps)):
        chain = ps[k].chain
        (x0, y0), (x1, y1) = chain.min(axis=0), chain.max(axis=0) + 1
        wx, wy = max(int(x0) - margin, 0), max(int(y0) - margin, 0)
        win = mask[wy:min(int(y1) + margin, h), wx:min(int(x1) + margin, w)].copy()
        budget.spend(win.size)
        for yx in gone:
            inside = ((yx[:, 0] >= wy) & (yx[:, 0] < wy + win.shape[0])
                      & (yx[:, 1] >= wx) & (yx[:, 1] < wx + win.shape[1]))
            win[yx[inside, 0] - wy, yx[inside, 1] - wx] = False
        _, labels = cv2.connectedComponents(M.as_uint8(win), connectivity=8)
        part = labels == labels[chain[0, 1] - wy, chain[0, 0] - wx]
        rest = win & ~part
        if not rest.any():
            continue
        dist = cv2.distanceTransform(M.as_uint8(~rest), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        if float(dist[part].max()) <= tolerance:
            dropped.add(k)
            gone.append(np.argwhere(part) + (wy, wx))
    return dropped


def polygons_rle(polygons: list[list[float]], height: int, width: int) -> dict | None:
    """pycocotools' rasterisation of polygons (their union) as a compressed RLE object,
    or None when there is no polygon of three points."""
    if not any(len(p) >= 6 for p in polygons):
        return None
    counts = P.polygons_counts(polygons, height, width)
    return mask_utils.frPyObjects({"size": [height, width], "counts": counts.tolist()},
                                  height, width)


def rle_object(mask: np.ndarray, offset: M.Offset, height: int, width: int) -> dict:
    """A cropped mask as a pycocotools RLE object (counts as bytes), built from the crop."""
    rle = M.encode_rle(mask, offset, height, width)
    return {"size": rle["size"], "counts": rle["counts"].encode("ascii")}


def polygons_iou(polygons: list[list[float]], mask: np.ndarray, offset: M.Offset,
                 height: int, width: int) -> float:
    """IoU of pycocotools' rasterisation of the polygons against the mask: what a COCO
    reader of the written file gets, against what was meant. Called once per instance
    written, so it goes the short way: one polygon straight from pycocotools, the mask's
    RLE straight from its runs, no merge (the union is empty only when both are)."""
    polys = [p for p in polygons if len(p) >= 6]
    truth = mask_utils.frPyObjects({"size": [height, width], "counts": M.rle_counts_from_crop(
        np.asarray(mask, bool), offset, height, width)}, height, width)
    if not polys:
        return 1.0 if int(mask_utils.area(truth)) == 0 else 0.0
    got = (mask_utils.frPyObjects([list(map(float, polys[0]))], height, width)[0]
           if len(polys) == 1 else polygons_rle(polys, height, width))
    if int(mask_utils.area(got)) == 0 and int(mask_utils.area(truth)) == 0:
        return 1.0
    return float(mask_utils.iou([got], [truth], [0])[0][0])


def yolo_iou(polygon: list[float], mask: np.ndarray, offset: M.Offset, height: int,
             width: int) -> float:
    """IoU of the YOLO rule's fill of one polygon (whole pixels) against the mask: what
    Ultralytics and supervision read from the written line."""
    return fill_iou("yolo", [polygon], mask, offset, height, width)


def labelme_iou(polygons: list[list[float]], mask: np.ndarray, offset: M.Offset,
                height: int, width: int) -> float:
    """IoU of labelme's fill of the polygon shapes (whole pixels; their union) against
    the mask."""
    return fill_iou("labelme", polygons, mask, offset, height, width)


def rle_to_crop(rle: dict, height: int, width: int) -> tuple[np.ndarray, M.Offset]:
    """A pycocotools RLE object as a tight crop (never a full-image array)."""
    counts = rle["counts"]
    counts = counts.decode("ascii") if isinstance(counts, bytes) else counts
    return M.decode_segmentation({"size": [height, width], "counts": counts}, height, width)
