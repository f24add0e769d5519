"""COCO with polygons only, for the readers that take nothing else: Label Studio's and
X-AnyLabeling's COCO importers, detectron2's default (polygon) loader.

Every mask becomes ONE polygon (polygon_conversion.instance_polygon): Label Studio's importer reads
`segmentation[0]` only, and a mask drawn as one polygon often rasterises to several
pieces (a thin neck, a one-pixel speck), which as separate polygons lost it whatever
came after the first (on coco_sample 10 of 72 single-polygon masks, one reading IoU
0.000). Its parts are joined and its holes cut in with zero-width bridges, so even-odd
and winding rasterisers both leave holes empty and take every part. A part is left out
only where each of its pixels lies within --tolerance px of the rest (counted). Crowd
regions (which COCO can only express as RLE) are dropped; a box without a mask stays a
box-only annotation, as it came. The mask each annotation now stands for is
pycocotools' rasterisation of its polygon, and the report says how far that is from the
mask it came from.
"""
from __future__ import annotations

from pathlib import Path

from pycocotools import mask as mask_utils

from model.data.annotations import Dataset, ImageRecord, Instance
from model.data.coco import save_dataset
from model.formats.polygon_conversion import (converted, instance_polygon, polygons_iou,
                                              polygons_rle)
from model.formats.writer_reports import DEFAULT_TOLERANCE, PolygonReport


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
    def measured(mask, offset):
        one = instance_polygon(mask, offset, tolerance)
        if one is None:
            return None, None, 0.0
        rle = polygons_rle([one.polygon], h, w)
        return one, rle, polygons_iou([one.polygon], mask, offset, h, w)
    got = converted(inst, rec.file_name, report, measured)
    if got is None:  # too complex: named in the report
        return None
    one, rle, iou = got
    if one is None:
        report.lost += 1
        return None
    polys = [one.polygon]
    report.add(iou, 1, one.holes_bridged)
    report.parts_joined += one.parts_joined
    report.fragments_dropped += one.fragments_dropped
    ann = dict(inst.original) if inst.original else {}
    ann.update(id=inst.id, image_id=rec.id, category_id=inst.category_id,
               segmentation=polys, area=float(mask_utils.area(rle)),
               bbox=[float(v) for v in mask_utils.toBbox(rle)], iscrowd=0)
    return Instance.from_annotation(_provenance(ann, inst), h, w)


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
