"""Masks as image files: one PNG per instance, or one label image per image.

Layout A, per-instance masks (lossless, overlaps and crowd regions included):

    <root>/images/<name>.<ext>          (or the images directly in <root>)
    <root>/masks/<image stem>/<n>_<class>.png

one 8-bit PNG per instance, the size of its image, nonzero = the instance. <n> is an
integer that orders the instances of an image (written 1-based, zero-padded to three
digits); <class> is the class name, which may hold underscores and any unicode; the
characters a file system refuses (and `%`) are percent-encoded, e.g. `a/b` -> `a%2Fb`.
A crowd region is `<n>_<class>__crowd.png`. Images in subfolders keep them:
images/day/a.png has its masks in masks/day/a/.

Layout B, label images (napari's and Cellpose's habit):

    <root>/images/<name>.<ext>
    <root>/labels/<image stem>.png | .tif | .tiff

8- or 16-bit, one integer per instance, 0 = background. An optional <root>/classes.csv
names the classes: header `image,label,class` (image = the image stem, one row per
label id), or `label,class` for ids that mean the same class in every image. Without a
table every instance is of class `object`. A label image holds one instance per pixel,
so where instances overlap the later one keeps the pixel; crowd regions are left out.

MaskLoop writes both layouts (and classes.csv) into one folder, and reads layout A
where there is a masks/ folder, layout B otherwise.
"""
from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import cv2
import numpy as np
from PIL import Image

from .. import masks as M
from ..annotations import Dataset, Instance
from ..atomic import atomic_write_bytes
from ..images import ImageReadError, list_images, read_size
from .raster import BandedMask, LabelImage, instance_counts, mask_png
from .report import (CategoryTable, FormatError, MasksReport, category_name, copy_images,
                     natural_key, output_names)

MASK_EXTENSIONS = (".png", ".tif", ".tiff")
CROWD = "__crowd"
DEFAULT_CLASS = "object"
_MASK_NAME = re.compile(r"^(\d+)_(.*)$", re.S)
_UNSAFE = set('%/\\:*?"<>|') | {chr(c) for c in range(32)} | {"\x7f"}


# ---------------------------------------------------------------------- names

def safe_class(name: str) -> str:
    """A class name as a file name part, reversibly (unquote gives it back)."""
    out = "".join(f"%{ord(ch):02X}" if ch in _UNSAFE else ch for ch in name)
    if out.endswith(CROWD):  # a class called 'x__crowd' must not read as crowd of 'x'
        out = out[:-len(CROWD)] + "%5F" + CROWD[1:]
    return out


def parse_mask_name(stem: str) -> tuple[int, str, bool] | None:
    """(n, class, crowd) of `<n>_<class>[__crowd]`, or None for another name."""
    m = _MASK_NAME.match(stem)
    if not m:
        return None
    rest = m.group(2)
    crowd = rest.endswith(CROWD)
    name = unquote(rest[:-len(CROWD)] if crowd else rest)
    return int(m.group(1)), name or DEFAULT_CLASS, crowd


# ----------------------------------------------------------------------- files

def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
            and p.suffix.lower() in MASK_EXTENSIONS]


def _any_file(folder: Path, suffixes: tuple[str, ...]) -> bool:
    for _root, _dirs, files in os.walk(folder):
        if any(f.lower().endswith(suffixes) for f in files if not f.startswith(".")):
            return True
    return False


def is_mask_folder(path: Path) -> str | None:
    """'masks' (layout A), 'labels' (layout B) or None. A YOLO folder, whose labels/
    holds .txt files, is neither."""
    path = Path(path)
    if (path / "masks").is_dir() and _any_file(path / "masks", MASK_EXTENSIONS):
        return "masks"
    labels = path / "labels"
    if labels.is_dir() and not _any_file(labels, (".txt",)) and any(_files(labels)):
        return "labels"
    return None


