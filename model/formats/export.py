"""`main.py export` and File > Export: any dataset MaskLoop reads, written as COCO (RLE,
lossless polygons, polygons only), YOLO-seg, labelme or mask PNGs. Each writer reports
what changed: pixel-identical masks for the lossless ones, the mask IoU and the holes
bridged for the polygon-only ones."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import masks as M
from ..annotations import Dataset
from ..coco import save_dataset

EXPORT_FORMATS = ("coco-rle", "coco-polygon", "coco-polygon-only", "yolo-seg", "labelme",
                  "masks")
ALIASES = {"rle": "coco-rle", "polygon": "coco-polygon"}  # the names of earlier versions
FOLDER_FORMATS = ("yolo-seg", "labelme", "masks")  # --out is a folder
DESCRIPTIONS = {
    "coco-rle": "COCO, masks as compressed RLE (lossless)",
    "coco-polygon": "COCO, polygons where they reproduce the mask pixel for pixel, RLE for "
                    "the rest: holes, crowd (lossless)",
    "coco-polygon-only": "COCO, polygons only (holes bridged, crowd dropped): Label Studio, "
                         "X-AnyLabeling, detectron2's polygon loader",
    "yolo-seg": "YOLO-seg: images/, labels/*.txt and data.yaml (Ultralytics)",
    "labelme": "labelme: one JSON per image, polygons",
    "masks": "mask PNGs: masks/<image>/<n>_<class>.png and a 16-bit label image per image",
}


@dataclass
class ExportResult:
    lines: list[str] = field(default_factory=list)
    failed: bool = False  # the lossless round trip changed a mask: a bug to report


class RoundTrip:
    """Export's check, one annotation at a time as it is written: does the written
    segmentation decode to the mask it came from? Nothing is kept but a count.

    A decoded mask (edited, or converted to polygons) is compared run for run, and so
    is an uncompressed RLE made compressed. A polygon made RLE is pycocotools' own
    rasterisation of it, the very definition of its mask, so it needs no second one;
    the writer's own validation has checked its size and run lengths.
    """

    def __init__(self):
        self.exact, self.differ = 0, []

    def __call__(self, inst, rec, ann) -> None:
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


def _coco(ds: Dataset, out: Path, fmt: str) -> ExportResult:
    check = RoundTrip()
    short = fmt.removeprefix("coco-")
    report = save_dataset(ds, out, short, convert_all=True, check=check)
    n = report.annotations
    res = ExportResult([f"wrote {out}: {len(ds.images)} image(s), {n} annotation(s) "
                        f"({report.rle} RLE, {report.polygon} polygon, {report.unchanged} "
                        f"already in {short} and left as they were)"])
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


def export(ds: Dataset, out: Path | str, fmt: str, tolerance: float = 0.5) -> ExportResult:
    """Write ds to out (a file for COCO, a folder for the others)."""
    fmt = ALIASES.get(fmt, fmt)
    out = Path(out)
    if fmt in ("coco-rle", "coco-polygon"):
        return _coco(ds, out, fmt)
    if fmt == "coco-polygon-only":
        from .coco_polygon_only import write_polygon_only
        report = write_polygon_only(ds, out, tolerance)
    elif fmt == "yolo-seg":
        from .yolo import write_yolo
        report = write_yolo(ds, out, tolerance)
    elif fmt == "labelme":
        from .labelme import write_labelme
        report = write_labelme(ds, out, tolerance)
    elif fmt == "masks":
        from .mask_pngs import write_masks
        report = write_masks(ds, out)
    else:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    return ExportResult([f"wrote {out} ({fmt}): {report.summary()}"])
