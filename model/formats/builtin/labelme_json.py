"""labelme: one JSON per image (`shapes`, `imagePath`), a file or a folder of them; read and
written by model/formats/labelme.py."""
from __future__ import annotations

import itertools
import os
from pathlib import Path

from model.data.annotations import Dataset
from model.errors import CocoFormatError
from model.formats.layouts import DEFAULT_ANNOTATIONS
from model.formats.registry import FOLDER, LIKELY, SURE, Format, Source, register

PEEK = 8  # JSON files looked at to call a folder labelme


def labelme_data(data) -> bool:
    """Parsed JSON that is a labelme file (and no COCO file)."""
    from model.formats.labelme import is_labelme
    return isinstance(data, dict) and "images" not in data and is_labelme(data)


def _json_files(folder: Path):
    return (Path(root) / n for root, _dirs, files in os.walk(folder) for n in sorted(files)
            if n.lower().endswith(".json") and n != DEFAULT_ANNOTATIONS
            and not n.startswith("."))


def _folder(src: Source) -> bool:
    """Do the folder's JSON files (the first few, walking down) look like labelme's? A
    file the folder's box refuses is not read (the reader, or images, says so)."""
    from model.data.coco_validate import read_json
    for p in itertools.islice(_json_files(src.path), PEEK):
        if not src.box.inside(p):
            src.box.refused.append(p)
            continue
        try:
            if p.stat().st_size < 64 << 20 and labelme_data(read_json(p)):
                return True
        except CocoFormatError:
            continue
    return False


def _detect(src: Source) -> float | None:
    if src.is_dir:
        return LIKELY if _folder(src) else None
    return SURE if labelme_data(src.json()) else None


def _coverage(src: Source) -> int:
    return sum(1 for root, _d, files in os.walk(src.path) for f in files
               if f.lower().endswith(".json") and f != DEFAULT_ANNOTATIONS)


def _read(src: Source) -> Dataset:
    from model.formats.labelme import read_labelme
    return read_labelme(src.path, src.image_root, src.follow_symlinks, src.rectangles_as_boxes)


def _write(ds: Dataset, out: Path, tolerance: float):
    from model.formats.export import reported
    from model.formats.labelme import write_labelme
    return reported(out, "labelme", write_labelme(ds, out, tolerance))


register(Format(
    "labelme", "labelme", "labelme: one JSON per image, polygons", FOLDER, order=50,
    takes_file=lambda p: p.suffix.lower() == ".json", file_hint="a labelme .json file",
    detect=_detect, read=_read, write=_write, confidence=SURE, coverage=_coverage,
    polygons=True, keeps=frozenset({"masks", "holes", "parts", "overlaps", "crowd"}),
    writes="one JSON per image beside its image (a hard link; `imagePath` is its name), "
           "polygons (holes bridged, parts of one instance share a `group_id`, crowd as "
           "`__ignore__`)", tools="labelme", report="the same, as labelme reads them"))
