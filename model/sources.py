"""Turn what a user points at (an image, a folder, a COCO file) into a Dataset."""
from __future__ import annotations

from pathlib import Path

from .annotations import Dataset
from .coco import load_dataset
from .images import ImageReadError, is_image_file

DEFAULT_ANNOTATIONS = "annotations.json"


def open_path(path: Path | str, image_root: Path | str | None = None,
              use_saved_annotations: bool = True, follow_symlinks: bool = False) -> Dataset:
    """An image, a folder of images (recursive, sorted) or a COCO JSON file.

    A folder that already holds the `annotations.json` an earlier save wrote
    opens that dataset, unless use_saved_annotations is False. Symbolic links that
    lead out of the image folder are refused unless follow_symlinks.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_dir():
        saved = path / DEFAULT_ANNOTATIONS
        if use_saved_annotations and saved.is_file():
            ds = load_dataset(saved, image_root)
        else:
            return Dataset.from_folder(path, follow_symlinks=follow_symlinks)
    elif path.suffix.lower() == ".json":
        ds = load_dataset(path, image_root)
    elif is_image_file(path):
        ds = Dataset.from_image_paths([path], path.parent)
    else:
        raise ImageReadError(path, "not an image, a folder or a COCO .json file")
    ds.follow_symlinks = follow_symlinks
    return ds
