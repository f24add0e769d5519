"""COCO with polygons only, for the readers that take nothing else: Label Studio's and
X-AnyLabeling's COCO importers, detectron2's default (polygon) loader.

Every mask becomes polygons, one per connected part; a hole is cut into its outer
ring with a zero-width bridge, so even-odd and winding rasterisers both leave it
empty. Crowd regions (which COCO can only express as RLE) are dropped; a box without a
mask stays a box-only annotation, as it came. The mask
each annotation now stands for is pycocotools' rasterisation of its polygons, and the
report says how far that is from the mask it came from.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from ..annotations import Dataset, ImageRecord, Instance
from ..coco import save_dataset
from .bridge import mask_to_polygons
from .report import PolygonReport

DEFAULT_TOLERANCE = 0.5  # pixels


def polygon_annotation(inst: Instance, rec: ImageRecord, tolerance: float,
                       report: PolygonReport) -> Instance | None:
    """The instance as a polygon-only annotation (everything else as it was), or None
    when nothing of it survives as a polygon."""
    h, w = rec.height, rec.width
    if inst.box_only and not inst.edited:  # a box without a mask: COCO allows it, kept so
        report.box_only += 1
        ann = dict(inst.original)
        ann.update(id=inst.id, image_id=rec.id, category_id=inst.category_id,
                   iscrowd=int(inst.iscrowd))
        return Instance.from_annotation(_provenance(ann, inst), h, w)
    polys, bridged = mask_to_polygons(inst.mask, inst.offset, tolerance)
    if not polys:
        report.lost += 1
        return None
    rle = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
    truth = mask_utils.encode(np.asfortranarray(inst.full_mask(h, w).astype(np.uint8)))
    iou = float(mask_utils.iou([rle], [truth], [0])[0][0])
    report.add(iou, len(polys), bridged)
    ann = dict(inst.original) if inst.original else {}
    ann.update(id=inst.id, image_id=rec.id, category_id=inst.category_id,
               segmentation=polys, area=float(mask_utils.area(rle)),
               bbox=[float(v) for v in mask_utils.toBbox(rle)], iscrowd=0)
    out = Instance.from_annotation(_provenance(ann, inst), h, w)
    if inst.is_lazy:
        inst.forget_mask()
    return out


def _provenance(ann: dict, inst: Instance) -> dict:
    """ann with the instance's score, and its source/review/model where they changed."""
    if inst.score is not None:
        ann["score"] = inst.score
    if inst.provenance_changed or inst.original is None:
        ann.update(source=inst.source, review=inst.review)
        if inst.model is not None:
            ann["model"] = inst.model
    return ann


def polygon_only_dataset(ds: Dataset, tolerance: float = DEFAULT_TOLERANCE
                         ) -> tuple[Dataset, PolygonReport]:
    """A copy of the dataset whose annotations are polygons written as they are."""
    report = PolygonReport()
    images = []
    for rec in ds.images:
        ds.ensure_size(rec)
        copy = ImageRecord(rec.id, rec.file_name, rec.width, rec.height, status=rec.status,
                           extra=rec.extra)
        for inst in rec.instances:
            if inst.id is None:
                inst.id = ds.new_annotation_id()
            if inst.iscrowd:
                report.crowd_dropped += 1
                continue
            got = polygon_annotation(inst, rec, tolerance, report)
            if got is not None:
                copy.instances.append(got)
        images.append(copy)
    out = Dataset(ds.categories, images, ds.image_root, extra=ds.extra)
    out.key_order = ds.key_order
    return out, report


def write_polygon_only(ds: Dataset, out: Path, tolerance: float = DEFAULT_TOLERANCE
                       ) -> PolygonReport:
    poly, report = polygon_only_dataset(ds, tolerance)
    save_dataset(poly, out)
    return report
