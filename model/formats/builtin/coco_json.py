"""COCO: read from a .json file or from a folder that holds one (the annotations.json a
save wrote, or the annotations/instances_<subset>.json of CVAT's, Datumaro's and
MMDetection's layouts); written as RLE, as lossless polygons, or as polygons only."""
from __future__ import annotations

from pathlib import Path

from model.data.annotations import Dataset
from model.errors import CocoFormatError
from model.formats.layouts import (DEFAULT_ANNOTATIONS, coco_files, coco_image_root,
                                   image_root_candidates, several_coco_files)
from model.formats.registry import (ASPECTS, FALLBACK, FILE, FOLDER, LIKELY, SURE, Format,
                                    Source, readers, register)
from model.text import joined


def coco_in_folder(src: Source) -> Path | None:
    """The COCO file a folder holds: the annotations.json an earlier save wrote (unless
    use_saved_annotations is False), else the one annotations/instances_*.json of
    CVAT's, Datumaro's or MMDetection's layout (FormatError when there are several)."""
    saved = src.path / DEFAULT_ANNOTATIONS
    if src.use_saved_annotations and saved.is_file() and src.box.allows(saved):
        return saved
    found = coco_files(src.path, src.box)
    if len(found) > 1:
        raise several_coco_files(src.path, found)
    return found[0] if found else None


def _detect(src: Source) -> float | None:
    if src.is_dir:
        return SURE if coco_in_folder(src) is not None else None
    data = src.json()
    if isinstance(data, dict) and "images" in data:
        return SURE
    if isinstance(data, dict) and "annotations" in data:
        return LIKELY
    return FALLBACK  # any other JSON: the reader says what it lacks


def _read(src: Source) -> Dataset:
    from model.data.coco import dataset_from_json
    if src.is_dir:
        return _read_folder(src)
    data = src.json()
    if isinstance(data, dict) and "images" not in data and "annotations" not in data:
        others = [f.title for f in readers() if f.kind == FOLDER and f.keeps]
        raise CocoFormatError(src.path, [
            "neither a COCO file (no 'images', 'annotations' and 'categories') nor a labelme "
            f"file (no 'shapes' and 'imagePath'); MaskLoop also opens folders of "
            f"{joined(others)}"])
    root = src.image_root
    if root is None:  # annotations/instances_<subset>.json: its images' folder
        root = coco_image_root(src.path, data) if image_root_candidates(src.path) else None
    return dataset_from_json(data, path=src.path, image_root=root,
                             follow_symlinks=src.follow_symlinks)


def _read_folder(src: Source) -> Dataset:
    """The COCO file a folder holds (coco_in_folder), its images where its file names
    resolve (a layout's images/<subset>/) unless --images names the folder."""
    from model.data.coco import dataset_from_json
    from model.data.coco_validate import read_json
    found = coco_in_folder(src)
    if found is None:
        raise FileNotFoundError(f"{src.path / DEFAULT_ANNOTATIONS}: no such file (--format-in "
                                "coco reads a folder's annotations.json, or the "
                                "annotations/instances_*.json of CVAT's and Datumaro's COCO)")
    data = read_json(found)
    root = src.image_root
    if root is None and found.name != DEFAULT_ANNOTATIONS:
        candidates = [c for c in image_root_candidates(found) if c.is_dir()]
        root = coco_image_root(found, data) or (candidates[0] if candidates else src.path)
    return dataset_from_json(data, path=found, image_root=root,
                             follow_symlinks=src.follow_symlinks)


def _write_rle(ds: Dataset, out: Path, _tolerance: float):
    from model.formats.coco_export import write_coco
    return write_coco(ds, out, "rle")


def _write_polygon(ds: Dataset, out: Path, _tolerance: float):
    from model.formats.coco_export import write_coco
    return write_coco(ds, out, "polygon")


def _write_polygon_only(ds: Dataset, out: Path, tolerance: float):
    from model.formats.coco_polygon_only import write_polygon_only
    from model.formats.export import reported
    return reported(out, "coco-polygon-only", write_polygon_only(ds, out, tolerance))


def _json_file(path: Path) -> bool:
    return path.suffix.lower() == ".json"


EVERYTHING = frozenset(ASPECTS)

register(Format(
    "coco", "COCO", "COCO: a .json file, or a folder holding annotations.json or "
    "annotations/instances_*.json", FILE, order=0, takes_file=_json_file,
    file_hint="a COCO .json file", detect=_detect, read=_read, confidence=SURE,
    keeps=EVERYTHING))
register(Format(
    "coco-rle", "COCO (RLE)", "COCO, masks as compressed RLE (lossless)", FILE, order=10,
    aliases=("rle",), write=_write_rle, keeps=EVERYTHING, suffix=".json",
    writes="COCO, masks as compressed RLE", tools="pycocotools, torchvision, FiftyOne",
    report="masks pixel-identical (checked)"))
register(Format(
    "coco-polygon", "COCO (polygons)", "COCO, polygons where they reproduce the mask pixel "
    "for pixel, RLE for the rest: holes, crowd (lossless)", FILE, order=20,
    aliases=("polygon",), write=_write_polygon, keeps=EVERYTHING, suffix=".json",
    writes="COCO, polygons where they reproduce the mask pixel for pixel, RLE for the rest "
           "(holes, crowd)", tools="detectron2 with RLE support",
    report="masks pixel-identical (checked)"))
register(Format(
    "coco-polygon-only", "COCO (polygons only)", "COCO, polygons only (holes bridged, crowd "
    "dropped): Label Studio, X-AnyLabeling, detectron2's polygon loader", FILE, order=30,
    write=_write_polygon_only, polygons=True, keeps=EVERYTHING - {"crowd"}, suffix=".json",
    writes="COCO, one polygon per instance: parts joined and holes cut in with zero-width "
           "bridges, crowd regions dropped",
    tools="Label Studio, X-AnyLabeling, detectron2's default (polygon) loader",
    report="mean and worst mask IoU, holes bridged, parts joined, crowd dropped"))
