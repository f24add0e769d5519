"""`main.py export` and File > Export: any dataset MaskLoop reads, written in a format the
registry writes (registry.writers(): COCO as RLE, lossless polygons or polygons only,
YOLO-seg, labelme, mask PNGs). Each writer reports what changed: pixel-identical masks
for the lossless ones, the mask IoU and the holes bridged for the polygon-only ones."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from model.data.annotations import Dataset
from model.data.images import check_pixels
from model.errors import ImageReadError
from model.formats import registry
from model.formats.export_images import nothing_readable
from model.formats.writer_reports import DEFAULT_TOLERANCE

DEFAULT_FORMAT = "coco-rle"  # lossless, and what every COCO tool reads


@dataclass
class ExportResult:
    lines: list[str] = field(default_factory=list)
    failed: bool = False  # the lossless round trip changed a mask: a bug to report
    warnings: list[str] = field(default_factory=list)  # one per thing left out, naming it


def reported(out: Path, name: str, report) -> ExportResult:
    """The result of a writer that returns a report (writer_reports.PolygonReport,
    MasksReport): its summary line, and its warnings."""
    return ExportResult([f"wrote {out} ({name}): {report.summary()}"],
                        warnings=list(report.warnings))


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
    """Write ds to out (a file or a folder, as the format's kind says). An image that
    cannot be read is left out and named; a folder is written whole or not at all, only
    inside `out`, and only over an earlier export (folder.FolderExport)."""
    writer = registry.writer(fmt)  # ValueError naming the formats
    out = Path(out)
    ds, skipped = usable_images(ds)
    res = writer.write(ds, out, tolerance)
    if skipped:
        res.lines.append(f"skipped {len(skipped)} image(s) that cannot be read or are over "
                         "the pixel limit (named in the warnings); everything else was written")
    res.warnings = skipped + res.warnings
    return res
