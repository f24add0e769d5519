"""Cityscapes (gtFine/): recognised, not read; the refusal says how to convert it
(layouts.refusal)."""
from __future__ import annotations

from model.formats.layouts import below, refusal
from model.formats.registry import FOLDER, REFUSED, Format, Source, register


def _detect(src: Source) -> float | None:
    return REFUSED if src.is_dir and below(src.path, "gtFine") else None


def _refusal(src: Source) -> Exception:
    return refusal(src.path, below(src.path, "gtFine"), "Cityscapes", "cityscapes")


register(Format(
    "cityscapes", "Cityscapes", "Cityscapes (gtFine/): not read; convert it to COCO", FOLDER,
    order=93, confidence=REFUSED, detect=_detect, refusal=_refusal))
