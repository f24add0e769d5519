"""`main.py export` and File > Export: any dataset MaskLoop reads, written as COCO (RLE,
lossless polygons, polygons only), YOLO-seg, labelme or mask PNGs. Each writer reports
what changed: pixel-identical masks for the lossless ones, the mask IoU and the holes
bridged for the polygon-only ones."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.data import masks as M
from model.data.annotations import Dataset
from model.data.coco import save_dataset
from model.data.images import check_pixels
from model.errors import ImageReadError
from model.formats.report import nothing_readable
from model.formats.report import DEFAULT_TOLERANCE

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
    warnings: list[str] = field(default_factory=list)  # one per thing left out, naming it


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


def _coco(ds: Dataset, out: Path, fmt: str) -> ExportResult:
    check = RoundTrip()
    short = fmt.removeprefix("coco-")
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


def usable_images(ds: Dataset) -> tuple[Dataset, list[str]]:
    """(ds, or a view of it without the images whose size cannot be known, the ones the
    readers said they skipped, and those over the pixel limit, which no MaskLoop reader
    takes back; a warning per image left out). The view shares records
    and instances with ds (ids are given first, from ds's own counter), so an export
    from the app changes nothing of the open document."""
    skipped, kept = [], []
    for rec in ds.images:
        try:
            ds.ensure_size(rec)
        except ImageReadError as e:
            skipped.append(f"{rec.file_name}: skipped, the image cannot be read ({e.reason})")
            continue
        try:  # MaskLoop reads no image past the limit back, nor does a COCO file hold it
            check_pixels(rec.file_name, (rec.width, rec.height))
        except ImageReadError as e:
            skipped.append(f"{rec.file_name}: skipped, the {e.reason}")
            continue
        kept.append(rec)
    if not skipped:
        return ds, []
    if not kept:
        raise nothing_readable(skipped)
    for rec in kept:
        for inst in rec.instances:
            if inst.id is None:
                inst.id = ds.new_annotation_id()
    view = Dataset(ds.categories, kept, ds.image_root, path=ds.path, extra=ds.extra)
    view.key_order, view.follow_symlinks = ds.key_order, ds.follow_symlinks
    view.source_format = ds.source_format
    return view, skipped


def export(ds: Dataset, out: Path | str, fmt: str, tolerance: float = DEFAULT_TOLERANCE
           ) -> ExportResult:
    """Write ds to out (a file for COCO, a folder for the others). An image that cannot
    be read is left out and named; a folder is written whole or not at all, only inside
    `out`, and only over an earlier export (folder.FolderExport)."""
    fmt = ALIASES.get(fmt, fmt)
    out = Path(out)
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    ds, skipped = usable_images(ds)
    if fmt in ("coco-rle", "coco-polygon"):
        res = _coco(ds, out, fmt)
    else:
        if fmt == "coco-polygon-only":
            from model.formats.coco_polygon_only import write_polygon_only
            report = write_polygon_only(ds, out, tolerance)
        elif fmt == "yolo-seg":
            from model.formats.yolo import write_yolo
            report = write_yolo(ds, out, tolerance)
        elif fmt == "labelme":
            from model.formats.labelme import write_labelme
            report = write_labelme(ds, out, tolerance)
        else:
            from model.formats.mask_pngs import write_masks
            report = write_masks(ds, out)
        res = ExportResult([f"wrote {out} ({fmt}): {report.summary()}"],
                           warnings=list(report.warnings))
    if skipped:
        res.lines.append(f"skipped {len(skipped)} image(s) that cannot be read or are over "
                         "the pixel limit (named in the warnings); everything else was written")
    res.warnings = skipped + res.warnings
    return res
