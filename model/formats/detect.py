"""What a path holds, told from the files themselves: a COCO file, labelme JSON (one or
a folder of them), a YOLO-seg folder, per-instance mask PNGs or label images, or plain
images. Every opener (GUI, predict, train, export) goes through `open_any`, so a format
is recognised everywhere or nowhere, and the message names it."""
from __future__ import annotations

import itertools
import os
from pathlib import Path

from ..annotations import Dataset
from ..coco import dataset_from_json
from ..coco_validate import CocoFormatError, read_json
from ..images import ImageReadError, is_image_file

DEFAULT_ANNOTATIONS = "annotations.json"
NAMES = {"coco": "COCO", "labelme": "labelme", "yolo-seg": "YOLO-seg",
         "masks": "per-instance mask PNGs", "labels": "label images", "images": "images",
         "image": "an image"}
_PEEK = 8  # JSON files looked at to call a folder labelme


def _labelme_data(data) -> bool:
    from .labelme import is_labelme
    return isinstance(data, dict) and "images" not in data and is_labelme(data)


def _labelme_folder(folder: Path) -> bool:
    """Do the folder's JSON files (the first few, walking down) look like labelme's?"""
    found = (Path(root) / n for root, dirs, files in os.walk(folder)
             for n in sorted(files) if n.lower().endswith(".json") and n != DEFAULT_ANNOTATIONS
             and not n.startswith("."))
    for p in itertools.islice(found, _PEEK):
        try:
            if p.stat().st_size < 64 << 20 and _labelme_data(read_json(p)):
                return True
        except CocoFormatError:
            continue
    return False


def detect(path: Path, use_saved_annotations: bool = True) -> str:
    """One of NAMES' keys. A folder holding the annotations.json an earlier save wrote
    is that COCO file (unless use_saved_annotations is False)."""
    path = Path(path)
    if path.is_dir():
        from .mask_pngs import is_mask_folder
        from .yolo import is_yolo
        if use_saved_annotations and (path / DEFAULT_ANNOTATIONS).is_file():
            return "coco"
        if is_yolo(path):
            return "yolo-seg"
        masks = is_mask_folder(path)
        if masks:
            return masks
        if _labelme_folder(path):
            return "labelme"
        return "images"
    if path.suffix.lower() == ".json":
        return "json"  # COCO or labelme: told apart from the parsed data in open_any
    if is_image_file(path):
        return "image"
    raise ImageReadError(path, "not an image, a folder, a COCO or labelme .json file")


def _json(path: Path, image_root: Path | None, follow_symlinks: bool = False) -> Dataset:
    data = read_json(path)
    if _labelme_data(data):
        from .labelme import read_labelme
        ds = read_labelme(path, image_root, follow_symlinks)
        ds.source_format = "labelme"
        return ds
    if isinstance(data, dict) and "images" not in data and "annotations" not in data:
        raise CocoFormatError(path, [
            "neither a COCO file (no 'images', 'annotations' and 'categories') nor a labelme "
            "file (no 'shapes' and 'imagePath'); MaskLoop also opens folders of labelme JSON, "
            "YOLO-seg (images/ + labels/), mask PNGs and label images"])
    return dataset_from_json(data, path=path, image_root=image_root)


def open_any(path: Path | str, image_root: Path | str | None = None,
             use_saved_annotations: bool = True, follow_symlinks: bool = False) -> Dataset:
    """The Dataset a path holds, whatever the format; `ds.source_format` names it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    root = Path(image_root) if image_root is not None else None
    fmt = detect(path, use_saved_annotations)
    if fmt == "json":
        ds = _json(path, root, follow_symlinks)
    elif fmt == "coco":
        ds = dataset_from_json(read_json(path / DEFAULT_ANNOTATIONS),
                               path=path / DEFAULT_ANNOTATIONS, image_root=root)
    elif fmt == "image":
        ds = Dataset.from_image_paths([path], path.parent)
    elif fmt == "images":
        ds = Dataset.from_folder(path, follow_symlinks=follow_symlinks)
    elif fmt == "labelme":
        from .labelme import read_labelme
        ds = read_labelme(path, root, follow_symlinks)
    elif fmt == "yolo-seg":
        from .yolo import read_yolo
        ds = read_yolo(path)
    else:
        from .mask_pngs import read_masks
        ds = read_masks(path, follow_symlinks)
    if fmt != "json":
        ds.source_format = "coco" if fmt == "coco" else fmt
    ds.follow_symlinks = follow_symlinks
    return ds
