"""The peer tools, for bench/formats_fidelity.py: how each one reads a polygon (its
rasteriser) and writes a mask (its own writer, for its own round trip, the baseline).

The real tool is used where it is installed (imported by name: the project does not
depend on it; make a separate venv, see bench/RESULTS.md); otherwise its reading rule as
it documents it (as tests/model/formats/peer_rules.py has them), and no own round trip.
  - Ultralytics: labels parsed as float32, times the image size, polygon2mask
    (int32, cv2.fillPoly); it writes a mask as masks2segments (OpenCV's outer contours,
    parts merged) over the image size, "%g" (Results.save_txt).
  - supervision: from_yolo (float32, times the size, np.round, cv2.fillPoly); it writes
    one line per connected part, holes seamed in, contours approximated
    (detections_to_yolo_annotations).
  - labelme: shape_to_mask (PIL's polygon with its outline); it writes a mask as one
    polygon, the longest of skimage's contours, approximated (compute_polygon_from_mask).
"""
from __future__ import annotations

import importlib
import math

import cv2
import numpy as np
from PIL import Image, ImageDraw


def _module(name: str):
    try:
        return importlib.import_module(name)
    except Exception:  # not installed, or its own dependencies are missing
        return None


def _line_coords(line: str) -> np.ndarray:
    return np.array(line.split()[1:], dtype=np.float32).reshape(-1, 2)


class Peer:
    """use_real=False: the documented rule even where the tool is installed (to check
    that the rule the tests use is the tool's)."""
    name = ""
    real = False
    differs = ""  # why MaskLoop may read this tool's own files otherwise than it does

    def read(self, lines_or_shapes, h: int, w: int) -> np.ndarray:
        raise NotImplementedError

    def write(self, mask: np.ndarray):
        """The mask as this tool writes it (None: not installed, no own round trip)."""
        return None


class Ultralytics(Peer):
    name = "Ultralytics (polygon2mask)"
    differs = ("it truncates the coordinates times the size, which \"%g\" leaves just under "
               "the pixel it meant now and then; MaskLoop rounds, as supervision does")

    def __init__(self, use_real: bool = True):
        self.utils = _module("ultralytics.data.utils") if use_real else None
        self.ops = _module("ultralytics.utils.ops") if use_real else None
        self.real = self.utils is not None and self.ops is not None

    def read(self, lines: list[str], h: int, w: int) -> np.ndarray:
        out = np.zeros((h, w), bool)
        for line in lines:
            pts = _line_coords(line) * np.array([w, h], np.float32)
            if self.real:
                out |= self.utils.polygon2mask((h, w), [pts.reshape(-1)]).astype(bool)
            else:
                m = np.zeros((h, w), np.uint8)
                cv2.fillPoly(m, [pts.astype(np.int32)], 1)
                out |= m.astype(bool)
        return out

    def write(self, mask: np.ndarray):
        if not self.real:
            return None
        h, w = mask.shape
        seg = self.ops.masks2segments(mask[None].astype(np.uint8))[0]
        if len(seg) < 3:
            return []  # Results.save_txt writes no line for it
        seg = (seg / np.array([w, h], np.float32)).reshape(-1).tolist()
        line = (0, *seg)
        return [("%g " * len(line)).rstrip() % line]


class Supervision(Peer):
    name = "supervision (from_yolo)"

    def __init__(self, use_real: bool = True):
        self.sv = _module("supervision") if use_real else None
        self.yolo = _module("supervision.dataset.formats.yolo") if use_real else None
        self.real = self.sv is not None and self.yolo is not None

    def read(self, lines: list[str], h: int, w: int) -> np.ndarray:
        if not lines:
            return np.zeros((h, w), bool)
        if self.real:
            det = self.yolo.yolo_annotations_to_detections(lines, (w, h), with_masks=True)
            return det.mask.any(axis=0)
        out = np.zeros((h, w), bool)
        for line in lines:
            m = np.zeros((h, w), np.uint8)
            pts = _line_coords(line) * np.array([w, h], np.float32)
            cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
            out |= m.astype(bool)
        return out

    def write(self, mask: np.ndarray):
        if not self.real:
            return None
        ys, xs = np.nonzero(mask)
        det = self.sv.Detections(xyxy=np.array([[xs.min(), ys.min(), xs.max() + 1,
                                                 ys.max() + 1]], np.float32),
                                 mask=mask[None], class_id=np.array([0]))
        return self.yolo.detections_to_yolo_annotations(det, mask.shape + (3,))


class Labelme(Peer):
    name = "labelme (shape_to_mask)"

    def __init__(self, use_real: bool = True):
        self.utils = _module("labelme.utils") if use_real else None
        self.geometry = _module("labelme._automation._geometry") if use_real else None
        self.real = self.utils is not None

    def read(self, shapes: list[dict], h: int, w: int) -> np.ndarray:
        out = np.zeros((h, w), bool)
        for s in shapes:
            if self.real:
                out |= self.utils.shape_to_mask((h, w), s["points"], s.get("shape_type"))
            else:
                image = Image.new("L", (w, h))
                ImageDraw.Draw(image).polygon([tuple(p) for p in s["points"]], outline=1,
                                              fill=1)
                out |= np.asarray(image).astype(bool)
        return out

    def write(self, mask: np.ndarray):
        if self.geometry is None:
            return None
        poly = self.geometry.compute_polygon_from_mask(mask)
        if len(poly) < 3:
            return []
        return [{"points": poly.tolist(), "shape_type": "polygon"}]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


def describe(ious: list[float]) -> str:
    return f"mean IoU {np.mean(ious):.4f}, min {min(ious):.3f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.3f}x" if b and not math.isnan(b) else "-"
