"""Pascal VOC (SegmentationObject/, or Annotations/*.xml; also under VOCdevkit/VOC2012/):
recognised, not read; the refusal says how to convert it (layouts.refusal)."""
from __future__ import annotations

from pathlib import Path

from model.formats.layouts import below, refusal
from model.formats.registry import FOLDER, REFUSED, Format, Source, register


def _found(src: Source) -> tuple[str, Path] | None:
    """(what, the folder that says so): instance masks, else boxes in XML."""
    seg = below(src.path, "SegmentationObject")
    if seg is not None:
        return "Pascal VOC instance segmentation", seg
    ann = below(src.path, "Annotations")
    if ann is not None and any(ann.glob("*.xml")):
        return "Pascal VOC", ann
    return None


def _detect(src: Source) -> float | None:
    found = _found(src) if src.is_dir else None
    if found is None:
        return None
    # boxes in XML are a weaker sign than instance masks: Cityscapes' gtFine/ goes first
    return REFUSED if found[0].endswith("segmentation") else REFUSED - 0.05


def _refusal(src: Source) -> Exception:
    what, where = _found(src)
    return refusal(src.path, where, what, "voc")


register(Format(
    "voc", "Pascal VOC", "Pascal VOC (SegmentationObject/ or Annotations/*.xml): not read; "
    "convert it to COCO", FOLDER, order=92, confidence=REFUSED, detect=_detect,
    refusal=_refusal))
