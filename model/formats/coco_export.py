"""The lossless COCO writers (coco-rle, coco-polygon): the dataset saved whole through
model.data.coco, every mask checked as it is written, and the report of what changed."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from model.data import masks as M
from model.data.annotations import Dataset
from model.data.coco import save_dataset
from model.formats.export import ExportResult


class RoundTrip:
    """Export's check, one annotation at a time as it is written: does the written
    segmentation decode to the mask it came from? Nothing is kept but a count.

    A decoded mask (edited, or converted to polygons) is compared run for run, and so
    is an uncompressed RLE made compressed. A polygon made RLE is pycocotools' own
    rasterisation of it, the very definition of its mask, so it needs no second one;
    the writer's own validation has checked its size and run lengths.
    """

    def __init__(self):
        self.exact, self.differ, self.box_only = 0, [], 0

    def __call__(self, inst, rec, ann) -> None:
        if inst.box_only and not inst.edited:
            self.box_only += 1  # no mask to compare: the box is written as it came
            return
        h, w = rec.height, rec.width
        seg = ann.get("segmentation")
        original = inst.original.get("segmentation") if inst.original is not None else None
        if seg is original or (inst.is_lazy and isinstance(original, list)):
            same = True
        elif inst.is_lazy:
            same = np.array_equal(M.segmentation_counts(seg, h, w),
                                  M.segmentation_counts(original, h, w))
        else:
            same = np.array_equal(
                M.segmentation_counts(seg, h, w),
                np.asarray(M.rle_counts_from_crop(inst.mask, inst.offset, h, w)))
        if same:
            self.exact += 1
        else:
            self.differ.append(inst.id)


def write_coco(ds: Dataset, out: Path, short: str) -> ExportResult:
    """ds as one COCO file, its masks as `short` ("rle" or "polygon"), each checked."""
    check = RoundTrip()
    report = save_dataset(ds, out, short, convert_all=True, check=check)
    n = report.annotations - report.box_only  # those with a mask
    res = ExportResult([f"wrote {out}: {len(ds.images)} image(s), {report.annotations} "
                        f"annotation(s) ({report.rle} RLE, {report.polygon} polygon, "
                        f"{report.unchanged - report.box_only} already in {short} and left as "
                        "they were)"])
    if report.box_only:
        res.lines.append(f"box-only: {report.box_only} annotation(s) have a box and no mask "
                         "(no or an empty segmentation); kept as boxes (predict --from-boxes "
                         "gives them masks)")
    if short == "polygon":
        kept = (report.kept_rle_hole + report.kept_rle_crowd + report.kept_rle_shape
                + report.kept_rle_complex)
        if kept:
            res.lines.append(f"kept as RLE: {report.kept_rle_hole} with holes, "
                             f"{report.kept_rle_crowd} crowd, {report.kept_rle_shape} no polygon "
                             f"reproduces pixel for pixel, {report.kept_rle_complex} outline too "
                             "long (coco-polygon-only turns them into polygons too)")
    res.lines.append(f"round trip: {check.exact}/{n} masks pixel-identical")
    if check.exact != n:
        res.lines.append(f"the round trip changed annotation(s) {check.differ[:10]}; "
                         "please report this")
        res.failed = True
    return res
