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
from typing import Iterator
from urllib.parse import unquote

import cv2
import numpy as np
from PIL import Image

from model.data.annotations import Dataset, Instance
from model.data.images import check_pixels, list_images, natural_key, read_size
from model.errors import FormatError, ImageReadError
from model.formats.confine import Confined
from model.formats.folder import FolderExport
from model.formats.names import shorten
from model.formats.raster import BandedMask, LabelImage, instance_counts, mask_png
from model.formats.runs import STRIP_PIXELS, label_regions, mask_fields
from model.formats.class_table import CategoryTable, category_name
from model.formats.export_images import copy_images
from model.formats.names import output_names
from model.formats.writer_reports import HIDDEN_FILE, MasksReport

MASK_EXTENSIONS = (".png", ".tif", ".tiff")
CROWD = "__crowd"
DEFAULT_CLASS = "object"
MAX_CLASS_BYTES = 160  # with `<n>_`, `__crowd` and `.png`, well under a file name's 255
_MASK_NAME = re.compile(r"^(\d+)_(.*)$", re.S)
_UNSAFE = set('%/\\:*?"<>|') | {chr(c) for c in range(32)} | {"\x7f"}


# ---------------------------------------------------------------------- names

def safe_class(name: str) -> str:
    """A class name as a file name part, reversibly (unquote gives it back)."""
    out = "".join(f"%{ord(ch):02X}" if ch in _UNSAFE else ch for ch in name)
    if out.endswith(CROWD):  # a class called 'x__crowd' must not read as crowd of 'x'
        out = out[:-len(CROWD)] + "%5F" + CROWD[1:]
    return out


def mask_class_part(name: str) -> str:
    """The class in a mask's file name: safe_class, and a name too long for a file
    (over MAX_CLASS_BYTES) shortened with a stable hash (classes.csv keeps it whole)."""
    part = safe_class(name)
    short = shorten(part, MAX_CLASS_BYTES)
    if short != part:  # never end inside a %XX escape
        head, _tilde, digest = short.rpartition("~")
        cut = head.rfind("%", len(head) - 2)
        short = f"{head[:cut] if cut >= 0 else head}~{digest}"
    return short


def parse_mask_name(stem: str) -> tuple[int, str, bool] | None:
    """(n, class, crowd) of `<n>_<class>[__crowd]`, or None for another name."""
    m = _MASK_NAME.match(stem)
    if not m:
        return None
    rest = m.group(2)
    crowd = rest.endswith(CROWD)
    name = unquote(rest[:-len(CROWD)] if crowd else rest)
    return int(m.group(1)), name, crowd  # `001_.png`: a class whose name is empty


# ----------------------------------------------------------------------- files

def _files(folder: Path, box: Confined | None = None) -> list[Path]:
    """The mask files in folder; with `box`, only those it allows (a refused link or
    linked folder is said once)."""
    if not folder.is_dir() or (box is not None and not box.allows(folder)):
        return []
    return [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
            and p.suffix.lower() in MASK_EXTENSIONS and (box is None or box.allows(p))]


def _any_file(folder: Path, suffixes: tuple[str, ...]) -> bool:
    for _root, _dirs, files in os.walk(folder):
        if any(f.lower().endswith(suffixes) for f in files if not f.startswith(".")):
            return True
    return False


def has_mask_pngs(path: Path) -> bool:
    """Layout A: a masks/ folder with mask files in it."""
    return (Path(path) / "masks").is_dir() and _any_file(Path(path) / "masks", MASK_EXTENSIONS)


def has_label_images(path: Path) -> bool:
    """Layout B: label images in labels/ (whatever else it holds)."""
    return bool(_files(Path(path) / "labels"))


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


def read_array(path: Path, size: tuple[int, int] | None = None,
               image: Path | None = None) -> np.ndarray:
    """Pixels as stored: 16-bit stays 16-bit, a palette image gives its indices. The
    header is read first: a file whose (width, height) is not `size`, or over the pixel
    limit, is refused before a pixel is decoded (a 110 KB PNG can hold 900 MB of zeros)."""
    w, h = read_size(path, oriented=False)
    if size is not None and (w, h) != tuple(size):
        raise ImageReadError(path, f"is {w}x{h} but {image or 'its image'} is "
                                   f"{size[0]}x{size[1]}")
    check_pixels(path, (w, h))
    try:
        with Image.open(path) as im:  # Pillow's bomb guard stays on: only past our check
            if im.mode == "P":
                return np.asarray(im)
    except Image.DecompressionBombError as e:
        raise ImageReadError(path, f"refused by Pillow's decompression-bomb guard ({e})") \
            from None
    except (OSError, ValueError):
        pass  # let OpenCV try (and name the problem)
    try:
        img = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    except (OSError, cv2.error) as e:
        raise ImageReadError(path, f"not readable ({e})") from None
    if img is None:
        raise ImageReadError(path, "not a readable image")
    return img


