"""A copy of a COCO file of photos, made like the data of a user's own run: its classes
merged into one (a 1-class project) and its images resized to a given longer side (1-2 MP
photos from coco_sample's 640 px ones: the decoding and resizing cost of real camera
images). Polygons and boxes are scaled with the image. Shared by bench/train.py and
bench/profile_train.py."""
from __future__ import annotations

import json
from pathlib import Path


def photo_set(src: Path, out: Path, one_class: bool = False, long_side: int | None = None
              ) -> Path:
    """Write the copy under `out`; returns its COCO file. Only polygon segmentations are
    scaled (coco_sample's); an RLE segmentation is refused when resizing."""
    import cv2
    src = Path(src)
    doc = json.loads(src.read_text())
    scale = {}
    for im in doc["images"]:
        img = cv2.imread(str(src.parent / im["file_name"]), cv2.IMREAD_COLOR)
        s = long_side / max(img.shape[:2]) if long_side else 1.0
        if s != 1.0:
            img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)),
                             interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
        dst = out / im["file_name"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(dst.with_suffix(".jpg")), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        im["file_name"] = str(Path(im["file_name"]).with_suffix(".jpg"))
        im["width"], im["height"] = img.shape[1], img.shape[0]
        scale[im["id"]] = s
    for a in doc["annotations"]:
        s = scale[a["image_id"]]
        if s != 1.0:
            if not isinstance(a["segmentation"], list):
                raise ValueError(f"{src}: annotation {a['id']} is not a polygon; cannot resize")
            a["segmentation"] = [[v * s for v in poly] for poly in a["segmentation"]]
            a["bbox"] = [v * s for v in a["bbox"]]
            a["area"] = a["area"] * s * s
        if one_class:
            a["category_id"] = 1
    if one_class:
        doc["categories"] = [{"id": 1, "name": "object", "supercategory": ""}]
    path = out / "instances.json"
    path.write_text(json.dumps(doc))
    return path


def describe(one_class: bool, long_side: int | None) -> str:
    parts = (["1 class"] if one_class else []) + \
        ([f"resized to {long_side} px on the longer side"] if long_side else [])
    return f" ({', '.join(parts)})" if parts else ""
