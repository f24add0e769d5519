"""What a path holds, told from the files themselves: a COCO file, labelme JSON (one or
a folder of them), a YOLO-seg folder, per-instance mask PNGs or label images, or plain
images. Every opener (GUI, predict, train, export) goes through `open_any`, so a format
is recognised everywhere or nowhere, and the message names it."""
from __future__ import annotations

import itertools
import os
from pathlib import Path

from model.data.annotations import Dataset
from model.data.coco import dataset_from_json
from model.data.coco_validate import read_json
from model.errors import CocoFormatError, ImageReadError
from model.data.images import is_image_file
from model.formats.confine import Confined
from model.formats.layouts import (coco_files, coco_image_root, image_root_candidates,
                                   refuse_unsupported, several_coco_files)

DEFAULT_ANNOTATIONS = "annotations.json"
NAMES = {"coco": "COCO", "labelme": "labelme", "yolo-seg": "YOLO-seg",
         "masks": "per-instance mask PNGs", "labels": "label images", "images": "images",
         "image": "an image"}
FORMATS_IN = ("coco", "labelme", "yolo-seg", "masks", "labels", "images")  # --format-in
_PEEK = 8  # JSON files looked at to call a folder labelme


def _labelme_data(data) -> bool:
    from model.formats.labelme import is_labelme
    return isinstance(data, dict) and "images" not in data and is_labelme(data)


def _labelme_folder(folder: Path, box: Confined | None = None) -> bool:
    """Do the folder's JSON files (the first few, walking down) look like labelme's? A
    file `box` refuses is not read (the reader, or open_any, says so)."""
    found = (Path(root) / n for root, dirs, files in os.walk(folder)
             for n in sorted(files) if n.lower().endswith(".json") and n != DEFAULT_ANNOTATIONS
             and not n.startswith("."))
    for p in itertools.islice(found, _PEEK):
        if box is not None and not box.inside(p):
            box.refused.append(p)
            continue
        try:
            if p.stat().st_size < 64 << 20 and _labelme_data(read_json(p)):
                return True
        except CocoFormatError:
            continue
    return False


def _annotated(path: Path, fmt: str) -> int:
    """How many images a folder's annotations of this format cover (one label file, mask
    folder, label image or JSON file each): the weight of each format in a mixed folder."""
    from model.formats.mask_pngs import MASK_EXTENSIONS
    from model.formats.yolo import label_files
    if fmt == "yolo-seg":
        return len(label_files(path))
    if fmt == "masks":
        return sum(1 for root, _d, files in os.walk(path / "masks")
                   if any(f.lower().endswith(MASK_EXTENSIONS) for f in files))
    if fmt == "labels":
        return sum(1 for p in (path / "labels").iterdir()
                   if p.is_file() and p.suffix.lower() in MASK_EXTENSIONS)
    return sum(1 for root, _d, files in os.walk(path) for f in files
               if f.lower().endswith(".json") and f != DEFAULT_ANNOTATIONS)


def folder_formats(path: Path, box: Confined | None = None) -> list[str]:
    """Every annotation format a folder holds, in the order a tie is broken: mask files
    first (a stray .txt in labels/ is likelier than a stray PNG). MaskLoop's own mask
    export holds masks/ and label images together: that is per-instance masks alone."""
    from model.formats.mask_pngs import has_label_images, has_mask_pngs
    from model.formats.yolo import is_yolo
    found = []
    if has_mask_pngs(path):
        found.append("masks")
    elif has_label_images(path):
        found.append("labels")
    if is_yolo(path):
        found.append("yolo-seg")
    if _labelme_folder(path, box):
        found.append("labelme")
    return found


def choose(path: Path, found: list[str]) -> tuple[str, str | None]:
    """(format, note): the one format found, or, in a folder holding several, the one
    covering the most images, with a note naming them all and --format-in."""
    if not found:
        return "images", None
    if len(found) == 1:
        return found[0], None
    counts = {f: _annotated(path, f) for f in found}
    best = max(found, key=lambda f: counts[f])  # a tie: the first found
    held = ", ".join(f"{NAMES[f]} ({counts[f]} image(s))" for f in found)
    others = " or ".join(f"--format-in {f}" for f in found if f != best)
    return best, (f"{path} holds several annotation formats: {held}; read as {NAMES[best]}, "
                  f"which covers the most images; {others} reads it as that format")


def coco_in_folder(path: Path, use_saved_annotations: bool, box: Confined) -> Path | None:
    """The COCO file a folder holds: the annotations.json an earlier save wrote (unless
    use_saved_annotations is False), else the one annotations/instances_*.json of
    CVAT's, Datumaro's or MMDetection's layout (FormatError when there are several)."""
    saved = path / DEFAULT_ANNOTATIONS
    if use_saved_annotations and saved.is_file() and box.allows(saved):
        return saved
    found = coco_files(path, box)
    if len(found) > 1:
        raise several_coco_files(path, found)
    return found[0] if found else None


def detect_with_note(path: Path, use_saved_annotations: bool = True,
                     box: Confined | None = None) -> tuple[str, str | None]:
    """detect(), and the note saying which formats a mixed folder holds (else None).
    `box` confines what is looked into (and collects what it refused)."""
    path = Path(path)
    if path.is_dir():
        box = box if box is not None else Confined(path)
        if coco_in_folder(path, use_saved_annotations, box) is not None:
            return "coco", None
        return choose(path, folder_formats(path, box))
    if path.suffix.lower() == ".json":
        return "json", None  # COCO or labelme: told apart from the parsed data in open_any
    if is_image_file(path):
        return "image", None
    raise ImageReadError(path, "not an image, a folder, a COCO or labelme .json file")