def _images(root: Path, box: Confined) -> list[tuple[str, str]]:
    """(key, file_name) of every image: key = path below images/ (or root) without
    suffix, file_name = path below root."""
    base = root / "images" if (root / "images").is_dir() else root
    if not box.allows(base):  # a linked images/ folder: said once, not once an image
        return []
    skip = (root / "masks", root / "labels")
    out = []
    for p in list_images(base, box.follow_symlinks, box.warnings):  # links out: named
        if base == root and any(s in p.parents for s in skip):
            continue
        key = p.relative_to(base).with_suffix("").as_posix()
        out.append((key, p.relative_to(root).as_posix()))
    return sorted(out, key=lambda e: natural_key(e[1]))


def _class_table(root: Path, box: Confined) -> dict[tuple[str | None, int], str]:
    path, warnings = root / "classes.csv", box.warnings
    if not box.is_file(path):
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
            name = row["class"]  # "" is a name (an empty one); a missing cell is none
            table[(row.get("image") or None, label)] = DEFAULT_CLASS if name is None else name
    return table


# ------------------------------------------------------------------------ read

def _read(ds: Dataset, path: Path, image: Path, rec) -> np.ndarray | None:
    """A mask or label image of this record's size, or None (said in a warning)."""
    try:
        arr = read_array(path, (rec.width, rec.height), image)
    except ImageReadError as e:
        ds.warnings.append(f"{e}; skipped")
        return None
    return arr if _size_matches(arr, path, image, (rec.width, rec.height), ds.warnings) \
        else None


def _size_matches(arr: np.ndarray, mask: Path, image: Path, size: tuple[int, int],
                  warnings: list[str]) -> bool:
    if arr.shape[:2] == (size[1], size[0]):
        return True
    warnings.append(f"{mask} is {arr.shape[1]}x{arr.shape[0]} but {image} is "
                    f"{size[0]}x{size[1]}; skipped")
    return False


