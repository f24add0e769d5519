"""A format the tests define alone ("rects": a folder of images and rects.csv, one
axis-aligned rectangle an object, made from each mask's box), registered and then
unregistered by the tests: a format is one module, and once registered it is in the
command line's choices, in detection, in the export and in the app's export dialog."""
from __future__ import annotations

import csv
import io
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from model.data.annotations import Dataset, Instance
from model.formats import registry
from model.formats.class_table import CategoryTable, category_name
from model.formats.export import ExportResult
from model.formats.export_images import copy_images
from model.formats.folder import FolderExport
from model.formats.names import output_names
from model.formats.registry import FOLDER, LIKELY, Format, Source

CSV = "rects.csv"


def _detect(src: Source) -> float | None:
    table = src.path / CSV
    return LIKELY if src.is_dir and table.is_file() and src.box.allows(table) else None


def _rows(src: Source) -> list[list[str]]:
    return list(csv.reader(io.StringIO((src.path / CSV).read_text(encoding="utf-8"))))


def _read(src: Source) -> Dataset:
    ds = Dataset(image_root=src.path)
    ds.follow_symlinks = src.follow_symlinks
    cats, recs = CategoryTable(ds), {}
    for name, x, y, w, h, cls in _rows(src):
        rec = recs[name] if name in recs else recs.setdefault(name, ds.add_image(name))
        ds.add_instance(rec, Instance(cats.id(cls), np.ones((int(h), int(w)), bool),
                                      (int(x), int(y))))
    return ds


def _write(ds: Dataset, out: Path, _tolerance: float) -> ExportResult:
    names, warnings, rows = output_names(ds), [], io.StringIO()
    table = csv.writer(rows, lineterminator="\n")
    with FolderExport(out, "rects") as folder:
        copy_images(ds, folder, names, warnings, under="")
        for rec in ds.images:
            for inst in rec.instances:
                if inst.iscrowd or inst.box_only:
                    continue
                (h, w), (x, y) = inst.mask.shape, inst.offset
                table.writerow([names[rec.id].image, x, y, w, h,
                                category_name(ds, inst.category_id)])
        folder.write_bytes(CSV, rows.getvalue().encode("utf-8"))
    return ExportResult([f"wrote {out} (rects): {rows.getvalue().count(chr(10))} "
                         "rectangle(s)"], warnings=warnings)


RECTS = Format(
    "rects", "rectangles", "rects: images and rects.csv, one rectangle (a mask's box) an "
    "object", FOLDER, order=65, detect=_detect, read=_read, write=_write,
    coverage=lambda src: len({row[0] for row in _rows(src)}), keeps=frozenset({"overlaps"}),
    writes="the images and `rects.csv`", tools="the tests", report="rectangles written")


@contextmanager
def registered() -> Iterator[Format]:
    """RECTS in the registry for the length of the block."""
    registry.register(RECTS)
    try:
        yield RECTS
    finally:
        registry.unregister(RECTS.name)
