"""Ultralytics YOLO-seg: images under `images/` (or `images/train`, `train/images`, ...),
one label file per image at the same place under `labels/` with the suffix `.txt`
(Ultralytics swaps the last /images/ for /labels/), one object per line:
`class x1 y1 x2 y2 ...`, coordinates normalised to [0, 1]. A line of four numbers
(`class cx cy w h`) is a detection box and becomes a box-only instance.

Class names come from data.yaml (`names:` as a list or an index mapping, read by PyYAML
as Ultralytics reads it, so a flow list that wraps over lines is whole) or classes.txt;
otherwise they are class0, class1, ... and a warning names the file looked for.
Category id = class index + 1.

Polygons are read and written as the YOLO tools fill them (model/data/vertex_fill.py):
vertices at pixel centres, rounded to the nearest pixel on reading, the outline drawn
in. A label file's polygon is kept as written and filled when its mask is needed.

Written: images/ (hard links or copies), labels/ and data.yaml. One line per instance
(model/data/vertex_polygons.py): the parts of a multi-part instance are joined by
zero-width bridges, holes bridged in, so an object stays one object; crowd regions are
dropped (YOLO has none). data.yaml has no `path:`, so Ultralytics takes the folder it is
in as the dataset's root, and the export can be moved or copied elsewhere.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path, PurePosixPath

import numpy as np
import yaml

from model.data.annotations import Category, Dataset, ImageRecord
from model.data.images import check_pixels, is_image_file, natural_key
from model.errors import FormatError, ImageReadError
from model.data.vertex_polygons import vertex_polygon
from model.formats.confine import Confined
from model.formats.folder import FolderExport
from model.formats.export_images import copy_images
from model.formats.names import OutputName, output_names
from model.formats.polygon_conversion import converted, yolo_iou
from model.formats.writer_reports import DEFAULT_TOLERANCE, PolygonReport
from model.formats.yolo_labels import MAX_CLASSES, read_label_file

YAML_NAMES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")
SPLITS = ("train", "val", "valid", "test")
MAX_NAMES_BYTES = 32 << 20  # a names file past this is no names file (100,000 names fit)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, where built


# ------------------------------------------------------------------ data.yaml

def _yaml_error(e: Exception) -> str:
    return " ".join(str(e).split())  # PyYAML's messages span lines; ours are one


def _name(v: object, i: int) -> str:
    if v is None:
        return ""  # `- ` with nothing: an empty name, not the text "None"
    if isinstance(v, (list, dict)):
        raise ValueError(f"class {i}'s name is a {type(v).__name__}, not a name")
    return str(v)  # as Ultralytics reads it: `yes` is True, so "True"


def _names(value: object) -> list[str]:
    """A names list or {index: name} mapping as a list by index."""
    if isinstance(value, list):
        if len(value) > MAX_CLASSES:
            raise ValueError(f"names has {len(value)} entries, over {MAX_CLASSES}")
        return [_name(v, i) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        raise ValueError("names must be a list or a mapping of class index to name")
    table = {}
    for k, v in value.items():
        try:
            index = int(k) if not isinstance(k, (bool, float)) else None
        except (TypeError, ValueError):
            index = None
        if index is None:
            raise ValueError(f"names has the key {k!r}, not a class index")
        if index < 0 or index >= MAX_CLASSES:
            raise ValueError(f"class index {index} in names is out of range")
        table[index] = _name(v, index)
    return [table.get(i, f"class{i}") for i in range(max(table, default=-1) + 1)]


def parse_data_yaml(text: str) -> dict:
    """A data.yaml as PyYAML reads it (as Ultralytics does), `names` as a list by class
    index. Raises ValueError, in one line, on what is not such a file."""
    try:
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as e:
        raise ValueError(f"not valid YAML: {_yaml_error(e)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"not a YAML mapping of keys (a {type(data).__name__})")
    if data.get("names") is not None:
        data["names"] = _names(data["names"])
    return data


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar that reads back as `text` whatever it holds (quotes,
    `#`, U+2028, control characters), on one line."""
    return yaml.safe_dump(text, default_style='"', allow_unicode=True,
                          width=math.inf).rstrip("\n")


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


def _bases(path: Path) -> list[Path]:
    return [path] + sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def label_files(path: Path) -> list[Path]:
    """Every label file of a YOLO folder (the classes.txt beside them is none)."""
    return [Path(root) / f for base in _bases(Path(path)) if (base / "labels").is_dir()
            for root, _dirs, files in os.walk(base / "labels")
            for f in files if f.endswith(".txt") and f != "classes.txt"]


