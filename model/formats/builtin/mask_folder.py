"""Per-instance mask PNGs: masks/<image>/<n>_<class>.png, written with a label image per
image beside them; read and written by model/formats/mask_pngs.py."""
from __future__ import annotations

import os
from pathlib import Path

from model.data.annotations import Dataset
from model.formats.registry import FOLDER, STRONG, Format, Source, register


def _detect(src: Source) -> float | None:
    from model.formats.mask_pngs import has_mask_pngs
    return STRONG if src.is_dir and has_mask_pngs(src.path) else None


def _coverage(src: Source) -> int:
    from model.formats.mask_pngs import MASK_EXTENSIONS
    return sum(1 for _root, _d, files in os.walk(src.path / "masks")
               if any(f.lower().endswith(MASK_EXTENSIONS) for f in files))


def _read(src: Source) -> Dataset:
    from model.formats.mask_pngs import read_masks
    return read_masks(src.path, "masks", src.follow_symlinks)


def _write(ds: Dataset, out: Path, _tolerance: float):
    from model.formats.export import reported
    from model.formats.mask_pngs import write_masks
    return reported(out, "masks", write_masks(ds, out))


register(Format(
    "masks", "per-instance mask PNGs", "mask PNGs: masks/<image>/<n>_<class>.png and a 16-bit "
    "label image per image", FOLDER, order=60, detect=_detect, read=_read, write=_write,
    confidence=STRONG, coverage=_coverage,
    keeps=frozenset({"masks", "holes", "parts", "overlaps", "crowd"}),
    writes="`masks/<image>/<n>_<class>.png` per instance, `labels/<image>.png` (16-bit) per "
           "image, `classes.csv`, `images/`", tools="napari, Cellpose, your own scripts",
    report="instances, pixels claimed twice, the instances a label image hides (counted, the "
           "first five named, all listed in `hidden_in_label_images.csv` with the mask that "
           "keeps each; `masks/` keeps them)"))
