"""Turn what a user points at (an image, a folder, a COCO file) into a Dataset."""
from __future__ import annotations

from pathlib import Path

from .annotations import Dataset
from .coco import load_dataset
from .images import ImageReadError, is_image_file

DEFAULT_ANNOTATIONS = "annotations.json"


def open_path(path: Path | str, image_root: Path | str | None = None,
              use_saved_annotations: bool = True) -> Dataset:
    """An image, a folder of images (recursive, sorted) or a COCO JSON file.

    A folder that already holds the `annotations.json` an earlier save wrote
    opens that dataset, unless use_saved_annotations is False.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_dir():
        saved = path / DEFAULT_ANNOTATIONS
        if use_saved_annotations and saved.is_file():
            return load_dataset(saved, image_root)
        return Dataset.from_folder(path)
    if path.suffix.lower() == ".json":
        return load_dataset(path, image_root)
    if is_image_file(path):
        return Dataset.from_image_paths([path], path.parent)
    raise ImageReadError(path, "not an image, a folder or a COCO .json file")
