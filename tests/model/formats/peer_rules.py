"""How the peer tools turn polygons into pixels, written from what each documents (no
peer code: Ultralytics is AGPL, labelme GPL), so CI checks MaskLoop's YOLO-seg and
labelme files against them without the peers installed. tests/model/formats/test_peer_tools.py
checks the same files with the real peers where they are installed.

- Ultralytics (`ultralytics.data.utils.polygon2mask`, its labels parsed as float32 and
  scaled by the image size): the vertices cast to int32 (truncated), then
  `cv2.fillPoly` on a zero image.
- supervision (`sv.DetectionDataset.from_yolo`: float32 coordinates times the image
  size, `np.round`, then `polygon_to_mask`, i.e. `cv2.fillPoly`).
- labelme (`labelme.utils.shape_to_mask`): PIL's `ImageDraw.polygon(xy, outline=1,
  fill=1)` on the points as given; rectangle `ImageDraw.rectangle`, circle
  `ImageDraw.ellipse`, both with outline=1, fill=1.
- pycocotools (COCO): `frPyObjects` then `decode`, pixel (x, y) the square
  [x, x+1) x [y, y+1).

- Ultralytics' dataset checker (`check_det_dataset`, documented with its data.yaml
  format): `train` and `val` required, `names` (list or index mapping) or `nc`; the
  dataset root is `path:`, taken as it stands (a relative one from the working
  directory, or else from its datasets folder), and without `path:` the folder
  data.yaml is in; train/val/test are relative to the root, and val must exist.

And how each writes a mask as polygons, for the other direction: supervision and
Ultralytics' predictions save OpenCV's contour of the mask (`cv2.findContours`, pixel
centres) divided by the image size; labelme files hold pixel coordinates.
"""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import yaml
from PIL import Image, ImageDraw
from pycocotools import mask as mask_utils


def yolo_line_coords(line: str) -> np.ndarray:
    """The polygon of one label line as the YOLO tools parse it: float32, n x 2."""
    return np.array(line.split()[1:], dtype=np.float32).reshape(-1, 2)


def ultralytics_mask(line: str, h: int, w: int) -> np.ndarray:
    pts = yolo_line_coords(line) * np.array([w, h], np.float32)  # float32 as Ultralytics
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [pts.astype(np.int32)], 1)
    return mask.astype(bool)


def supervision_mask(line: str, h: int, w: int) -> np.ndarray:
    pts = yolo_line_coords(line) * np.array([w, h], np.float32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    return mask.astype(bool)


def yolo_file_masks(text: str, h: int, w: int, rule) -> list[np.ndarray]:
    """One mask a polygon line of a label file, by `rule` (ultralytics_mask or
    supervision_mask)."""
    return [rule(line, h, w) for line in text.splitlines() if len(line.split()) > 5]


def labelme_shape_mask(shape: dict, h: int, w: int) -> np.ndarray:
    image = Image.new("L", (w, h))
    draw = ImageDraw.Draw(image)
    xy = [tuple(p) for p in shape["points"]]
    kind = shape.get("shape_type") or "polygon"
    if kind == "circle":
        (cx, cy), (px, py) = xy
        d = math.hypot(cx - px, cy - py)
        draw.ellipse([(cx - d, cy - d), (cx + d, cy + d)], outline=1, fill=1)
    elif kind == "rectangle":
        (x0, y0), (x1, y1) = xy
        draw.rectangle([(min(x0, x1), min(y0, y1)), (max(x0, x1), max(y0, y1))], outline=1,
                       fill=1)
    else:
        assert len(xy) > 2  # labelme refuses a polygon of fewer points
        draw.polygon(xy, outline=1, fill=1)
    return np.asarray(image).astype(bool)


def labelme_instance_masks(data: dict) -> list[tuple[str, np.ndarray]]:
    """(label, mask) per instance of a labelme file: shapes of one group_id and label
    are one instance (their union), as labelme's shapes_to_label counts them."""
    h, w = data["imageHeight"], data["imageWidth"]
    groups: dict = {}
    for k, shape in enumerate(data["shapes"]):
        gid = shape.get("group_id")
        key = (shape["label"], gid) if gid is not None else (shape["label"], None, k)
        m = labelme_shape_mask(shape, h, w)
        groups[key] = groups[key] | m if key in groups else m
    return [(key[0], m) for key, m in groups.items()]


def coco_mask(polys: list[list[float]], h: int, w: int) -> np.ndarray:
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, h, w))).astype(bool)


def contour_polygons(mask: np.ndarray) -> list[np.ndarray]:
    """A mask as the vertex tools write it: OpenCV's outer contours (pixel centres)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1, 2) for c in contours]


def yolo_line(cls: int, polygon: np.ndarray, h: int, w: int, fmt: str = "{:.5f}") -> str:
    """One label line from pixel vertices, normalised as supervision writes them
    (float32 division, five decimals)."""
    rel = (np.asarray(polygon, np.float32) / np.array([w, h], np.float32)).ravel()
    return " ".join([str(cls)] + [fmt.format(v) for v in rel])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


def ultralytics_dataset(yaml_path: Path, cwd: Path) -> dict:
    """A data.yaml checked as Ultralytics' dataset checker does (see above), run from
    `cwd`: the data with train/val/test made absolute; FileNotFoundError naming the
    missing path, or SyntaxError, as the checker raises them."""
    data = yaml.safe_load(Path(yaml_path).read_text(encoding="utf-8"))
    for key in ("train", "val"):
        if key not in data:
            raise SyntaxError(f"{yaml_path} '{key}:' key missing")
    names = data.get("names")
    if names is None and "nc" not in data:
        raise SyntaxError(f"{yaml_path}: either 'names' or 'nc' is required")
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    if names is not None and data.get("nc") is not None and len(names) != data["nc"]:
        raise SyntaxError(f"{yaml_path}: 'names' length and 'nc' must match")
    data["names"] = names
    root = Path(data.get("path") or Path(yaml_path).parent)
    if not root.is_absolute():
        root = Path(cwd) / root  # or, when that is missing, its datasets folder: missing here
    for key in ("train", "val", "test"):
        if data.get(key):
            data[key] = str((root / data[key]).resolve())
    if not Path(data["val"]).exists():
        raise FileNotFoundError(f"Dataset images not found, missing path '{data['val']}'")
    return data
