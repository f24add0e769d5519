"""The reports the folder and polygon writers return: the CLI prints their summary line,
the app shows it, tests assert on their counts."""
from __future__ import annotations

from dataclasses import dataclass, field

from model.text import plural

# --tolerance's default for the polygon-only formats: unsimplified, so every reader gets the
# mask back pixel for pixel (by its own rule) unless asked otherwise. At 0.5 px polygons have
# about a third of the vertices, at a cost: on nuclei the worst mask read back had IoU 0.800
# (coco-polygon-only) and the YOLO tools read a mean of 0.989 (bench/RESULTS.md).
DEFAULT_TOLERANCE = 0.0


@dataclass
class PolygonReport:
    """How masks fared as polygons: pycocotools' rasterisation of what was written,
    against the mask it came from, per instance."""
    instances: int = 0  # converted and measured
    polygons: int = 0
    holes_bridged: int = 0
    crowd_dropped: int = 0  # the format cannot hold them
    crowd_kept: int = 0  # written as the format's ignore regions (labelme's __ignore__)
    lost: int = 0  # nothing left as a polygon (an empty or box-only instance)
    box_only: int = 0  # a box without a mask, kept as such (polygon-only COCO)
    complex: int = 0  # left out: polygons too large to build or use (polygons.TooComplex)
    parts_joined: int = 0  # parts bridged into their instance's one polygon
    fragments_dropped: int = 0  # parts left out, every pixel within --tolerance of the rest
    images: int = 0
    iou_sum: float = 0.0
    worst_iou: float = 1.0
    warnings: list[str] = field(default_factory=list)

    def add(self, iou: float, polygons: int = 1, holes_bridged: int = 0) -> None:
        self.instances += 1
        self.polygons += polygons
        self.holes_bridged += holes_bridged
        self.iou_sum += iou
        self.worst_iou = min(self.worst_iou, iou)

    def too_complex(self, file_name: str, inst_id, why: str) -> None:
        self.complex += 1
        self.warnings.append(f"{file_name}: instance {inst_id} left out: {why}")

    @property
    def mean_iou(self) -> float:
        return self.iou_sum / self.instances if self.instances else 1.0

    def summary(self) -> str:
        parts = [f"{plural(self.instances, 'instance')} as {plural(self.polygons, 'polygon')}",
                 f"{plural(self.holes_bridged, 'hole')} bridged"]
        if self.parts_joined:
            parts.append(f"{plural(self.parts_joined, 'part')} joined into their instance's "
                         "polygon")
        if self.fragments_dropped:
            parts.append(f"{plural(self.fragments_dropped, 'fragment')} within the tolerance "
                         "dropped")
        if self.instances:
            parts.append(f"mean mask IoU {self.mean_iou:.3f}, worst {self.worst_iou:.3f}")
        if self.crowd_dropped or not self.crowd_kept:
            parts.append(f"{plural(self.crowd_dropped, 'crowd region')} dropped")
        if self.crowd_kept:
            parts.append(f"{plural(self.crowd_kept, 'crowd region')} kept as __ignore__")
        if self.lost:
            parts.append(f"{plural(self.lost, 'instance')} without a mask (box-only or empty) "
                         "left out")
        if self.box_only:
            parts.append(f"{plural(self.box_only, 'box-only instance')} (a box, no mask) kept "
                         "as boxes")
        if self.complex:
            parts.append(f"{plural(self.complex, 'instance')} too complex for polygons left "
                         "out")
        if self.warnings:
            parts.append(plural(len(self.warnings), "warning"))
        return "; ".join(parts)


HIDDEN_FILE = "hidden_in_label_images.csv"  # a masks export's list of what label images lose


@dataclass
class MasksReport:
    """What the mask PNGs hold: every instance exactly; the label images lose the
    pixels several instances claim (each goes to the later one) and the crowd regions."""
    images: int = 0
    instances: int = 0
    crowd: int = 0
    overlaps: int = 0  # pixels claimed by more than one (non-crowd) instance
    hidden: list[str] = field(default_factory=list)  # instances no label-image pixel shows
    # the same, as HIDDEN_FILE's rows: (image key, label, class, annotation id, mask file)
    hidden_rows: list[tuple] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{plural(self.images, 'image')}, {plural(self.instances, 'instance mask')}"
                 f" ({self.crowd} crowd)",
                 f"{plural(self.overlaps, 'pixel')} claimed by several instances (the label "
                 "images give each to the later one; masks/ keeps them all)"]
        if self.hidden:
            shown = ", ".join(self.hidden[:5]) + (f" and {len(self.hidden) - 5} more"
                                                  if len(self.hidden) > 5 else "")
            parts.append(f"{plural(len(self.hidden), 'instance')} entirely covered by later "
                         f"ones, so missing from the label images (masks/ keeps them; "
                         f"{HIDDEN_FILE} lists them all): {shown}")
        if self.warnings:
            parts.append(plural(len(self.warnings), "warning"))
        return "; ".join(parts)