def read_array(path: Path) -> np.ndarray:
    """Pixels as stored: 16-bit stays 16-bit, a palette image gives its indices."""
    try:
        with Image.open(path) as im:
            if im.mode == "P":
                return np.asarray(im)
    except (OSError, ValueError):
        pass  # let OpenCV try (and name the problem)
    try:
        img = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    except (OSError, cv2.error) as e:
        raise ImageReadError(path, f"not readable ({e})") from None
    if img is None:
        raise ImageReadError(path, "not a readable image")
    return img


def _images(root: Path) -> list[tuple[str, str]]:
    """(key, file_name) of every image: key = path below images/ (or root) without
    suffix, file_name = path below root."""
    base = root / "images" if (root / "images").is_dir() else root
    skip = (root / "masks", root / "labels")
    out = []
    for p in list_images(base):
        if base == root and any(s in p.parents for s in skip):
            continue
        key = p.relative_to(base).with_suffix("").as_posix()
        out.append((key, p.relative_to(root).as_posix()))
    return sorted(out, key=lambda e: natural_key(e[1]))


def _class_table(root: Path, warnings: list[str]) -> dict[tuple[str | None, int], str]:
    path = root / "classes.csv"
    if not path.is_file():
        return {}
    table = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not {"label", "class"} <= set(reader.fieldnames or ()):
            warnings.append(f"{path}: needs a header 'image,label,class' or 'label,class'; "
                            "not read")
            return {}
        for row in reader:
            try:
                label = int(row["label"])
            except (TypeError, ValueError):
                warnings.append(f"{path}, line {reader.line_num}: label {row['label']!r} is "
                                "not a whole number; skipped")
                continue
            table[(row.get("image") or None, label)] = row["class"] or DEFAULT_CLASS
    return table


# ------------------------------------------------------------------------ read

def _size_matches(arr: np.ndarray, mask: Path, image: Path, size: tuple[int, int],
                  warnings: list[str]) -> bool:
    if arr.shape[:2] == (size[1], size[0]):
        return True
    warnings.append(f"{mask} is {arr.shape[1]}x{arr.shape[0]} but {image} is "
                    f"{size[0]}x{size[1]}; skipped")
    return False


def _read_masks_of(ds: Dataset, rec, folder: Path, image: Path, cats: CategoryTable) -> None:
    entries, odd = [], 0
    for p in _files(folder):
        parsed = parse_mask_name(p.stem)
        if parsed is None:
            odd += 1
            parsed = (0, DEFAULT_CLASS, False)
        entries.append((parsed, p))
    if odd:
        ds.warnings.append(f"{folder}: {odd} file name(s) not <n>_<class>.png; read as "
                           f"class {DEFAULT_CLASS!r}")
    for (_n, name, crowd), p in sorted(entries, key=lambda e: (e[0][0], natural_key(e[1].name))):
        try:
            arr = read_array(p)
        except ImageReadError as e:
            ds.warnings.append(f"{e}; skipped")
            continue
        if not _size_matches(arr, p, image, (rec.width, rec.height), ds.warnings):
            continue
        crop, offset = M.tight_crop(arr.any(axis=2) if arr.ndim == 3 else arr != 0)
        if crop.size == 0:
            ds.warnings.append(f"{p}: empty mask; skipped")
            continue
        ds.add_instance(rec, Instance(cats.id(name), crop, offset, iscrowd=crowd))


def _regions(labels: np.ndarray):
    """(id, crop, offset) per nonzero id, from one sort of the pixels: thousands of
    cells cost one pass, not one full-image comparison each."""
    flat = labels.ravel()
    idx = np.flatnonzero(flat)
    if idx.size == 0:
        return
    order = np.argsort(flat[idx], kind="stable")
    idx = idx[order]
    vals = flat[idx]
    cuts = np.flatnonzero(np.diff(vals)) + 1
    w = labels.shape[1]
    for group in np.split(idx, cuts):
        ys, xs = np.divmod(group, w)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        value = flat[group[0]]
        yield int(value), labels[y0:y1, x0:x1] == value, (int(x0), int(y0))


