"""The images of a folder export, placed under their output names, and the error of an
export none of whose images can be read."""
from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from model.data.annotations import Dataset
from model.data.images import is_image_file
from model.errors import ImageReadError
from model.formats.names import OutputName

if TYPE_CHECKING:
    from model.formats.folder import FolderExport


def nothing_readable(skipped: list[str]) -> RuntimeError:
    """The error of an export none of whose images could be read (exit 1): it names the
    first and counts the rest, and nothing is written."""
    return RuntimeError(f"no image could be read, so nothing was written ({skipped[0]}"
                        + (f", and {len(skipped) - 1} more" if len(skipped) > 1 else "")
                        + ")")


def copy_images(ds: Dataset, folder: "FolderExport", names: dict[int, OutputName],
                warnings: list[str], under: str = "images") -> int:
    """Every image into the export (below `under`) under its output name; one that
    cannot be opened (missing, or outside the dataset's folder) is named in `warnings`
    and left out (its annotations are still written). When there were images and none
    could be copied, nothing_readable is raised: the export is not written at all.
    Returns how many were left out. Writers call it first, before the slow part."""
    missing, unfound = [], []
    for rec in ds.images:
        rel = PurePosixPath(under) / names[rec.id].image
        try:
            folder.place_image(ds.image_path(rec), rel)
        except ImageReadError as e:  # only the source: a failed write fails the export
            missing.append(f"{rec.file_name}: image not copied ({e.reason})")
            continue
        if under and not is_image_file(rel):  # a format its bytes did not name
            unfound.append(f"{rec.file_name}: copied as {rel}, without an image extension, "
                           "so readers of this folder (MaskLoop's too) will not find it")
    if missing and len(missing) == len(ds.images):
        raise nothing_readable(missing)
    warnings += missing + unfound
    return len(missing)
