"""Label images (napari's and Cellpose's habit): labels/<image>.png|.tif, one integer per
instance; read by model/formats/mask_pngs.py (the masks export writes them too)."""
from __future__ import annotations

from model.data.annotations import Dataset
from model.formats.registry import FOLDER, STRONG, Format, Source, register


def _detect(src: Source) -> float | None:
    """Label images in labels/; beside masks/ they are MaskLoop's own mask export, which
    the per-instance masks hold whole."""
    from model.formats.mask_pngs import has_label_images, has_mask_pngs
    if src.is_dir and has_label_images(src.path) and not has_mask_pngs(src.path):
        return STRONG
    return None


def _coverage(src: Source) -> int:
    from model.formats.mask_pngs import MASK_EXTENSIONS
    return sum(1 for p in (src.path / "labels").iterdir()
               if p.is_file() and p.suffix.lower() in MASK_EXTENSIONS)


def _read(src: Source) -> Dataset:
    from model.formats.mask_pngs import read_masks
    return read_masks(src.path, "labels", src.follow_symlinks)


register(Format(
    "labels", "label images", "label images: labels/<image>.png|.tif, one integer per "
    "instance, classes in classes.csv", FOLDER, order=70, detect=_detect, read=_read,
    confidence=STRONG, coverage=_coverage, keeps=frozenset({"masks", "holes", "parts"})))