def _read_label_image(ds: Dataset, rec, path: Path, image: Path, key: str,
                      table: dict, cats: CategoryTable) -> None:
    try:
        arr = read_array(path)
    except ImageReadError as e:
        ds.warnings.append(f"{e}; skipped")
        return
    if arr.ndim == 3:
        if not (arr == arr[..., :1]).all():
            ds.warnings.append(f"{path}: a colour image, not a label image of ids; skipped")
            return
        arr = arr[..., 0]
    if not np.issubdtype(arr.dtype, np.integer):
        if not (np.isfinite(arr).all() and (arr == np.round(arr)).all() and arr.min() >= 0):
            ds.warnings.append(f"{path}: label ids must be whole numbers; skipped")
            return
        arr = arr.astype(np.int64)
    if not _size_matches(arr, path, image, (rec.width, rec.height), ds.warnings):
        return
    for label, crop, offset in _regions(arr):
        name = table.get((key, label)) or table.get((None, label)) or DEFAULT_CLASS
        ds.add_instance(rec, Instance(cats.id(name), crop, offset))


def read_masks(path: Path | str) -> Dataset:
    """Layout A or B (module docstring); images in natural order. A mask whose size
    differs from its image is skipped with a warning naming both files."""
    root = Path(path)
    if not root.exists():
        raise FormatError(root, "no such file or folder")
    layout = is_mask_folder(root) or "masks"
    ds = Dataset(image_root=root)
    ds.source_format = layout
    cats = CategoryTable(ds)
    table = _class_table(root, ds.warnings) if layout == "labels" else {}
    for key, file_name in _images(root):
        rec = ds.add_image(file_name)
        image = root / file_name
        try:
            rec.width, rec.height = read_size(image)
        except ImageReadError as e:
            ds.warnings.append(f"{e}; its masks are not read")
            continue
        if layout == "masks":
            _read_masks_of(ds, rec, root / "masks" / key, image, cats)
            continue
        found = [root / "labels" / f"{key}{s}" for s in MASK_EXTENSIONS]
        found = [p for p in found if p.is_file()]
        if found:
            _read_label_image(ds, rec, found[0], image, key, table, cats)
    return ds


# ----------------------------------------------------------------------- write

def write_masks(ds: Dataset, out_dir: Path | str) -> MasksReport:
    """Both layouts into out_dir: masks/<stem>/<nnn>_<class>.png per instance,
    labels/<stem>.png (16-bit, id = n, later instances win, no crowd), classes.csv,
    and the images (hard links or copies) in images/."""
    out_dir = Path(out_dir)
    report = MasksReport()
    names = output_names(ds)
    rows = []
    for rec in ds.images:
        ds.ensure_size(rec)
        h, w = rec.height, rec.width
        key = names[rec.id].with_suffix("")
        folder = out_dir / "masks" / key
        labels = LabelImage(h, w)  # painted a band of rows at a time (raster.py)
        written = set()
        for n, inst in enumerate(rec.instances, 1):
            mask = BandedMask(instance_counts(inst, h, w), h, w)
            if mask.pixels == 0:  # a box-only instance: nothing to draw
                report.warnings.append(f"{rec.file_name}: instance {inst.id} has no mask; "
                                       "left out")
                continue
            name = category_name(ds, inst.category_id)
            file = f"{n:03d}_{safe_class(name)}{CROWD if inst.iscrowd else ''}.png"
            atomic_write_bytes(folder / file, mask_png(mask))
            written.add(file)
            report.instances += 1
            if inst.iscrowd:
                report.crowd += 1
            elif n > np.iinfo(np.uint16).max:
                report.warnings.append(f"{rec.file_name}: instance {n} is past the 16-bit "
                                       "label image; only in masks/")
            else:
                labels.add(n, mask)
                rows.append((str(key), n, name))
        for stale in _files(folder):  # an earlier export's extra instances
            if stale.name not in written and parse_mask_name(stale.stem):
                stale.unlink()
        atomic_write_bytes(out_dir / "labels" / PurePosixPath(f"{key}.png"), labels.png())
        report.overlaps += labels.overlaps
        report.images += 1
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["image", "label", "class"])
    writer.writerows(rows)
    atomic_write_bytes(out_dir / "classes.csv", text.getvalue().encode("utf-8"))
    copy_images(ds, out_dir, names, report.warnings)
    return report
