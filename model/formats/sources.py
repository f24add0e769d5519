"""Turn what a user points at (an image, a folder, a COCO file, another tool's
annotations) into a Dataset."""
from __future__ import annotations

from pathlib import Path

from model.data.annotations import Dataset
from model.formats.detect import open_any


def open_path(path: Path | str, image_root: Path | str | None = None,
              use_saved_annotations: bool = True, follow_symlinks: bool = False,
              crowd_as_instances: bool = False, format_in: str | None = None,
              rectangles_as_boxes: bool = False) -> Dataset:
    """An image, a folder of images (recursive, naturally sorted), a COCO JSON file, or
    any other format the registry reads (labelme, YOLO-seg, mask PNGs, label images),
    told from the files.

    A folder that already holds the `annotations.json` an earlier save wrote opens
    that dataset, unless use_saved_annotations is False. Symbolic links that lead out
    of the image folder are refused unless follow_symlinks. crowd_as_instances makes
    every crowd annotation an ordinary instance (CVAT's brush masks). format_in names
    the format (one of registry.readers()) instead; rectangles_as_boxes reads labelme
    rectangles as boxes without masks (predict --from-boxes).
    """
    ds = open_any(path, image_root, use_saved_annotations, follow_symlinks, format_in,
                  rectangles_as_boxes)
    if crowd_as_instances:
        from model.formats.crowd import treat_as_instances
        treat_as_instances(ds)
    return ds