def is_yolo(path: Path) -> bool:
    """images/ beside labels/ holding .txt files, at the top or one folder down
    (Roboflow's train/images), or a data.yaml beside images/ and labels/."""
    path = Path(path)
    if not path.is_dir():
        return False
    has_yaml = any((path / n).is_file() for n in YAML_NAMES)
    for base in _bases(path):
        if (base / "images").is_dir() and (base / "labels").is_dir() and (
                has_yaml or _has_labels(base / "labels")):
            return True
    return False


def _read_text(f: Path) -> str:
    if f.stat().st_size > MAX_NAMES_BYTES:
        raise ValueError(f"{f.stat().st_size:,} bytes, over the {MAX_NAMES_BYTES >> 20} MB "
                         "a names file may have")
    return f.read_text(encoding="utf-8-sig")


def _class_names(root: Path, box: Confined) -> list[str] | None:
    """Names by class index from data.yaml or classes.txt. A names file that cannot be
    read (or is a link out of the folder) is named in a warning; when no file gives
    names, one warning (naming the file looked for) says they are made up: None."""
    unnamed, failed = [], []
    sources = [(root / n, "yaml") for n in YAML_NAMES] + [
        (root / "classes.txt", "txt"), (root / "labels" / "classes.txt", "txt")]
    for f, kind in sources:
        if not f.is_file() or not box.allows(f, failed):
            continue
        try:
            text = _read_text(f)
            names = parse_data_yaml(text).get("names") if kind == "yaml" else [
                n.strip() for n in text.splitlines() if n.strip()]
        except (ValueError, UnicodeDecodeError, OSError) as e:
            failed.append(f"{f}: class names not read ({e})")
            continue
        if names is not None:
            box.warnings.extend(failed)
            return names
        unnamed.append(f)
    made_up = "the classes are named class0, class1, ... by their index"
    if failed:  # the last one says what follows; each file is named once
        box.warnings.extend(failed[:-1] + [f"{failed[-1]}: {made_up}"])
        return None
    where = (f"{unnamed[0]} has no names" if unnamed
             else f"no {root / YAML_NAMES[0]} (nor {', '.join(YAML_NAMES[1:])})")
    box.warnings.append(f"{where} and no {root / 'classes.txt'}: {made_up}")
    return None


# ------------------------------------------------------------------------ read

def _read_labels(ds: Dataset, rec: ImageRecord, label: Path, names: list[str] | None,
                 seen: set[int]) -> int:
    """The label file's instances into rec; returns the number of lines skipped."""
    try:
        text = label.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        ds.warnings.append(f"{label}: not read ({e})")
        return 0
    return read_label_file(ds, rec, label, text, len(names) if names is not None else None,
                           seen)


def read_yolo(path: Path | str, follow_symlinks: bool = False) -> Dataset:
    """A YOLO-seg folder. An image without a label file has no instances; a label file
    without an image is named in a warning; a bad line is skipped with a warning naming
    the file and line. Every file (images, names and label files) is opened only inside
    the folder unless follow_symlinks (confine.py)."""
    root = Path(path)
    if not root.exists():
        raise FormatError(root, "no such file or folder")
    ds = Dataset(image_root=root)
    ds.source_format = "yolo-seg"
    ds.follow_symlinks = follow_symlinks
    box = Confined(root, follow_symlinks, ds.warnings)
    names = _class_names(root, box)
    images = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "labels"]
        for f in files:
            rel = PurePosixPath(Path(folder, f).relative_to(root).as_posix())
            if is_image_file(Path(f)) and not f.startswith(".") and label_path(root, rel):
                images.append(rel)
    used, seen = set(), set()
    skipped, files_with_skips = 0, 0
    for rel in sorted(images, key=lambda r: natural_key(str(r))):
        rec = ds.add_image(str(rel))
        label = label_path(root, rel)
        if not label.is_file():
            continue
        used.add(label)
        if not box.allows(label):
            continue
        try:
            ds.ensure_size(rec)
        except ImageReadError as e:
            ds.warnings.append(f"{label}: not read, the image cannot be ({e.reason})")
            continue
        try:
            check_pixels(ds.image_path(rec), (rec.width, rec.height))
        except ImageReadError as e:
            ds.images.pop()  # no tool that reads the export could open it either
            ds.warnings.append(f"{e}; left out with its labels")
            continue
        n = _read_labels(ds, rec, label, names, seen)
        skipped += n
        files_with_skips += n > 0
    orphans = sorted((p for p in root.rglob("*.txt") if "labels" in p.relative_to(root).parts
                      and p.name != "classes.txt" and p not in used),
                     key=lambda p: natural_key(str(p)))
    if orphans:
        shown = ", ".join(str(p.relative_to(root)) for p in orphans[:5])
        ds.warnings.append(f"{len(orphans)} label file(s) without an image, not read: {shown}"
                           + (" ..." if len(orphans) > 5 else ""))
    if skipped:  # first, so that it is seen when a long list is cut short
        ds.warnings.insert(0, f"{root}: {skipped} line(s) skipped in {files_with_skips} "
                              "label file(s), each named below")
    count = len(names) if names is not None else max(seen, default=-1) + 1
    ds.categories = [Category(i + 1, names[i] if names is not None else f"class{i}")
                     for i in range(count)]
    return ds


