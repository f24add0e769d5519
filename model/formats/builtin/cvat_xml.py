"""CVAT's XML export (annotations.xml): recognised, not read; the refusal says how to
convert it (layouts.refusal)."""
from __future__ import annotations

from model.formats.layouts import cvat_xml, refusal
from model.formats.registry import FOLDER, REFUSED, Format, Source, register


def _detect(src: Source) -> float | None:
    return REFUSED if src.is_dir and cvat_xml(src.path, src.box) else None


def _refusal(src: Source) -> Exception:
    return refusal(src.path, cvat_xml(src.path, src.box), "CVAT XML", "cvat")


register(Format(
    "cvat-xml", "CVAT XML", "CVAT's XML export (annotations.xml): not read; convert it to COCO",
    FOLDER, order=90, confidence=REFUSED, detect=_detect, refusal=_refusal))
