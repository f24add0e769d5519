"""YOLO-seg (Ultralytics): images/ beside labels/*.txt, class names in data.yaml or
classes.txt; read and written by model/formats/yolo.py."""
from __future__ import annotations

from pathlib import Path

from model.data.annotations import Dataset
from model.formats.registry import FOLDER, LIKELY, Format, Source, register


def _detect(src: Source) -> float | None:
    from model.formats.yolo import is_yolo
    return LIKELY if src.is_dir and is_yolo(src.path) else None


def _coverage(src: Source) -> int:
    from model.formats.yolo import label_files
    return len(label_files(src.path))


def _read(src: Source) -> Dataset:
    from model.formats.yolo import read_yolo
    return read_yolo(src.path, src.follow_symlinks)


def _write(ds: Dataset, out: Path, tolerance: float):
    from model.formats.export import reported
    from model.formats.yolo import write_yolo
    return reported(out, "yolo-seg", write_yolo(ds, out, tolerance))


register(Format(
    "yolo-seg", "YOLO-seg", "YOLO-seg: images/, labels/*.txt and data.yaml (Ultralytics)",
    FOLDER, order=40, detect=_detect, read=_read, write=_write, coverage=_coverage,
    polygons=True, keeps=frozenset({"masks", "holes", "overlaps"}),
    writes="`images/` (hard links), `labels/*.txt`, `data.yaml` with the names and paths "
           "relative to it (no `path:`, so the folder can be moved or copied)",
    tools="Ultralytics, supervision",
    report="the same, as Ultralytics and supervision read the polygons"))
