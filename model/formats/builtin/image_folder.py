"""Images without annotations: one image file, or a folder of them (recursive, in
natural order). What a folder is when no other format recognises it."""
from __future__ import annotations

from model.data.annotations import Dataset
from model.data.images import is_image_file
from model.formats.registry import FALLBACK, FOLDER, SURE, Format, Source, register


def _detect(src: Source) -> float | None:
    return FALLBACK if src.is_dir else SURE


def _read(src: Source) -> Dataset:
    if not src.is_dir:
        return Dataset.from_image_paths([src.path], src.path.parent)
    for p in src.box.refused:  # annotation files detection passed over behind links: said
        src.box.allows(p)
    return Dataset.from_folder(src.path, follow_symlinks=src.follow_symlinks)


register(Format(
    "images", "images", "images alone: an image file, or a folder of them (recursive)",
    FOLDER, order=80, takes_file=is_image_file, file_hint="an image", detect=_detect,
    read=_read, confidence=SURE))
