"""Ultralytics YOLO-seg: images under `images/` (or `images/train`, `train/images`, ...),
one label file per image at the same place under `labels/` with the suffix `.txt`
(Ultralytics swaps the last /images/ for /labels/), one object per line:
`class x1 y1 x2 y2 ...`, coordinates normalised to [0, 1]. A line of four numbers
(`class cx cy w h`) is a detection box and becomes a box-only instance.

Class names come from data.yaml (`names:` as a flow list, a block list or an index
mapping; a small parser for exactly these forms, since PyYAML is no dependency) or
classes.txt; otherwise they are class0, class1, .... Category id = class index + 1.

Written: images/ (hard links or copies), labels/ and data.yaml. One line per instance:
the parts of a multi-part instance are joined by zero-width bridges, holes bridged in,
so an object stays one object; crowd regions are dropped (YOLO has none).
"""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path, PurePosixPath

from ..annotations import Category, Dataset, ImageRecord, Instance
from ..atomic import atomic_write_bytes
from ..images import ImageReadError, is_image_file
from .bridge import (TooComplex, join_parts, mask_to_polygons, polygons_iou, polygons_rle,
                     rle_to_crop)
from .report import FormatError, PolygonReport, copy_images, natural_key, output_names

MARGIN = 0.01  # normalised coordinates may leave [0, 1] by this much (then clamped)
MAX_CLASSES = 100_000
YAML_NAMES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")
SPLITS = ("train", "val", "valid", "test")


# ------------------------------------------------------------------ data.yaml