def detect(path: Path, use_saved_annotations: bool = True) -> str:
    """One of NAMES' keys (or "json"). A folder holding the annotations.json an earlier
    save wrote is that COCO file (unless use_saved_annotations is False)."""
    return detect_with_note(path, use_saved_annotations)[0]


def _json(path: Path, image_root: Path | None, rectangles_as_boxes: bool = False,
          follow_symlinks: bool = False) -> Dataset:
    """A .json file: labelme or COCO, told from its content."""
    data = read_json(path)
    if _labelme_data(data):
        from model.formats.labelme import read_labelme
        ds = read_labelme(path, image_root, follow_symlinks, rectangles_as_boxes)
        ds.source_format = "labelme"
        return ds
    if isinstance(data, dict) and "images" not in data and "annotations" not in data:
        raise CocoFormatError(path, [
            "neither a COCO file (no 'images', 'annotations' and 'categories') nor a labelme "
            "file (no 'shapes' and 'imagePath'); MaskLoop also opens folders of labelme JSON, "
            "YOLO-seg (images/ + labels/), mask PNGs and label images"])
    if image_root is None:  # annotations/instances_<subset>.json: its images' folder
        image_root = coco_image_root(path, data) if image_root_candidates(path) else None
    return dataset_from_json(data, path=path, image_root=image_root,
                             follow_symlinks=follow_symlinks)


def _forced(path: Path, fmt: str) -> str:
    """--format-in: the format the user named, for what the path is."""
    if fmt not in FORMATS_IN:
        raise ValueError(f"--format-in must be one of {', '.join(FORMATS_IN)}, got {fmt!r}")
    if not path.is_dir():
        if fmt in ("coco", "labelme") and path.suffix.lower() == ".json":
            return "json"
        if fmt == "images" and is_image_file(path):
            return "image"
        raise ValueError(f"{path}: --format-in {fmt} needs a folder")
    return fmt


def open_any(path: Path | str, image_root: Path | str | None = None,
             use_saved_annotations: bool = True, follow_symlinks: bool = False,
             format_in: str | None = None, rectangles_as_boxes: bool = False) -> Dataset:
    """The Dataset a path holds, whatever the format; `ds.source_format` names it.
    format_in names the format instead of telling it from the files (a folder that
    holds several); rectangles_as_boxes makes labelme rectangles boxes without masks
    (predict --from-boxes fills them)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    root = Path(image_root) if image_root is not None else None
    # what detection looks into inside a folder is confined as the readers' files are
    box = Confined(path, follow_symlinks) if path.is_dir() else None
    if format_in is not None:
        fmt, note = _forced(path, format_in), None
    else:
        fmt, note = detect_with_note(path, use_saved_annotations, box)
    if fmt == "json":
        ds = _json(path, root, rectangles_as_boxes, follow_symlinks)
    elif fmt == "coco":
        ds = _folder_coco(path, root, use_saved_annotations, follow_symlinks, box)
    elif fmt == "image":
        ds = Dataset.from_image_paths([path], path.parent)
    elif fmt == "images":
        if format_in is None:
            refuse_unsupported(path, box)  # an annotated dataset is not bare images
            for p in box.refused:  # labelme JSON behind links: not read, and said
                box.allows(p)
        ds = Dataset.from_folder(path, follow_symlinks=follow_symlinks)
    elif fmt == "labelme":
        from model.formats.labelme import read_labelme
        ds = read_labelme(path, root, follow_symlinks, rectangles_as_boxes)
    elif fmt == "yolo-seg":
        from model.formats.yolo import read_yolo
        ds = read_yolo(path, follow_symlinks)
    else:
        from model.formats.mask_pngs import read_masks
        ds = read_masks(path, fmt, follow_symlinks)
    if fmt != "json":
        ds.source_format = "coco" if fmt == "coco" else fmt
    if box is not None and box.warnings:
        ds.warnings[:0] = box.warnings  # detection's, before the reader's
    if note:
        ds.warnings.insert(0, note)
    ds.follow_symlinks = follow_symlinks
    return ds


def _folder_coco(path: Path, root: Path | None, use_saved_annotations: bool,
                 follow_symlinks: bool, box: Confined) -> Dataset:
    """The COCO file a folder holds (coco_in_folder), its images where its file names
    resolve (a layout's images/<subset>/) unless --images names the folder."""
    found = coco_in_folder(path, use_saved_annotations, box)
    if found is None:
        raise FileNotFoundError(f"{path / DEFAULT_ANNOTATIONS}: no such file (--format-in "
                                "coco reads a folder's annotations.json, or the "
                                "annotations/instances_*.json of CVAT's and Datumaro's COCO)")
    data = read_json(found)
    if root is None and found.name != DEFAULT_ANNOTATIONS:
        candidates = [c for c in image_root_candidates(found) if c.is_dir()]
        root = coco_image_root(found, data) or (candidates[0] if candidates else path)
    return dataset_from_json(data, path=found, image_root=root,
                             follow_symlinks=follow_symlinks)
