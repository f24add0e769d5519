"""Datumaro's own JSON (annotations/*.json with `items`): recognised, not read; the
refusal says how to convert it (layouts.refusal)."""
from __future__ import annotations

from model.formats.layouts import datumaro_json, refusal
from model.formats.registry import FOLDER, REFUSED, Format, Source, register


def _detect(src: Source) -> float | None:
    return REFUSED if src.is_dir and datumaro_json(src.path, src.box) else None


def _refusal(src: Source) -> Exception:
    return refusal(src.path, datumaro_json(src.path, src.box), "Datumaro JSON", "datumaro")


register(Format(
    "datumaro", "Datumaro JSON", "Datumaro's own JSON (annotations/*.json with items): not "
    "read; convert it to COCO", FOLDER, order=91, confidence=REFUSED, detect=_detect,
    refusal=_refusal))