def _strip_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def _scalar(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            return json.loads(text)
        except ValueError:
            return text[1:-1]
    return text


def _split_flow(text: str) -> list[str]:
    """Items of `[a, 'b, c']` or `{0: a, 1: b}` (brackets removed), quotes respected."""
    items, cur, quote = [], "", None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == ",":
            items.append(cur)
            cur = ""
            continue
        cur += ch
    items.append(cur)
    return [i.strip() for i in items if i.strip()]


def _key_value(item: str) -> tuple[str, str]:
    m = re.match(r"""\s*("[^"]*"|'[^']*'|[^:]+?)\s*:(?:\s+|$)(.*)$""", item)
    if not m:
        raise ValueError(f"not a 'key: value' item: {item!r}")
    return _scalar(m.group(1)), m.group(2)


def _names(value: object) -> list[str]:
    """A names list or {index: name} mapping as a list by index."""
    if isinstance(value, list):
        return [str(v) for v in value]
    table = {int(k): str(v) for k, v in value.items()}
    if any(k < 0 or k >= MAX_CLASSES for k in table):
        raise ValueError("a class index in names is out of range")
    return [table.get(i, f"class{i}") for i in range(max(table, default=-1) + 1)]


def parse_data_yaml(text: str) -> dict:
    """Top-level `key: value` pairs of a data.yaml, `names` as a list by class index.
    Raises ValueError on what these forms cannot read."""
    out: dict = {}
    lines = [_strip_comment(raw) for raw in text.splitlines()]
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line[0] in " \t-":
            continue
        key, rest = _key_value(line)
        rest = rest.strip()
        if rest.startswith("["):
            value: object = [_scalar(v) for v in _split_flow(rest.strip("[]"))]
        elif rest.startswith("{"):
            value = dict(_key_value(v) for v in _split_flow(rest.strip("{}")))
            value = {k: _scalar(v) for k, v in value.items()}
        elif rest:
            value = _scalar(rest)
        else:  # a block: the indented or '- ' lines below
            block = []
            while i < len(lines) and (not lines[i].strip() or lines[i][0] in " \t-"):
                if lines[i].strip():
                    block.append(lines[i].strip())
                i += 1
            if not block:
                value = None  # `test:` with nothing: YAML's null
            elif all(b.startswith("-") for b in block):
                value = [_scalar(b[1:]) for b in block]
            else:
                value = {k: _scalar(v) for k, v in map(_key_value, block)}
        out[key] = value
    names = out.pop("names", None)
    if isinstance(names, str):
        raise ValueError("names must be a list or a mapping")
    if names is not None:
        out["names"] = _names(names)
    return out


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # JSON strings are YAML double-quoted scalars


# ---------------------------------------------------------------------- layout

def label_path(root: Path, rel: PurePosixPath) -> Path | None:
    """The label file Ultralytics looks for: the last `images` folder made `labels`."""
    parts = list(rel.parts)
    idx = max((k for k, p in enumerate(parts[:-1]) if p == "images"), default=None)
    if idx is None:
        return None
    parts[idx] = "labels"
    return root.joinpath(*parts).with_suffix(".txt")


def _has_labels(folder: Path) -> bool:
    for _root, _dirs, files in os.walk(folder):
        if any(f.endswith(".txt") and f != "classes.txt" for f in files):
            return True
    return False


def is_yolo(path: Path) -> bool:
    """images/ beside labels/ holding .txt files, at the top or one folder down
    (Roboflow's train/images), or a data.yaml beside images/ and labels/."""
    path = Path(path)
    if not path.is_dir():
        return False
    yaml = any((path / n).is_file() for n in YAML_NAMES)
    for base in [path] + sorted(p for p in path.iterdir() if p.is_dir()
                                and not p.name.startswith(".")):
        if (base / "images").is_dir() and (base / "labels").is_dir() and (
                yaml or _has_labels(base / "labels")):
            return True
    return False


def _class_names(root: Path, warnings: list[str]) -> list[str] | None:
    for name in YAML_NAMES:
        f = root / name
        if f.is_file():
            try:
                names = parse_data_yaml(f.read_text(encoding="utf-8-sig")).get("names")
            except (ValueError, UnicodeDecodeError, OSError) as e:
                warnings.append(f"{f}: class names not read ({e})")
                continue
            if names is not None:
                return names
    for f in (root / "classes.txt", root / "labels" / "classes.txt"):
        if f.is_file():
            return [n.strip() for n in f.read_text(encoding="utf-8-sig").splitlines()
                    if n.strip()]
    return None


# ------------------------------------------------------------------------ read

def _parse_line(line: str, n_names: int | None) -> tuple[int, list[float]]:
    """(class index, coordinates) of one label line, or ValueError saying why not."""
    tokens = line.split()
    try:
        cls = float(tokens[0])
        coords = [float(t) for t in tokens[1:]]
    except ValueError:
        raise ValueError("holds something that is not a number") from None
    if not cls.is_integer() or cls < 0 or cls >= (n_names or MAX_CLASSES):
        raise ValueError(f"class index {tokens[0]} is out of range"
                         + (f" (there are {n_names} names)" if n_names else ""))
    if not all(math.isfinite(v) for v in coords):
        raise ValueError("holds a coordinate that is NaN or infinite")
    if len(coords) % 2:
        raise ValueError(f"has an odd number of coordinates ({len(coords)})")
    if len(coords) < 6 and len(coords) != 4:
        raise ValueError(f"has {len(coords)} coordinates: neither a polygon nor a box")
    if coords and (min(coords) < -MARGIN or max(coords) > 1 + MARGIN):
        raise ValueError("has coordinates outside [0, 1] (they must be normalised)")
    return int(cls), [min(max(v, 0.0), 1.0) for v in coords]


def _instance(ds: Dataset, rec: ImageRecord, cls: int, coords: list[float]) -> Instance | None:
    h, w = rec.height, rec.width
    if len(coords) == 4:  # a detection box: kept as a box, as COCO keeps bbox-only ones
        cx, cy, bw, bh = coords[0] * w, coords[1] * h, coords[2] * w, coords[3] * h
        x0, y0 = max(cx - bw / 2, 0.0), max(cy - bh / 2, 0.0)
        x1, y1 = min(cx + bw / 2, float(w)), min(cy + bh / 2, float(h))
        if x1 <= x0 or y1 <= y0:
            return None
        ann = {"id": ds.new_annotation_id(), "image_id": rec.id, "category_id": cls + 1,
               "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": 0}
        return Instance.from_annotation(ann, h, w)
    pixels = [v * (w if k % 2 == 0 else h) for k, v in enumerate(coords)]
    crop, offset = rle_to_crop(polygons_rle([pixels], h, w), h, w)
    if crop.size == 0:
        return None
    return Instance(cls + 1, crop, offset)


def _read_labels(ds: Dataset, rec: ImageRecord, label: Path, names: list[str] | None,
                 seen: set[int]) -> None:
    try:
        text = label.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        ds.warnings.append(f"{label}: not read ({e})")
        return
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            cls, coords = _parse_line(line, len(names) if names is not None else None)
        except ValueError as e:
            ds.warnings.append(f"{label}, line {n}: {e}; skipped")
            continue
        inst = _instance(ds, rec, cls, coords)
        if inst is None:
            ds.warnings.append(f"{label}, line {n}: the shape covers no pixels; skipped")
            continue
        seen.add(cls)
        ds.add_instance(rec, inst)


def read_yolo(path: Path | str) -> Dataset:
    """A YOLO-seg folder. An image without a label file has no instances; a label file
    without an image is named in a warning; a bad line is skipped with a warning naming
    the file and line."""
    root = Path(path)
    if not root.exists():
        raise FormatError(root, "no such file or folder")
    ds = Dataset(image_root=root)
    ds.source_format = "yolo-seg"
    names = _class_names(root, ds.warnings)
    images = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "labels"]
        for f in files:
            rel = PurePosixPath(Path(folder, f).relative_to(root).as_posix())
            if is_image_file(Path(f)) and not f.startswith(".") and label_path(root, rel):
                images.append(rel)
    used, seen = set(), set()
    for rel in sorted(images, key=lambda r: natural_key(str(r))):
        rec = ds.add_image(str(rel))
        label = label_path(root, rel)
        if not label.is_file():
            continue
        used.add(label)
        try:
            ds.ensure_size(rec)
        except ImageReadError as e:
            ds.warnings.append(f"{label}: not read, the image cannot be ({e.reason})")
            continue
        _read_labels(ds, rec, label, names, seen)
    orphans = sorted((p for p in root.rglob("*.txt") if "labels" in p.relative_to(root).parts
                      and p.name != "classes.txt" and p not in used),
                     key=lambda p: natural_key(str(p)))
    if orphans:
        shown = ", ".join(str(p.relative_to(root)) for p in orphans[:5])
        ds.warnings.append(f"{len(orphans)} label file(s) without an image, not read: {shown}"
                           + (" ..." if len(orphans) > 5 else ""))
    count = len(names) if names is not None else max(seen, default=-1) + 1
    ds.categories = [Category(i + 1, names[i] if names is not None else f"class{i}")
                     for i in range(count)]
    return ds