# ----------------------------------------------------------------------- write

_LIFT = 2e-7  # of the image size: more than float32's error, parsing and scaling
_TRAILING_ZEROS = re.compile(r"\.?0+(?= |$)")


def _normalised(poly: list[float], h: int, w: int) -> list[str]:
    """Pixel coordinates (whole pixels) as written: divided by the image size and rounded
    up, a hair above the pixel they mean, so that the readers' float32 times the size
    comes out in [pixel, pixel + 0.05): Ultralytics truncates that and supervision
    rounds it to the same pixel. Six decimals, more for an image over 1000 pixels a side
    (a last decimal is then worth under 0.001 px). One numpy pass and one format per
    axis: a million instances are written in seconds, not minutes of per-number Python."""
    out = []
    for size, values in ((w, poly[0::2]), (h, poly[1::2])):
        places = max(6, math.ceil(math.log10(size)) + 3)
        scale = 10 ** places
        q = np.clip(np.ceil((np.asarray(values, np.float64) / size + _LIFT) * scale), 0,
                    scale) / scale  # a mask reaching past the image: clamped to it
        text = (f"%.{places}f " * q.size).rstrip(" ") % tuple(q.tolist())
        out.append(_TRAILING_ZEROS.sub("", text).split(" "))
    return [v for pair in zip(*out) for v in pair]


def _data_yaml(ds: Dataset, names: dict[int, OutputName]) -> str:
    """No `path:`: Ultralytics' dataset checker then takes data.yaml's own folder as the
    root (an absolute path broke a moved export; a relative one is taken from the working
    directory), and train/val/test are relative to it."""
    tops = {n.folders[0] for n in names.values() if n.folders}
    train = "images/train" if "train" in tops else "images"
    val = next((f"images/{s}" for s in ("val", "valid") if s in tops), train)
    lines = ["# YOLO-seg dataset written by MaskLoop; the paths are relative to this file",
             f"train: {_quoted(train)}", f"val: {_quoted(val)}"]
    if "test" in tops:
        lines.append(f"test: {_quoted('images/test')}")
    lines += [f"nc: {len(ds.categories)}", "names:"]
    lines += [f"  {i}: {_quoted(c.name)}" for i, c in enumerate(ds.categories)]
    return "\n".join(lines) + "\n"


def write_yolo(ds: Dataset, out_dir: Path | str, tolerance: float = DEFAULT_TOLERANCE
               ) -> PolygonReport:
    """out_dir/images (hard links or copies), out_dir/labels/<stem>.txt per image
    (subfolders mirrored; empty for an image without instances) and data.yaml, written
    as one folder (folder.FolderExport: all or nothing, never outside out_dir)."""
    report = PolygonReport()
    index = {c.id: i for i, c in enumerate(ds.categories)}
    names = output_names(ds)
    with FolderExport(out_dir, "yolo-seg") as folder:
        copy_images(ds, folder, names, report.warnings)
        for rec in ds.images:
            ds.ensure_size(rec)
            lines = _label_lines(rec, index, tolerance, report)
            folder.write_bytes(PurePosixPath("labels") / names[rec.id].file(".txt"),
                               "".join(line + "\n" for line in lines).encode("utf-8"))
            report.images += 1
        folder.write_bytes("data.yaml", _data_yaml(ds, names).encode("utf-8"))
        folder.summary = {"images": report.images, "instances": report.instances}
    report.warnings += folder.warnings
    return report


def _label_lines(rec: ImageRecord, index: dict[int, int], tolerance: float,
                 report: PolygonReport) -> list[str]:
    """One `class x1 y1 ...` line per instance of the image."""
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
        def measured(mask, offset):
            poly, bridged, joined = vertex_polygon(mask, offset, tolerance)
            if not poly:
                return [], None, 0, 0
            coords = _normalised(poly, h, w)
            written = (np.asarray(coords, np.float64).reshape(-1, 2) * (w, h)).ravel().tolist()
            return coords, yolo_iou(written, mask, offset, h, w), bridged, joined
        got = converted(inst, rec.file_name, report, measured)
        if got is None:  # too complex: named in the report
            continue
        coords, iou, bridged, joined = got
        if not coords:
            report.lost += 1
            continue
        report.add(iou, 1, bridged)
        report.parts_joined += joined
        lines.append(" ".join([str(index[inst.category_id])] + coords))
    return lines