def _long_class_names(root: Path, box: Confined) -> dict[str, str]:
    """Class names too long for a mask's file name, by the shortened name the files give
    (MaskLoop's classes.csv keeps them whole)."""
    out: dict[str, str] = {}
    if not box.is_file(root / "classes.csv"):
        return out
    try:
        with open(root / "classes.csv", newline="", encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                name = row.get("class")
                if name and mask_class_part(name) != safe_class(name):
                    out[unquote(mask_class_part(name))] = name
    except (OSError, csv.Error, UnicodeDecodeError):
        return {}
    return out


def _read_masks_of(ds: Dataset, rec, folder: Path, image: Path, cats: CategoryTable,
                   box: Confined, long_names: dict[str, str] | None = None) -> None:
    entries, odd = [], 0
    for p in _files(folder, box):
        parsed = parse_mask_name(p.stem)
        if parsed is None:
            odd += 1
            parsed = (0, DEFAULT_CLASS, False)
        elif long_names and parsed[1] in long_names:
            parsed = (parsed[0], long_names[parsed[1]], parsed[2])
        entries.append((parsed, p))
    if odd:
        ds.warnings.append(f"{folder}: {odd} file name(s) not <n>_<class>.png; read as "
                           f"class {DEFAULT_CLASS!r}")
    for (_n, name, crowd), p in sorted(entries, key=lambda e: (e[0][0], natural_key(e[1].name))):
        arr = _read(ds, p, image, rec)
        if arr is None:
            continue
        fields = mask_fields(arr)  # kept as RLE: ten image-sized masks are not ten crops
        del arr
        if fields is None:
            ds.warnings.append(f"{p}: empty mask; skipped")
            continue
        ann = {"id": ds.new_annotation_id(), "image_id": rec.id, "category_id": cats.id(name),
               "iscrowd": int(crowd), **fields}
        ds.add_instance(rec, Instance.from_annotation(ann, rec.height, rec.width))


def _bands(arr: np.ndarray) -> Iterator[slice]:
    rows = max(1, STRIP_PIXELS // max(arr.shape[1] * (arr.shape[2] if arr.ndim == 3 else 1), 1))
    return (slice(r, r + rows) for r in range(0, arr.shape[0], rows))


def _label_ids(arr: np.ndarray) -> tuple[np.ndarray, str | None]:
    """A label image as 2-D integer ids, or the reason it is none; checked and converted a
    band of rows at a time (a float image in place), so no second image-sized array."""
    if arr.ndim == 3:
        if not all((arr[b] == arr[b][..., :1]).all() for b in _bands(arr)):
            return arr, "a colour image, not a label image of ids"
        arr = arr[..., 0]
    if np.issubdtype(arr.dtype, np.integer):
        return arr, None
    top = np.iinfo(np.int32 if arr.itemsize <= 4 else np.int64).max
    for b in _bands(arr):
        v = arr[b]
        if not (np.isfinite(v).all() and (v == np.floor(v)).all() and v.min() >= 0
                and v.max() <= top):
            return arr, "label ids must be whole numbers"
    arr = np.ascontiguousarray(arr)
    if arr.itemsize not in (4, 8):  # float16: half the size of the ids it becomes
        return arr.astype(np.int32), None
    ints = arr.view(np.int32 if arr.itemsize == 4 else np.int64)
    for b in _bands(arr):
        ints[b] = arr[b]  # each band read before it is written over
    return ints, None


def _read_label_image(ds: Dataset, rec, path: Path, image: Path, key: str,
                      table: dict, cats: CategoryTable) -> set[int]:
    """The label image's instances into rec; returns the label ids it holds."""
    arr = _read(ds, path, image, rec)
    if arr is None:
        return set()
    arr, why = _label_ids(arr)
    if why is None:
        try:
            regions = list(label_regions(arr))
        except ValueError as e:
            why = str(e)
    del arr  # the image-sized array goes before the instances are made
    if why is not None:
        ds.warnings.append(f"{path}: {why}; skipped")
        return set()
    held = set()
    for label, fields in regions:
        held.add(label)
        name = table.get((key, label), table.get((None, label), DEFAULT_CLASS))
        ann = {"id": ds.new_annotation_id(), "image_id": rec.id, "category_id": cats.id(name),
               **fields}
        ds.add_instance(rec, Instance.from_annotation(ann, rec.height, rec.width))
    return held


def _not_held(root: Path, table: dict, held: dict[str, set[int]], warnings: list[str]) -> None:
    """One warning when classes.csv lists, image by image, instances that no label image
    holds (MaskLoop lists every instance it writes, also one a later one covers whole)."""
    rows = [(key, label) for key, label in table if key is not None]
    missing = [(key, label) for key, label in rows if label not in held.get(key, ())]
    if not missing:
        return
    shown = ", ".join(f"{key} #{label} ({table[key, label]})" for key, label in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    where = (" (masks/ beside them holds every instance: --format-in masks reads it)"
             if has_mask_pngs(root) else "")
    warnings.append(f"{root / 'classes.csv'} lists {len(rows)} instance(s) by image, but the "
                    f"label images hold {len(rows) - len(missing)} of them: {len(missing)} are "
                    f"in no label image{where}: {shown}{more}")


def read_masks(path: Path | str, layout: str | None = None,
               follow_symlinks: bool = False) -> Dataset:
    """Layout A ("masks") or B ("labels"), as named or told from the folder (module
    docstring); images in natural order. A mask whose size differs from its image is
    skipped with a warning naming both files."""
    root = Path(path)
    if not root.exists():
        raise FormatError(root, "no such file or folder")
    layout = layout or is_mask_folder(root) or "masks"
    ds = Dataset(image_root=root)
    ds.source_format = layout
    ds.follow_symlinks = follow_symlinks
    box = Confined(root, follow_symlinks, ds.warnings)
    cats = CategoryTable(ds)
    table = _class_table(root, box) if layout == "labels" else {}
    long_names = _long_class_names(root, box) if layout == "masks" else {}
    held: dict[str, set[int]] = {}  # label ids each image's label image holds
    for key, file_name in _images(root, box):
        rec = ds.add_image(file_name)
        try:
            image = ds.image_path(rec)
            rec.width, rec.height = read_size(image)
        except ImageReadError as e:
            ds.warnings.append(f"{e}; its masks are not read")
            continue
        try:
            check_pixels(image, (rec.width, rec.height))
        except ImageReadError as e:
            ds.images.pop()  # no tool that reads the export could open it either
            ds.warnings.append(f"{e}; left out with its masks")
            continue
        if layout == "masks":
            _read_masks_of(ds, rec, root / "masks" / key, image, cats, box, long_names)
            continue
        found = [root / "labels" / f"{key}{s}" for s in MASK_EXTENSIONS]
        found = [p for p in found if box.is_file(p)]
        if found:
            held[key] = _read_label_image(ds, rec, found[0], image, key, table, cats)
    if table:
        _not_held(root, table, held, ds.warnings)
    return ds


# ----------------------------------------------------------------------- write

def write_masks(ds: Dataset, out_dir: Path | str) -> MasksReport:
    """Both layouts into out_dir: masks/<stem>/<nnn>_<class>.png per instance,
    labels/<stem>.png (16-bit, id = n, later instances win, no crowd), classes.csv,
    and the images (hard links or copies) in images/; written as one folder
    (folder.FolderExport: all or nothing, never outside out_dir)."""
    report = MasksReport()
    names = output_names(ds)
    rows: list[tuple[str, int, str]] = []
    with FolderExport(out_dir, "masks") as folder:
        copy_images(ds, folder, names, report.warnings)
        for rec in ds.images:
            ds.ensure_size(rec)
            key = names[rec.id].key
            labels = _write_instances(ds, rec, folder, PurePosixPath("masks") / key, str(key),
                                      rows, report)
            folder.write_bytes(PurePosixPath("labels") / names[rec.id].file(".png"), labels)
            report.images += 1
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["image", "label", "class"])
        writer.writerows(rows)
        folder.write_bytes("classes.csv", text.getvalue().encode("utf-8"))
        if report.hidden_rows:
            _write_hidden(folder, report)
        folder.summary = {"images": report.images, "instances": report.instances}
    report.warnings += folder.warnings
    return report


def _write_instances(ds: Dataset, rec, folder: FolderExport, masks: PurePosixPath, key: str,
                     rows: list, report: MasksReport) -> bytes:
    """Each instance's PNG into `masks`; returns the image's 16-bit label image PNG (id =
    n, the later instance wins; painted a band of rows at a time, raster.py) and names
    in the report the instances it no longer shows."""
    h, w = rec.height, rec.width
    labels = LabelImage(h, w)
    drawn = []
    for n, inst in enumerate(rec.instances, 1):
        mask = BandedMask(instance_counts(inst, h, w), h, w)
        if mask.pixels == 0:  # a box-only instance: nothing to draw
            report.warnings.append(f"{rec.file_name}: instance {inst.id} has no mask; "
                                   "left out")
            continue
        name = category_name(ds, inst.category_id)
        file = f"{n:03d}_{mask_class_part(name)}{CROWD if inst.iscrowd else ''}.png"
        folder.write_bytes(masks / file, mask_png(mask))
        report.instances += 1
        if inst.iscrowd:
            report.crowd += 1
        elif n > np.iinfo(np.uint16).max:
            report.warnings.append(f"{rec.file_name}: instance {n} is past the 16-bit "
                                   "label image; only in masks/")
        else:
            labels.add(n, mask)
            rows.append((key, n, name))
            drawn.append((n, inst, name, (masks / file).as_posix()))
    data = labels.png()
    report.overlaps += labels.overlaps
    for n, inst, name, mask_file in drawn:
        if n not in labels.shown:
            report.hidden.append(f"{rec.file_name} #{n} (id {inst.id}, {name})")
            report.hidden_rows.append((key, n, name, inst.id, mask_file))
    return data


def _write_hidden(folder: FolderExport, report: MasksReport) -> None:
    """HIDDEN_FILE: every instance the label images do not show, in full (the summary
    line names the first few), with the mask file that keeps it."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["image", "label", "class", "annotation_id", "mask"])
    writer.writerows(report.hidden_rows)
    folder.write_bytes(HIDDEN_FILE, text.getvalue().encode("utf-8"))