# ----------------------------------------------------------------------- write

def _normalised(poly: list[float], h: int, w: int) -> list[str]:
    """Coordinates as written: divided by the image size, clamped to [0, 1], 6 decimals."""
    coords = (min(max(v / (w if k % 2 == 0 else h), 0.0), 1.0) for k, v in enumerate(poly))
    return [f"{v:.6f}".rstrip("0").rstrip(".") or "0" for v in coords]


def _data_yaml(out_dir: Path, ds: Dataset, names: dict[int, PurePosixPath]) -> str:
    tops = {p.parts[0] for p in names.values() if len(p.parts) > 1}
    train = "images/train" if "train" in tops else "images"
    val = next((f"images/{s}" for s in ("val", "valid") if s in tops), train)
    lines = ["# YOLO-seg dataset written by MaskLoop",
             f"path: {_quoted(str(out_dir.resolve()))}", f"train: {_quoted(train)}",
             f"val: {_quoted(val)}"]
    if "test" in tops:
        lines.append(f"test: {_quoted('images/test')}")
    lines += [f"nc: {len(ds.categories)}", "names:"]
    lines += [f"  {i}: {_quoted(c.name)}" for i, c in enumerate(ds.categories)]
    return "\n".join(lines) + "\n"


def write_yolo(ds: Dataset, out_dir: Path | str, tolerance: float = 0.5) -> PolygonReport:
    """out_dir/images (hard links or copies), out_dir/labels/<stem>.txt per image
    (subfolders mirrored; empty for an image without instances) and data.yaml."""
    out_dir = Path(out_dir)
    report = PolygonReport()
    index = {c.id: i for i, c in enumerate(ds.categories)}
    names = output_names(ds)
    for rec in ds.images:
        ds.ensure_size(rec)
        h, w = rec.height, rec.width
        lines = []
        for inst in rec.instances:
            if inst.iscrowd:
                report.crowd_dropped += 1
                continue
            if inst.category_id not in index:
                report.warnings.append(f"{rec.file_name}: instance {inst.id} has category "
                                       f"{inst.category_id}, which the dataset lacks; left out")
                continue
            lazy = inst.is_lazy  # decoded for this line only, so an export stays small
            try:
                polys, bridged = mask_to_polygons(inst.mask, inst.offset, tolerance)
                if not polys:
                    report.lost += 1
                    continue
                coords = _normalised(join_parts(polys), h, w)
                written = [float(v) * (w if k % 2 == 0 else h) for k, v in enumerate(coords)]
                report.add(polygons_iou([written], inst.mask, inst.offset, h, w), 1, bridged)
            except TooComplex as e:
                report.too_complex(rec.file_name, inst.id, str(e))
                continue
            finally:
                if lazy:
                    inst.forget_mask()
            lines.append(" ".join([str(index[inst.category_id])] + coords))
        text = "".join(line + "\n" for line in lines)
        atomic_write_bytes(out_dir / "labels" / names[rec.id].with_suffix(".txt"),
                           text.encode("utf-8"))
        report.images += 1
    copy_images(ds, out_dir, names, report.warnings)
    atomic_write_bytes(out_dir / "data.yaml", _data_yaml(out_dir, ds, names).encode("utf-8"))
    return report
